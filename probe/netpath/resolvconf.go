package netpath

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"strings"
)

// Files the DNS step reads; Options may point them elsewhere (tests).
const (
	DefaultResolvConf = "/etc/resolv.conf"
	// DefaultResolvedConf is systemd-resolved's list of the upstream servers
	// behind its local stub 127.0.0.53.
	DefaultResolvedConf = "/run/systemd/resolve/resolv.conf"
	DefaultHostsFile    = "/etc/hosts"
)

// resolvedStub is systemd-resolved's local stub resolver.
var resolvedStub = netip.MustParseAddr("127.0.0.53")

// parseNameservers returns the nameserver addresses of a resolv.conf, in
// order, skipping what is not an IP address. A zone (fe80::1%eth0) is kept.
func parseNameservers(b []byte) []netip.Addr {
	var out []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 64*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if a, err := netip.ParseAddr(f[1]); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// lookupHosts returns the addresses a hosts file gives name (case does not
// matter), in file order.
func lookupHosts(b []byte, name string) []string {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 64*1024)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 || net.ParseIP(f[0]) == nil {
			continue
		}
		for _, h := range f[1:] {
			if strings.TrimSuffix(strings.ToLower(h), ".") == name {
				out = append(out, net.ParseIP(f[0]).String())
				break
			}
		}
	}
	return out
}
