package inspect

import (
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ecdata/ectool/capture"
)

// segment is one TCP segment taken out of a frame. payload aliases the
// frame's bytes: valid only while the frame is being handled.
type segment struct {
	ts           time.Time
	v6           bool
	src, dst     [16]byte
	sport, dport uint16
	seq, ack     uint32
	syn, fin     bool
	rst, ackFlag bool
	window       uint16
	payload      []byte
	// missing is how many payload bytes the capture's snap length cut off.
	missing int
}

func (s *segment) srcAddr() netip.AddrPort { return addrPort(s.v6, s.src, s.sport) }
func (s *segment) dstAddr() netip.AddrPort { return addrPort(s.v6, s.dst, s.dport) }

func addrPort(v6 bool, a [16]byte, port uint16) netip.AddrPort {
	if v6 {
		return netip.AddrPortFrom(netip.AddrFrom16(a), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{a[0], a[1], a[2], a[3]}), port)
}

// frameResult says what a frame held.
type frameResult int

const (
	frameTCP         frameResult = iota
	frameOther                   // not TCP over IP: ignored
	frameFragment                // an IP fragment: not reassembled
	frameLinkUnknown             // a link type inspect does not read
	frameBroken                  // headers cut or invalid
)

// frameDecoder takes link, IP and TCP headers off frames with gopacket's
// DecodingLayerParser: the layers are decoded into structs it reuses, so
// the hot path allocates nothing.
type frameDecoder struct {
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	parsers [numFirst]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

// The layers a frame can start with, as indexes of frameDecoder.parsers.
const (
	firstEthernet = iota
	firstSLL
	firstSLL2
	firstLoopback
	firstIPv4
	firstIPv6
	numFirst
)

var firstLayers = [numFirst]gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL, layers.LayerTypeLinuxSLL2,
	layers.LayerTypeLoopback, layers.LayerTypeIPv4, layers.LayerTypeIPv6}

func newFrameDecoder() *frameDecoder {
	d := &frameDecoder{decoded: make([]gopacket.LayerType, 0, 8)}
	for i, first := range firstLayers {
		p := gopacket.NewDecodingLayerParser(first, &d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.ip4, &d.ip6, &d.tcp)
		p.IgnoreUnsupported = true
		d.parsers[i] = p
	}
	return d
}

// firstLayer is the layer a link type's frames start with (raw IP is
// told apart by its version nibble).
func firstLayer(lt layers.LinkType, data []byte) (int, bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		return firstEthernet, true
	case layers.LinkTypeLinuxSLL:
		return firstSLL, true
	case layers.LinkTypeLinuxSLL2:
		return firstSLL2, true
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return firstLoopback, true
	case layers.LinkTypeRaw, 12, 14, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		if len(data) > 0 && data[0]>>4 == 6 {
			return firstIPv6, true
		}
		return firstIPv4, true
	}
	return 0, false
}

// decode fills seg from one frame.
func (d *frameDecoder) decode(p *capture.Packet, seg *segment) frameResult {
	first, ok := firstLayer(p.LinkType, p.Data)
	if !ok {
		return frameLinkUnknown
	}
	parser := d.parsers[first]
	err := parser.DecodeLayers(p.Data, &d.decoded)
	var haveIP, haveTCP, v6 bool
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			haveIP, v6 = true, false
		case layers.LayerTypeIPv6:
			haveIP, v6 = true, true
		case layers.LayerTypeTCP:
			haveTCP = true
		}
	}
	if !haveTCP {
		switch {
		case err != nil && !haveIP:
			return frameBroken
		case haveIP && !v6 && (d.ip4.FragOffset != 0 || d.ip4.Flags&layers.IPv4MoreFragments != 0):
			return frameFragment
		case haveIP && v6 && d.ip6.NextHeader == layers.IPProtocolIPv6Fragment:
			return frameFragment
		case err != nil && haveIP && isTCP(d, v6):
			return frameBroken
		}
		return frameOther
	}
	t := &d.tcp
	*seg = segment{ts: p.Timestamp, v6: v6, sport: uint16(t.SrcPort), dport: uint16(t.DstPort), seq: t.Seq, ack: t.Ack,
		syn: t.SYN, fin: t.FIN, rst: t.RST, ackFlag: t.ACK, window: t.Window, payload: t.Payload}
	var ipPayload int
	if v6 {
		copy(seg.src[:], d.ip6.SrcIP)
		copy(seg.dst[:], d.ip6.DstIP)
		ipPayload = int(d.ip6.Length)
		if d.ip6.HopByHop != nil {
			ipPayload -= d.ip6.HopByHop.ActualLength
		}
	} else {
		copy(seg.src[:4], d.ip4.SrcIP)
		copy(seg.dst[:4], d.ip4.DstIP)
		ipPayload = int(d.ip4.Length) - int(d.ip4.IHL)*4
	}
	if want := ipPayload - int(t.DataOffset)*4; want > len(t.Payload) {
		seg.missing = want - len(t.Payload)
	}
	return frameTCP
}

func isTCP(d *frameDecoder, v6 bool) bool {
	if v6 {
		return d.ip6.NextHeader == layers.IPProtocolTCP
	}
	return d.ip4.Protocol == layers.IPProtocolTCP
}
