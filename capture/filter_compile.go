package capture

import (
	"encoding/binary"
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// linkCooked is the link type of a SOCK_DGRAM packet socket (the "any"
// device): the filter sees the network header at offset 0 and reads the
// protocol with SKF_AD_PROTOCOL. Its packets are stored as LINUX_SLL2.
const linkCooked = layers.LinkType(0xfffe)

// Filter is a compiled capture filter for one link type.
type Filter struct {
	// Expr is the expression as written (it goes into each interface block).
	Expr     string
	LinkType layers.LinkType
	// Program accepts a packet by returning the snap length (the kernel cuts
	// the packet there) and rejects it by returning 0.
	Program []bpf.Instruction
}

// CompileOptions tune CompileFilter.
type CompileOptions struct {
	// Snaplen is what an accepted packet is cut to (DefaultSnaplen when 0).
	Snaplen uint32
	// DropOutgoing rejects the copy the kernel makes of a packet sent on the
	// interface (SKF_AD_PKTTYPE == PACKET_OUTGOING): on lo every packet is
	// seen twice otherwise, and tcpdump counts it once. The x/net/bpf VM
	// cannot run this extension: tests compare programs without it.
	DropOutgoing bool
}

// linkInfo says where a link type keeps the network protocol and header.
type linkInfo struct {
	ext      bool   // the protocol is skb->protocol (SKF_AD_PROTOCOL): SOCK_DGRAM
	protoOff uint32 // offset of the 16-bit EtherType-like field
	raw      bool   // no link header: the IP version nibble decides
	nh       uint32 // offset of the network header
	arp      bool   // ARP can appear (host also matches ARP/RARP addresses, as in libpcap)
}

func linkFor(lt layers.LinkType) (linkInfo, error) {
	switch lt {
	case layers.LinkTypeEthernet:
		return linkInfo{protoOff: 12, nh: 14, arp: true}, nil
	case LinkSLL2:
		return linkInfo{protoOff: 0, nh: 20, arp: true}, nil
	case layers.LinkTypeLinuxSLL:
		return linkInfo{protoOff: 14, nh: 16, arp: true}, nil
	case layers.LinkTypeRaw, 12:
		return linkInfo{raw: true}, nil
	case linkCooked:
		return linkInfo{ext: true, arp: true}, nil
	}
	return linkInfo{}, fmt.Errorf("link type %s is not supported by ectool's filter compiler", LinkTypeName(lt))
}

// CompileFilter compiles expr for link type lt with golang.org/x/net/bpf.
func CompileFilter(expr string, lt layers.LinkType, o CompileOptions) (*Filter, error) {
	n, err := ParseFilter(expr)
	if err != nil {
		return nil, err
	}
	li, err := linkFor(lt)
	if err != nil {
		return nil, err
	}
	if o.Snaplen == 0 {
		o.Snaplen = DefaultSnaplen
	}
	g := &gen{li: li}
	g.accept, g.reject = g.label(), g.label()
	if o.DropOutgoing {
		body := g.label()
		g.emit(bpf.LoadExtension{Num: bpf.ExtType})
		g.jeq(4, g.reject, body) // PACKET_OUTGOING
		g.place(body)
	}
	g.node(n, g.accept, g.reject)
	prog, err := g.assemble(o.Snaplen)
	if err != nil {
		return nil, &FilterError{Expr: expr, Msg: fmt.Sprintf("--filter %q: %v", expr, err)}
	}
	return &Filter{Expr: expr, LinkType: lt, Program: prog}, nil
}

// gen emits code with symbolic jump targets, resolved by assemble.
type gen struct {
	li             linkInfo
	code           []insn
	labels         []int // label → instruction index (-1 until placed)
	accept, reject int
}

type insn struct {
	ins    bpf.Instruction
	jump   bool
	cond   bpf.JumpTest
	val    uint32
	tl, fl int
}

func (g *gen) label() int {
	g.labels = append(g.labels, -1)
	return len(g.labels) - 1
}

func (g *gen) place(l int) { g.labels[l] = len(g.code) }

func (g *gen) emit(i bpf.Instruction) { g.code = append(g.code, insn{ins: i}) }

func (g *gen) jump(cond bpf.JumpTest, val uint32, t, f int) {
	g.code = append(g.code, insn{jump: true, cond: cond, val: val, tl: t, fl: f})
}

func (g *gen) jeq(val uint32, t, f int) { g.jump(bpf.JumpEqual, val, t, f) }

// goTo jumps to l whatever A holds (both branches of one test).
func (g *gen) goTo(l int) { g.jump(bpf.JumpEqual, 0, l, l) }

func (g *gen) ld(size int, off uint32) { g.emit(bpf.LoadAbsolute{Off: off, Size: size}) }

func (g *gen) assemble(snaplen uint32) ([]bpf.Instruction, error) {
	g.place(g.accept)
	g.emit(bpf.RetConstant{Val: snaplen})
	g.place(g.reject)
	g.emit(bpf.RetConstant{Val: 0})
	out := make([]bpf.Instruction, len(g.code))
	for i, c := range g.code {
		if !c.jump {
			out[i] = c.ins
			continue
		}
		t, f := g.labels[c.tl]-i-1, g.labels[c.fl]-i-1
		if t < 0 || f < 0 || t > 255 || f > 255 {
			return nil, fmt.Errorf("the expression is too long to compile (a jump of %d instructions)", max(t, f))
		}
		out[i] = bpf.JumpIf{Cond: c.cond, Val: c.val, SkipTrue: uint8(t), SkipFalse: uint8(f)}
	}
	return out, nil
}

func (g *gen) node(n *node, t, f int) {
	switch n.op {
	case "true":
		g.goTo(t)
	case "and":
		mid := g.label()
		g.node(n.l, mid, f)
		g.place(mid)
		g.node(n.r, t, f)
	case "or":
		mid := g.label()
		g.node(n.l, t, mid)
		g.place(mid)
		g.node(n.r, t, f)
	case "not":
		g.node(n.l, f, t)
	case "ip":
		g.isIP(4, t, f)
	case "ip6":
		g.isIP(6, t, f)
	case "proto":
		g.proto(n.proto, t, f)
	case "host":
		if n.addr.Is4() {
			g.host4(n, t, f)
		} else {
			g.host6(n, t, f)
		}
	case "port":
		g.port(n, t, f)
	}
}

// isIP tests the network protocol: IPv4 (v 4) or IPv6 (v 6).
func (g *gen) isIP(v int, t, f int) {
	if g.li.raw {
		g.ld(1, 0)
		g.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
		g.jeq(uint32(v)<<4, t, f)
		return
	}
	g.loadProto()
	if v == 4 {
		g.jeq(0x0800, t, f)
	} else {
		g.jeq(0x86dd, t, f)
	}
}

// proto: ip proto p, or ip6 next header p (directly or after a fragment
// header), as libpcap's "tcp" and "udp".
func (g *gen) proto(p uint8, t, f int) {
	nh := g.li.nh
	v4, not4, v6 := g.label(), g.label(), g.label()
	g.isIP(4, v4, not4)
	g.place(v4)
	g.ld(1, nh+9)
	g.jeq(uint32(p), t, f)
	g.place(not4)
	g.isIP(6, v6, f)
	g.place(v6)
	frag, afterFrag := g.label(), g.label()
	g.ld(1, nh+6)
	g.jeq(uint32(p), t, frag)
	g.place(frag)
	g.jeq(44, afterFrag, f)
	g.place(afterFrag)
	g.ld(1, nh+40)
	g.jeq(uint32(p), t, f)
}

func (g *gen) host4(n *node, t, f int) {
	nh := g.li.nh
	a := binary.BigEndian.Uint32(n.addr.AsSlice())
	v4, notV4 := g.label(), g.label()
	g.isIP(4, v4, notV4)
	g.place(v4)
	g.addrPair(nh+12, nh+16, a, n.dir, t, f)
	g.place(notV4)
	if !g.li.arp {
		g.goTo(f)
		return
	}
	// libpcap's host also matches ARP and RARP sender/target addresses.
	isARP, notARP := g.label(), g.label()
	g.loadProto()
	g.jeq(0x0806, isARP, notARP)
	g.place(notARP)
	g.jeq(0x8035, isARP, f)
	g.place(isARP)
	g.addrPair(nh+14, nh+24, a, n.dir, t, f)
}

// loadProto loads the link's protocol field (an EtherType) into A.
func (g *gen) loadProto() {
	if g.li.ext {
		g.emit(bpf.LoadExtension{Num: bpf.ExtProto})
		return
	}
	g.ld(2, g.li.protoOff)
}

// addrPair compares a 32-bit word at src and/or dst with a.
func (g *gen) addrPair(src, dst, a uint32, dir string, t, f int) {
	switch dir {
	case "src":
		g.ld(4, src)
		g.jeq(a, t, f)
	case "dst":
		g.ld(4, dst)
		g.jeq(a, t, f)
	default:
		tryDst := g.label()
		g.ld(4, src)
		g.jeq(a, t, tryDst)
		g.place(tryDst)
		g.ld(4, dst)
		g.jeq(a, t, f)
	}
}

func (g *gen) host6(n *node, t, f int) {
	nh := g.li.nh
	b := n.addr.As16()
	v6 := g.label()
	g.isIP(6, v6, f)
	g.place(v6)
	cmp16 := func(off uint32, t, f int) {
		for i := 0; i < 4; i++ {
			next := t
			if i < 3 {
				next = g.label()
			}
			g.ld(4, off+uint32(4*i))
			g.jeq(binary.BigEndian.Uint32(b[4*i:]), next, f)
			if i < 3 {
				g.place(next)
			}
		}
	}
	switch n.dir {
	case "src":
		cmp16(nh+8, t, f)
	case "dst":
		cmp16(nh+24, t, f)
	default:
		tryDst := g.label()
		cmp16(nh+8, t, tryDst)
		g.place(tryDst)
		cmp16(nh+24, t, f)
	}
}

// port follows libpcap: on IPv6 the next header must be the transport (no
// extension headers); on IPv4 the packet must not be a later fragment.
func (g *gen) port(n *node, t, f int) {
	nh := g.li.nh
	protos := n.protos
	if protos == nil {
		protos = []uint8{132, 6, 17} // sctp, tcp, udp: libpcap's port
	}
	v6, notV6 := g.label(), g.label()
	g.isIP(6, v6, notV6)
	g.place(v6)
	ports6 := g.label()
	g.ld(1, nh+6)
	g.protoChain(protos, ports6, f)
	g.place(ports6)
	g.portPair(func(off uint32) { g.ld(2, nh+40+off) }, uint32(n.port), n.dir, t, f)
	g.place(notV6)
	v4, ports4, unfragmented := g.label(), g.label(), g.label()
	g.isIP(4, v4, f)
	g.place(v4)
	g.ld(1, nh+9)
	g.protoChain(protos, ports4, f)
	g.place(ports4)
	g.ld(2, nh+6)
	g.jump(bpf.JumpBitsSet, 0x1fff, f, unfragmented)
	g.place(unfragmented)
	g.emit(bpf.LoadMemShift{Off: nh})
	g.portPair(func(off uint32) { g.emit(bpf.LoadIndirect{Off: nh + off, Size: 2}) }, uint32(n.port), n.dir, t, f)
}

// protoChain jumps to t when A is one of protos, else to f.
func (g *gen) protoChain(protos []uint8, t, f int) {
	for i, p := range protos {
		next := f
		if i < len(protos)-1 {
			next = g.label()
		}
		g.jeq(uint32(p), t, next)
		if i < len(protos)-1 {
			g.place(next)
		}
	}
}

func (g *gen) portPair(load func(off uint32), port uint32, dir string, t, f int) {
	switch dir {
	case "src":
		load(0)
		g.jeq(port, t, f)
	case "dst":
		load(2)
		g.jeq(port, t, f)
	default:
		tryDst := g.label()
		load(0)
		g.jeq(port, t, tryDst)
		g.place(tryDst)
		load(2)
		g.jeq(port, t, f)
	}
}
