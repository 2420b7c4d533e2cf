package inspect

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/reassembly"
)

// pageBytes is the size of one of gopacket reassembly's pages.
const pageBytes = 1900

// assembly is inspect's use of gopacket's reassembler: connections with
// holes or reordered segments (or all of them, with ReassemblyFull) go
// through it, with its memory bounded by MaxBufferedPagesTotal and
// MaxBufferedPagesPerConnection, holes given up after GapWait and idle
// connections closed after IdleTimeout, all in capture time.
type assembly struct {
	d         *Decoder
	pool      *reassembly.StreamPool
	a         *reassembly.Assembler
	active    bool
	lastFlush time.Time
	tcp       layers.TCP // synthesised segments
	hdr       [20]byte
}

func (d *Decoder) assembler() *assembly {
	if d.asm == nil {
		d.asm = newAssembly(d)
	}
	return d.asm
}

func newAssembly(d *Decoder) *assembly {
	as := &assembly{d: d}
	as.pool = reassembly.NewStreamPool(asmFactory{as})
	as.a = reassembly.NewAssembler(as.pool)
	as.a.MaxBufferedPagesTotal = d.opts.MaxBufferedPagesTotal
	as.a.MaxBufferedPagesPerConnection = d.opts.MaxBufferedPagesPerConnection
	return as
}

type asmContext struct{ ci gopacket.CaptureInfo }

func (c *asmContext) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

// asmStream ties one of the reassembler's connections to inspect's.
type asmStream struct {
	c *conn
	// dirs maps the reassembler's directions (client->server is whichever
	// sent the first segment it saw) to inspect's.
	dirs  [2]int
	known [2]bool
}

type asmFactory struct{ as *assembly }

func (f asmFactory) New(netFlow, tcpFlow gopacket.Flow, tcp *layers.TCP, ac reassembly.AssemblerContext) reassembly.Stream {
	s := &asmStream{}
	src, dst := netFlow.Endpoints()
	var seg segment
	seg.v6 = len(src.Raw()) == 16
	copy(seg.src[:], src.Raw())
	copy(seg.dst[:], dst.Raw())
	seg.sport, seg.dport = uint16(tcp.SrcPort), uint16(tcp.DstPort)
	k, _ := keyOf(&seg)
	s.c = f.as.d.conns[k]
	if s.c != nil {
		s.c.asm = s
	}
	return s
}

func (s *asmStream) Accept(tcp *layers.TCP, ci gopacket.CaptureInfo, dir reassembly.TCPFlowDirection, nextSeq reassembly.Sequence, start *bool, ac reassembly.AssemblerContext) bool {
	c := s.c
	if c == nil {
		return false
	}
	if cur := c.d.conns[c.key]; cur != c && cur != nil {
		// The 4-tuple was reused by a new connection.
		s.c, c, s.known = cur, cur, [2]bool{}
		cur.asm = s
	}
	sport := uint16(tcp.SrcPort)
	my := toClient
	if (c.clientIsA && sport == c.key.a.port) || (!c.clientIsA && sport == c.key.b.port) {
		my = toBroker
	}
	i := 0
	if dir == reassembly.TCPDirServerToClient {
		i = 1
	}
	if !s.known[i] {
		s.dirs[i], s.known[i] = my, true
	}
	if nextSeq == -1 && !tcp.SYN {
		// Joined mid-way, or handed over: start where this segment starts.
		*start = true
	}
	return true
}

func (s *asmStream) ReassembledSG(sg reassembly.ScatterGather, ac reassembly.AssemblerContext) {
	c := s.c
	if c == nil || c.handler == nil {
		return
	}
	d, _, _, skip := sg.Info()
	i := 0
	if d == reassembly.TCPDirServerToClient {
		i = 1
	}
	dir := s.dirs[i]
	n, _ := sg.Lengths()
	// The bytes are whole when the segment that completes them arrives.
	var ts time.Time
	if ac != nil {
		ts = ac.GetCaptureInfo().Timestamp
	}
	if n > 0 {
		if t := sg.CaptureInfo(n - 1).Timestamp; t.After(ts) {
			ts = t
		}
	}
	if skip > 0 {
		c.d.an.res.Input.Holes++
		c.handler.gap(dir, ts, skip)
	}
	if n == 0 {
		return
	}
	c.handler.data(dir, ts, sg.Fetch(n))
}

func (s *asmStream) ReassemblyComplete(ac reassembly.AssemblerContext) bool {
	if s.c != nil && s.c.asm == s {
		s.c.asm = nil
	}
	return true
}

// feed passes one real segment (the decoder's current TCP layer) to the
// reassembler.
func (as *assembly) feed(c *conn, dir int, s *segment) {
	as.active = true
	fd := as.d.frames
	var flow gopacket.Flow
	if s.v6 {
		flow = fd.ip6.NetworkFlow()
	} else {
		flow = fd.ip4.NetworkFlow()
	}
	// Queued pages keep their segment's context, so each gets its own.
	as.a.AssembleWithContext(flow, &fd.tcp, &asmContext{ci: gopacket.CaptureInfo{Timestamp: s.ts}})
	as.bound(s.ts)
}

// handover moves a connection from the fast path to the reassembler at
// its first hole: each direction already started is opened at the
// sequence number the fast path expects next, then the segment is fed.
func (as *assembly) handover(c *conn, dir int, s *segment) {
	for _, hd := range []int{toBroker, toClient} {
		h := &c.half[hd]
		if !h.started {
			continue
		}
		as.synthesise(c, hd, h.nextSeq, s.ts)
	}
	as.feed(c, dir, s)
}

// synthesise feeds an empty segment at seq so the reassembler starts the
// direction there.
func (as *assembly) synthesise(c *conn, dir int, seq uint32, ts time.Time) {
	src, dst := c.key.a, c.key.b
	if (dir == toBroker) != c.clientIsA {
		src, dst = dst, src
	}
	h := as.hdr[:]
	binary.BigEndian.PutUint16(h[0:], src.port)
	binary.BigEndian.PutUint16(h[2:], dst.port)
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint32(h[8:], 0)
	h[12], h[13] = 5<<4, 0x10 // data offset 5, ACK
	if err := as.tcp.DecodeFromBytes(h, gopacket.NilDecodeFeedback); err != nil {
		return
	}
	var flow gopacket.Flow
	if c.key.v6 {
		flow = gopacket.NewFlow(layers.EndpointIPv6, src.addr[:], dst.addr[:])
	} else {
		flow = gopacket.NewFlow(layers.EndpointIPv4, src.addr[:4], dst.addr[:4])
	}
	as.a.AssembleWithContext(flow, &as.tcp, &asmContext{ci: gopacket.CaptureInfo{Timestamp: ts}})
}

// bound keeps the reassembler within MaxBufferedPagesTotal: gopacket
// checks its limit after queueing a segment, so one large segment can
// pass it; the holes are then given up at once.
func (as *assembly) bound(now time.Time) {
	if as.pagesUsed() > as.d.opts.MaxBufferedPagesTotal {
		as.a.FlushWithOptions(reassembly.FlushOptions{T: now.Add(time.Nanosecond)})
	}
}

// maintain gives up holes older than GapWait and closes connections idle
// for IdleTimeout (capture time), once a second of capture.
func (as *assembly) maintain(now time.Time) {
	if now.Sub(as.lastFlush) < time.Second {
		return
	}
	as.lastFlush = now
	as.a.FlushWithOptions(reassembly.FlushOptions{T: now.Add(-as.d.opts.GapWait), TC: now.Add(-as.d.opts.IdleTimeout)})
}

func (as *assembly) flushAll() {
	as.a.FlushAll()
}

// pagesUsed is the reassembler's own count of pages in use. gopacket
// exposes it only through Dump ("pageCache: used: N:"), which a test pins.
func (as *assembly) pagesUsed() int {
	var n int
	if _, err := fmt.Sscanf(as.a.Dump(), "pageCache: used: %d:", &n); err != nil {
		return 0
	}
	return n
}
