package netpath

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/ecdata/ectool/diag/report"
)

// resolver is one DNS server the step asks.
type resolver struct {
	addr  string // ip:port
	bound bool   // asked through Options.Iface
}

// resolverSet is who the DNS step asks, and why them.
type resolverSet struct {
	servers []resolver
	source  string   // where the list came from
	notes   []string // what a technician should know about the list
	system  bool     // no list: ask the system's resolver
}

// ParseResolver reads a --dns value: an IP address, with an optional port
// (1.1.1.1, 1.1.1.1:5353, 2001:db8::53, [2001:db8::53]:5353). It returns
// ip:port.
func ParseResolver(s string) (string, error) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return net.JoinHostPort(a.String(), "53"), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		return "", fmt.Errorf("DNS server %q: give an IP address, optionally with a port (9.9.9.9, 9.9.9.9:53, [2001:db8::53]:53)", s)
	}
	return ap.String(), nil
}

// resolvers decides who the DNS step asks: --dns, else the resolv.conf's
// nameservers. A stub on loopback cannot be bound to an interface: with
// --iface, systemd-resolved's stub (127.0.0.53) gives way to its upstream
// servers, and any other loopback resolver is asked unbound, each said so.
func (o Options) resolvers() resolverSet {
	var rs resolverSet
	if len(o.DNS) > 0 {
		rs.source = "--dns"
		for _, d := range o.DNS {
			addr, err := ParseResolver(d)
			if err != nil {
				continue // complete() refused it already
			}
			rs.servers = append(rs.servers, o.resolverAt(addr, &rs))
		}
		return rs
	}
	b, err := os.ReadFile(o.ResolvConf)
	ns := parseNameservers(b)
	if err != nil || len(ns) == 0 {
		rs.system = true
		rs.source = "the system's resolver"
		if err != nil {
			rs.notes = append(rs.notes, fmt.Sprintf("%s cannot be read (%v): the system's resolver was asked", o.ResolvConf, shortErr(err)))
		} else {
			rs.notes = append(rs.notes, o.ResolvConf+" lists no nameserver: the system's resolver was asked")
		}
		return rs
	}
	rs.source = o.ResolvConf
	for _, a := range ns {
		if a == resolvedStub && o.Iface != "" {
			up := parseNameservers(readOrNil(o.ResolvedConf))
			if len(up) > 0 {
				rs.notes = append(rs.notes, fmt.Sprintf("127.0.0.53 is systemd-resolved's local stub, which cannot be bound to %s: its upstream servers from %s were asked instead", o.Iface, o.ResolvedConf))
				for _, u := range up {
					rs.servers = append(rs.servers, o.resolverAt(net.JoinHostPort(u.String(), "53"), &rs))
				}
				continue
			}
			rs.notes = append(rs.notes, fmt.Sprintf("127.0.0.53 is systemd-resolved's local stub, which cannot be bound to %s, and %s lists no upstream server: the stub was asked unbound", o.Iface, o.ResolvedConf))
		}
		rs.servers = append(rs.servers, o.resolverAt(net.JoinHostPort(a.String(), "53"), &rs))
	}
	return rs
}

// resolverAt is the resolver at addr, bound to Iface unless it is on
// loopback (which no other interface reaches).
func (o Options) resolverAt(addr string, rs *resolverSet) resolver {
	r := resolver{addr: addr, bound: o.Iface != ""}
	ap, err := netip.ParseAddrPort(addr)
	if err == nil && ap.Addr().IsLoopback() && o.Iface != "" {
		r.bound = false
		if ap.Addr() != resolvedStub {
			rs.notes = append(rs.notes, fmt.Sprintf("%s is a resolver on this machine's loopback, which cannot be bound to %s: it was asked unbound (what it forwards to goes out wherever it is set up to)", ap.Addr(), o.Iface))
		}
	}
	return r
}

func readOrNil(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

func shortErr(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// ResolverResult is what one resolver answered, A and AAAA asked apart
// (IPv6 and NAT64 are common on cellular, and some middleboxes drop AAAA
// queries).
type ResolverResult struct {
	Server  string    `json:"server"`
	Through string    `json:"through,omitempty"`
	A       DNSAnswer `json:"a"`
	AAAA    DNSAnswer `json:"aaaa"`
}

// checkDNS resolves the target's host: an IP needs nothing, the hosts file
// comes first (as for every program here), then every resolver is asked
// for A and AAAA at once, each query within the step's timeout.
func (r *run) checkDNS(ctx context.Context, ch *report.Check) ([]string, bool) {
	host := r.t.Host
	ch.Evidence["host"] = host
	if ip := net.ParseIP(host); ip != nil {
		ch.Evidence["addresses"] = []string{ip.String()}
		ch.Evidence["lookup"] = "not needed: the target is an IP address"
		return []string{ip.String()}, true
	}
	if addrs := lookupHosts(readOrNil(r.o.HostsFile), host); len(addrs) > 0 {
		ch.Evidence["addresses"] = addrs
		ch.Evidence["source"] = r.o.HostsFile
		ch.Evidence["lookup"] = fmt.Sprintf("%s names %s, so no DNS server is asked (every program here finds it there first)", r.o.HostsFile, host)
		return addrs, true
	}
	rs := r.resolvers
	ch.Evidence["resolvers_from"] = rs.source
	if len(rs.notes) > 0 {
		ch.Evidence["notes"] = rs.notes
	}
	if rs.system {
		if r.o.Iface != "" {
			ch.Evidence["bound"] = false
		}
		return StepSystemDNS(ctx, host, r.endpoint.role(), r.o.Timeout, ch)
	}
	results := make([]ResolverResult, len(rs.servers))
	var wg sync.WaitGroup
	for i, s := range rs.servers {
		results[i].Server = resolverLabel(s.addr)
		dial := r.dialer("")
		if s.bound {
			results[i].Through = r.o.Iface
			dial = r.dial
		}
		for _, q := range []struct {
			t   dnsmessage.Type
			out *DNSAnswer
		}{{dnsmessage.TypeA, &results[i].A}, {dnsmessage.TypeAAAA, &results[i].AAAA}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				*q.out = queryDNS(ctx, dial, s.addr, host, q.t, r.o.Timeout)
			}()
		}
	}
	wg.Wait()
	ch.Evidence["resolvers"] = results
	v := judgeDNS(host, results, r.o.Timeout)
	if len(v.addrs) > 0 {
		ch.Evidence["addresses"] = v.addrs
	}
	switch v.status {
	case report.Failed:
		fail(ch, v.message, v.hint)
		return nil, false
	case report.Warning:
		ch.Evidence["warning"] = v.message
		warn(ch, v.hint)
	}
	if v.note != "" {
		ch.Evidence["note"] = v.note
	}
	return v.addrs, true
}

// dnsVerdict is judgeDNS's conclusion.
type dnsVerdict struct {
	addrs         []string
	status        report.Status
	message, hint string
	note          string
}

// judgeDNS concludes from every resolver's answers: the addresses (A first,
// then AAAA, each once), failed when none gave one (worded by the worst
// outcome: a name that does not exist, a broken server, a server out of
// reach, silence), a warning when some resolvers fail or disagree while
// another answers.
func judgeDNS(host string, rs []ResolverResult, timeout time.Duration) dnsVerdict {
	var v dnsVerdict
	seen := map[string]bool{}
	for _, fam := range []func(ResolverResult) DNSAnswer{func(x ResolverResult) DNSAnswer { return x.A }, func(x ResolverResult) DNSAnswer { return x.AAAA }} {
		for _, x := range rs {
			for _, a := range fam(x).Addresses {
				if !seen[a] {
					seen[a] = true
					v.addrs = append(v.addrs, a)
				}
			}
		}
	}
	var bad []string // "9.9.9.9 timeout (A), ..."
	kinds := map[string][]string{}
	answered := []string{}
	v4, v6 := false, false
	for _, x := range rs {
		gave := len(x.A.Addresses)+len(x.AAAA.Addresses) > 0
		if gave {
			answered = append(answered, x.Server)
		}
		v4 = v4 || len(x.A.Addresses) > 0
		v6 = v6 || len(x.AAAA.Addresses) > 0
		aBad := x.A.Result != dnsAnswered && x.A.Result != dnsNoData
		aaaaBad := x.AAAA.Result != dnsAnswered && x.AAAA.Result != dnsNoData
		switch {
		case aBad && aaaaBad && outcomeWords(x.A, timeout) == outcomeWords(x.AAAA, timeout):
			bad = append(bad, fmt.Sprintf("%s %s for A and AAAA", x.Server, outcomeWords(x.A, timeout)))
		case aBad && aaaaBad:
			bad = append(bad, fmt.Sprintf("%s %s for A, %s for AAAA", x.Server, outcomeWords(x.A, timeout), outcomeWords(x.AAAA, timeout)))
		case aBad:
			bad = append(bad, fmt.Sprintf("%s %s for A", x.Server, outcomeWords(x.A, timeout)))
		case aaaaBad:
			bad = append(bad, fmt.Sprintf("%s %s for AAAA", x.Server, outcomeWords(x.AAAA, timeout)))
		}
		if aBad {
			kinds[x.A.Result] = appendOnce(kinds[x.A.Result], x.Server)
		}
		if aaaaBad {
			kinds[x.AAAA.Result] = appendOnce(kinds[x.AAAA.Result], x.Server)
		}
	}
	v.status = report.OK
	if len(v.addrs) == 0 {
		v.status = report.Failed
		v.message, v.hint = dnsFailureWords(host, rs, kinds, bad, timeout)
		return v
	}
	if v6 && !v4 {
		v.note = fmt.Sprintf("%s has only IPv6 addresses (AAAA): common on IPv6-only cellular networks with NAT64/DNS64", host)
	}
	if len(bad) > 0 {
		v.status = report.Warning
		v.message = fmt.Sprintf("%s answered, but: %s", strings.Join(answered, ", "), strings.Join(bad, "; "))
		switch {
		case len(kinds[dnsNXDomain]) > 0:
			v.hint = fmt.Sprintf("the resolvers disagree: %s %s %s does not exist while %s %s (split DNS: an internal name only some servers know?); devices that ask the wrong one cannot reach the target", strings.Join(kinds[dnsNXDomain], ", "), plural(len(kinds[dnsNXDomain]), "says", "say"), host, strings.Join(answered, ", "), plural(len(answered), "answers", "answer"))
		case len(kinds[dnsTimeout]) > 0 && allAnsweredOtherFamily(rs, kinds[dnsTimeout]):
			v.hint = fmt.Sprintf("%s answers one address family but not the other: a resolver or middlebox drops those queries, and programs that ask both wait %s for the missing answer", strings.Join(kinds[dnsTimeout], ", "), seconds(timeout))
		default:
			v.hint = "a resolver that fails makes every lookup that tries it first slow or failed: fix it or remove it from the gateway's DNS settings (or the DHCP/APN that hands it out)"
		}
	}
	return v
}

func allAnsweredOtherFamily(rs []ResolverResult, servers []string) bool {
	for _, x := range rs {
		for _, s := range servers {
			if x.Server == s && x.A.Result != dnsAnswered && x.AAAA.Result != dnsAnswered && x.A.Result != dnsNoData && x.AAAA.Result != dnsNoData {
				return false
			}
		}
	}
	return true
}

func appendOnce(l []string, s string) []string {
	for _, x := range l {
		if x == s {
			return l
		}
	}
	return append(l, s)
}

// outcomeWords is one query's failure in a few words.
func outcomeWords(a DNSAnswer, timeout time.Duration) string {
	switch a.Result {
	case dnsNXDomain:
		return "says NXDOMAIN (no such name)"
	case dnsServFail:
		return "answered SERVFAIL"
	case dnsRefused:
		return "answered REFUSED"
	case dnsTimeout:
		return "gave no answer within " + seconds(timeout)
	case dnsUnreachable:
		return "is unreachable (" + a.Error + ")"
	}
	return "failed (" + a.Error + ")"
}

// dnsFailureWords words a lookup that gave no address, by the most telling
// outcome: the name does not exist, a server is broken, refuses, cannot be
// reached, or is silent.
func dnsFailureWords(host string, rs []ResolverResult, kinds map[string][]string, bad []string, timeout time.Duration) (string, string) {
	all := strings.Join(bad, "; ")
	list := func(k string) string { return strings.Join(kinds[k], ", ") }
	switch {
	case len(bad) == 0:
		return fmt.Sprintf("%s exists in DNS but has no address (no A or AAAA record)", host),
			"the name is there but points nowhere (a record missing or mistyped at the DNS provider): ask the target's operator"
	case len(kinds[dnsNXDomain]) > 0 && len(kinds[dnsNXDomain]) == len(rs):
		return fmt.Sprintf("no such host %q: %s %s it does not exist (NXDOMAIN)", host, list(dnsNXDomain), plural(len(kinds[dnsNXDomain]), "says", "say")),
			"check the spelling of the host; an internal name is unknown to public DNS servers: use the site's own DNS server (--dns)"
	case len(kinds[dnsNXDomain]) > 0:
		return fmt.Sprintf("no address for %q: %s", host, all),
			"check the spelling of the host; a resolver that says NXDOMAIN while others fail may not know an internal name"
	case len(kinds[dnsServFail]) > 0:
		return fmt.Sprintf("no address for %q: %s", host, all),
			fmt.Sprintf("SERVFAIL means %s reached no answer upstream (its own upstream servers are cut off, or DNSSEC validation failed): try another server with --dns, and check the gateway's upstream DNS", list(dnsServFail))
	case len(kinds[dnsRefused]) > 0:
		return fmt.Sprintf("no address for %q: %s", host, all),
			fmt.Sprintf("%s refuses to answer this client: it serves only its own network (wrong DNS server handed out by DHCP or the APN?); use the network's DNS server with --dns", list(dnsRefused))
	case len(kinds[dnsUnreachable]) > 0:
		return fmt.Sprintf("no address for %q: %s", host, all),
			"the DNS server cannot be reached from here: check the gateway's DNS settings (the servers its DHCP or APN handed out) and its route to them"
	case len(kinds[dnsTimeout]) > 0:
		return fmt.Sprintf("no DNS answer for %q within %s: %s", host, seconds(timeout), all),
			"the DNS servers do not answer through this path: a firewall drops port 53, or the servers (often the operator's, reachable only through the modem) are not reachable this way; try --dns with another server, --iface with the modem's interface, or raise --timeout on a slow link"
	}
	return fmt.Sprintf("no address for %q: %s", host, all), "check the gateway's DNS settings, or use the target's IP address to confirm"
}

// resolverLabel names a resolver by address, without the default port.
func resolverLabel(addr string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil || p != "53" {
		return addr
	}
	return h
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
