package netpath

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/ecdata/ectool/diag/report"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSystemdStubGivesWayToItsUpstreamsWhenBound(t *testing.T) {
	dir := t.TempDir()
	o := Options{
		Iface:        "wwan0",
		ResolvConf:   writeFile(t, dir, "resolv.conf", "# managed by systemd-resolved\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n"),
		ResolvedConf: writeFile(t, dir, "resolved.conf", "nameserver 10.64.64.64\nnameserver 2001:4860:4860::8888\nnameserver bogus\n"),
	}
	rs := o.resolvers()
	if len(rs.servers) != 2 || rs.servers[0].addr != "10.64.64.64:53" || rs.servers[1].addr != "[2001:4860:4860::8888]:53" || !rs.servers[0].bound {
		t.Fatalf("servers %+v", rs.servers)
	}
	if len(rs.notes) != 1 || !strings.Contains(rs.notes[0], "127.0.0.53 is systemd-resolved's local stub, which cannot be bound to wwan0") || !strings.Contains(rs.notes[0], o.ResolvedConf) {
		t.Errorf("notes %q", rs.notes)
	}
	// Unbound, the stub is what every program asks: ask it too.
	o.Iface = ""
	if rs := o.resolvers(); len(rs.servers) != 1 || rs.servers[0].addr != "127.0.0.53:53" || rs.servers[0].bound || len(rs.notes) != 0 {
		t.Errorf("unbound: %+v", rs)
	}
	// Bound, but systemd-resolved lists no upstream: the stub unbound, said so.
	o.Iface, o.ResolvedConf = "wwan0", filepath.Join(dir, "missing")
	if rs := o.resolvers(); len(rs.servers) != 1 || rs.servers[0].bound || !strings.Contains(strings.Join(rs.notes, " "), "asked unbound") {
		t.Errorf("no upstreams: %+v", rs)
	}
	// Another loopback resolver (a local dnsmasq) is asked unbound, and said so.
	o.ResolvConf = writeFile(t, dir, "resolv2.conf", "nameserver 127.0.0.1\nnameserver 10.0.0.1\n")
	rs = o.resolvers()
	if len(rs.servers) != 2 || rs.servers[0].bound || !rs.servers[1].bound || !strings.Contains(strings.Join(rs.notes, " "), "127.0.0.1 is a resolver on this machine's loopback") {
		t.Errorf("loopback dnsmasq: %+v", rs)
	}
	// No resolv.conf at all: the system's resolver.
	o.ResolvConf = filepath.Join(dir, "none")
	if rs := o.resolvers(); !rs.system || len(rs.notes) != 1 {
		t.Errorf("no resolv.conf: %+v", rs)
	}
}

func TestHostsFileNamesAreFoundAsTheResolverFindsThem(t *testing.T) {
	hosts := []byte("127.0.0.1 localhost\n# 10.9.9.9 broker.site\n10.0.0.7\tBroker.Site broker # the site broker\nfe80::1%eth0 ll\n::1 localhost ip6-localhost\n")
	if got := lookupHosts(hosts, "broker.site."); len(got) != 1 || got[0] != "10.0.0.7" {
		t.Errorf("broker.site: %v", got)
	}
	if got := lookupHosts(hosts, "localhost"); len(got) != 2 || got[1] != "::1" {
		t.Errorf("localhost: %v", got)
	}
	if got := lookupHosts(hosts, "nothere"); got != nil {
		t.Errorf("nothere: %v", got)
	}
}

func ans(result string, addrs ...string) DNSAnswer {
	return DNSAnswer{Result: result, Addresses: addrs}
}

func TestDNSVerdictNamesTheWorstOutcomeWhenNoResolverAnswers(t *testing.T) {
	cases := []struct {
		name    string
		rs      []ResolverResult
		status  report.Status
		message string
		hint    string
	}{
		{"answer", []ResolverResult{{Server: "a", A: ans(dnsAnswered, "10.0.0.1"), AAAA: ans(dnsNoData)}}, report.OK, "", ""},
		{"nxdomain", []ResolverResult{{Server: "a", A: ans(dnsNXDomain), AAAA: ans(dnsNXDomain)}}, report.Failed, "a says it does not exist (NXDOMAIN)", "spelling"},
		{"servfail", []ResolverResult{{Server: "a", A: ans(dnsServFail), AAAA: ans(dnsServFail)}}, report.Failed, "a answered SERVFAIL for A and AAAA", "DNSSEC"},
		{"timeout", []ResolverResult{{Server: "a", A: ans(dnsTimeout), AAAA: ans(dnsTimeout)}}, report.Failed, "no DNS answer for \"h\" within 5s", "port 53"},
		{"refused", []ResolverResult{{Server: "a", A: ans(dnsRefused), AAAA: ans(dnsRefused)}}, report.Failed, "REFUSED", "serves only its own network"},
		{"no records", []ResolverResult{{Server: "a", A: ans(dnsNoData), AAAA: ans(dnsNoData)}}, report.Failed, "no A or AAAA record", "points nowhere"},
		{"one silent", []ResolverResult{{Server: "a", A: ans(dnsAnswered, "10.0.0.1"), AAAA: ans(dnsNoData)}, {Server: "b", A: ans(dnsTimeout), AAAA: ans(dnsTimeout)}}, report.Warning, "b gave no answer within 5s", "slow or failed"},
		{"split dns", []ResolverResult{{Server: "a", A: ans(dnsAnswered, "10.0.0.1"), AAAA: ans(dnsNoData)}, {Server: "b", A: ans(dnsNXDomain), AAAA: ans(dnsNXDomain)}}, report.Warning, "b says NXDOMAIN", "split DNS"},
		{"aaaa dropped", []ResolverResult{{Server: "a", A: ans(dnsAnswered, "10.0.0.1"), AAAA: ans(dnsTimeout)}}, report.Warning, "for AAAA", "one address family but not the other"},
	}
	for _, c := range cases {
		v := judgeDNS("h", c.rs, 5*time.Second)
		if v.status != c.status || !strings.Contains(v.message, c.message) || !strings.Contains(v.hint, c.hint) {
			t.Errorf("%s: %s %q %q", c.name, v.status, v.message, v.hint)
		}
	}
	v := judgeDNS("h", []ResolverResult{{Server: "a", A: ans(dnsNoData), AAAA: ans(dnsAnswered, "64:ff9b::a00:1")}}, time.Second)
	if v.status != report.OK || !strings.Contains(v.note, "NAT64") || v.addrs[0] != "64:ff9b::a00:1" {
		t.Errorf("IPv6 only: %+v", v)
	}
}

// answer builds a server's answer to query q with rcode and A records.
func answer(t testing.TB, q []byte, rcode dnsmessage.RCode, a ...[4]byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		t.Fatal(err)
	}
	qs, _ := p.AllQuestions()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RCode: rcode, RecursionAvailable: true})
	_ = b.StartQuestions()
	for _, x := range qs {
		_ = b.Question(x)
	}
	_ = b.StartAnswers()
	for _, ip := range a {
		_ = b.AResource(dnsmessage.ResourceHeader{Name: qs[0].Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: ip})
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDNSAnswersAreMatchedToTheirQuery(t *testing.T) {
	q, err := buildQuery(0x1234, "broker.test", dnsmessage.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := parseDNSAnswer(answer(t, q, dnsmessage.RCodeSuccess, [4]byte{10, 0, 0, 1}), 0x1234, "broker.test", dnsmessage.TypeA); !ok || a.Result != dnsAnswered || a.Addresses[0] != "10.0.0.1" {
		t.Errorf("answer: %+v %v", a, ok)
	}
	if a, ok := parseDNSAnswer(answer(t, q, dnsmessage.RCodeServerFailure), 0x1234, "broker.test", dnsmessage.TypeA); !ok || a.Result != dnsServFail || a.RCode != "SERVFAIL" {
		t.Errorf("servfail: %+v %v", a, ok)
	}
	if _, ok := parseDNSAnswer(answer(t, q, dnsmessage.RCodeSuccess), 0x4321, "broker.test", dnsmessage.TypeA); ok {
		t.Error("an answer with another id was taken")
	}
	if _, ok := parseDNSAnswer(answer(t, q, dnsmessage.RCodeSuccess), 0x1234, "other.test", dnsmessage.TypeA); ok {
		t.Error("an answer for another name was taken")
	}
	if _, ok := parseDNSAnswer(q, 0x1234, "broker.test", dnsmessage.TypeA); ok {
		t.Error("our own query was taken for an answer")
	}
}

func FuzzParseDNSAnswer(f *testing.F) {
	q, _ := buildQuery(7, "broker.test", dnsmessage.TypeA)
	f.Add(answer(f, q, dnsmessage.RCodeSuccess, [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}))
	f.Add(answer(f, q, dnsmessage.RCodeNameError))
	f.Add(q)
	f.Add([]byte{0, 7, 0x81, 0x80, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := parseDNSAnswer(b, 7, "broker.test", dnsmessage.TypeA)
		if ok && a.Result == "" {
			t.Errorf("an answer without a result: %+v", a)
		}
	})
}

func FuzzResolvConfAndHosts(f *testing.F) {
	f.Add([]byte("nameserver 127.0.0.53\nnameserver fe80::1%eth0\noptions edns0\n"))
	f.Add([]byte("10.0.0.7 broker # c\n::1 localhost\n"))
	f.Add([]byte("nameserver\n\x00\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, a := range parseNameservers(b) {
			if !a.IsValid() {
				t.Errorf("invalid address %v", a)
			}
		}
		_ = lookupHosts(b, "broker")
	})
}
