package testenv

import (
	"net"
	"net/netip"
	"testing"
)

// ProbeLinkPair is a veth link made by ProbeLink: one end in NsA, the other
// in NsB ("" is the test's own namespace), each with an IPv4 address from
// 100.64.0.0/10 (carrier-grade NAT space, as cellular gateways get; a /30
// per link, none twice in one test process) and an IPv6 address from
// fd00:ec8::/32 (a /64 per link), both up and usable at once.
type ProbeLinkPair struct {
	NsA, NsB string
	// A and B are the interface names in NsA and NsB.
	A, B string
	// AddrA, AddrB (IPv4) and AddrA6, AddrB6 (IPv6) are the ends' addresses.
	AddrA, AddrB, AddrA6, AddrB6 netip.Addr
	// Net and Net6 are the link's prefixes.
	Net, Net6 netip.Prefix
}

// ProbeUDPResponder is a UDP socket on loopback that answers each datagram
// with reply(q), or never answers when reply is nil (a DNS server that
// times out). It returns its address; it closes when the test ends.
func ProbeUDPResponder(t testing.TB, reply func(q []byte) []byte) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if reply == nil {
				continue
			}
			if r := reply(buf[:n]); r != nil {
				_, _ = c.WriteTo(r, from)
			}
		}
	}()
	return c.LocalAddr().String()
}
