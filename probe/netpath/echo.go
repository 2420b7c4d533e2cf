package netpath

import (
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// parseEchoReply reads an echo reply as a socket hands it over: a raw IPv4
// socket's starts with the IP header; a raw socket sees every reply on the
// host, so the id must be ours (a ping socket's the kernel sorted).
func parseEchoReply(b []byte, v6, raw bool, id int) (int, bool) {
	proto := 1
	if v6 {
		proto = 58
	}
	if raw && !v6 {
		if len(b) < 20 || b[0]>>4 != 4 {
			return 0, false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return 0, false
		}
		b = b[ihl:]
	}
	m, err := icmp.ParseMessage(proto, b)
	if err != nil {
		return 0, false
	}
	if m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply {
		return 0, false
	}
	e, ok := m.Body.(*icmp.Echo)
	if !ok || (raw && e.ID != id) {
		return 0, false
	}
	return e.Seq, true
}
