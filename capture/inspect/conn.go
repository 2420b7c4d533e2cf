package inspect

import (
	"bytes"
	"net/netip"
	"time"
)

type endpoint struct {
	addr [16]byte
	port uint16
}

func (e endpoint) less(o endpoint) bool {
	if c := bytes.Compare(e.addr[:], o.addr[:]); c != 0 {
		return c < 0
	}
	return e.port < o.port
}

// connKey names a TCP connection whichever way a segment goes: a is the
// smaller endpoint.
type connKey struct {
	a, b endpoint
	v6   bool
}

func keyOf(s *segment) (connKey, bool) {
	src, dst := endpoint{s.src, s.sport}, endpoint{s.dst, s.dport}
	if src.less(dst) {
		return connKey{a: src, b: dst, v6: s.v6}, true
	}
	return connKey{a: dst, b: src, v6: s.v6}, false
}

// Stream directions inside a connection.
const (
	toBroker = 0
	toClient = 1
)

// conn state of what it carries.
type connKind int

const (
	kindUnknown connKind = iota // not on a decoded port: watched for a CONNECT
	kindIgnored                 // not MQTT
	kindDecoded                 // MQTT, MQTT over WebSocket or TLS
)

type halfConn struct {
	started bool
	syn     bool
	isn     uint32 // the SYN's sequence number
	// aligned: the stream was read from a packet boundary (its SYN was
	// seen, or a recognised CONNECT starts it), so no resynchronisation.
	aligned  bool
	nextSeq  uint32
	maxEnd   uint32 // end of the highest sequence seen (retransmission count)
	fin, rst bool
	// ack is the highest acknowledgement this direction sent: the other
	// direction's bytes below it reached this side.
	ack     uint32
	ackSeen bool
	packets int
	bytes   int64
	retrans int
	zeroWin int
}

// streamHandler consumes a connection's byte streams.
type streamHandler interface {
	data(dir int, ts time.Time, b []byte)
	gap(dir int, ts time.Time, n int)
	// closed says the direction ended (FIN or RST).
	closed(dir int, ts time.Time, rst bool)
	// release frees buffers (idle connection); later data resynchronises.
	release()
	// finish is the end of the capture.
	finish(end time.Time)
}

// conn is one TCP connection.
type conn struct {
	d      *Decoder
	key    connKey
	stream int
	kind   connKind
	proto  Protocol
	// clientIsA says which endpoint of key is the client.
	clientIsA bool
	half      [2]halfConn
	handler   streamHandler
	// asmMode: the connection's segments go through gopacket's reassembler.
	asmMode  bool
	asm      *asmStream
	first    time.Time
	lastSeen time.Time
	idled    bool
	done     bool // FIN both ways or RST: a SYN on the same key starts a new connection
	sawSYN   bool
	// probe gathers a watched connection's first client bytes (from
	// probeSeq, sent by the side probeFromA says).
	probe      []byte
	probeFromA bool
	probeSeq   uint32
	// synSeq: the SYNs a watched connection's endpoints sent (a, b).
	synSeq  [2]uint32
	synSeen [2]bool
}

func (c *conn) client() netip.AddrPort {
	e := c.key.b
	if c.clientIsA {
		e = c.key.a
	}
	return addrPort(c.key.v6, e.addr, e.port)
}

func (c *conn) broker() netip.AddrPort {
	e := c.key.a
	if c.clientIsA {
		e = c.key.b
	}
	return addrPort(c.key.v6, e.addr, e.port)
}

func (c *conn) brokerPort() uint16 {
	if c.clientIsA {
		return c.key.b.port
	}
	return c.key.a.port
}

// dirOf is the direction of a segment (fromA: it goes from key.a).
func (c *conn) dirOf(fromA bool) int {
	if fromA == c.clientIsA {
		return toBroker
	}
	return toClient
}

// segment routes one TCP segment to its connection.
func (d *Decoder) segment(s *segment) {
	k, fromA := keyOf(s)
	c := d.conns[k]
	if c != nil && s.syn && !s.ackFlag && c.reusedBy(fromA, s) {
		// The 4-tuple is reused: a new connection, as Wireshark counts them.
		c.finish()
		c = nil
	}
	if c == nil {
		c = d.newConn(k, fromA, s)
	}
	c.lastSeen = s.ts
	c.idled = false
	if s.syn && c.kind == kindUnknown {
		c.sawSYN = true
		i := 0
		if !fromA {
			i = 1
		}
		c.synSeq[i], c.synSeen[i] = s.seq, true
	}
	switch c.kind {
	case kindIgnored:
		return
	case kindUnknown:
		if !d.recognise(c, fromA, s) {
			return
		}
	}
	c.tcp(c.dirOf(fromA), s)
}

// reusedBy reports whether a SYN starts a new connection on this
// 4-tuple: the old one ended, or it had started otherwise (another
// initial sequence number, or no SYN at all: it was joined mid-way).
func (c *conn) reusedBy(fromA bool, s *segment) bool {
	if c.done {
		return true
	}
	h := &c.half[c.dirOf(fromA)]
	return h.started && (!h.syn || h.isn != s.seq)
}

func (d *Decoder) newConn(k connKey, fromA bool, s *segment) *conn {
	c := &conn{d: d, key: k, stream: d.streams, first: s.ts}
	d.streams++
	d.conns[k] = c
	// Who is the client: the SYN's sender, else the side not on a decoded
	// port, else the higher port.
	srcIsClient := false
	_, dportKnown := d.ports[s.dport]
	_, sportKnown := d.ports[s.sport]
	switch {
	case s.syn && !s.ackFlag:
		srcIsClient = true
	case s.syn && s.ackFlag:
		srcIsClient = false
	case dportKnown && !sportKnown:
		srcIsClient = true
	case sportKnown && !dportKnown:
		srcIsClient = false
	default:
		srcIsClient = s.sport > s.dport
	}
	c.clientIsA = srcIsClient == fromA
	if proto, ok := d.ports[c.brokerPort()]; ok {
		c.kind = kindDecoded
		c.proto = proto
	}
	return c
}

// recognise watches a connection on a port that is not decoded for a
// CONNECT (or a WebSocket upgrade asking for MQTT); when one shows, its
// port is decoded from then on. A connection whose start was seen is
// judged on its client's first bytes, gathered over segments (up to 4
// KiB: an HTTP upgrade may take several); one joined mid-way, on each
// segment's start.
func (d *Decoder) recognise(c *conn, fromA bool, s *segment) bool {
	if len(s.payload) == 0 {
		return false
	}
	if !c.sawSYN {
		proto, _ := firstBytes(s.payload)
		if proto == "" {
			return false
		}
		d.learn(c, fromA, s, proto, nil)
		return true
	}
	if c.probe == nil {
		c.probeFromA, c.probeSeq = fromA, s.seq
	} else if fromA != c.probeFromA || s.seq != c.probeSeq+uint32(len(c.probe)) {
		// The other side spoke too, or the bytes came out of order: MQTT
		// and WebSocket clients speak first, in order.
		c.kind, c.probe = kindIgnored, nil
		return false
	}
	c.probe = append(c.probe, s.payload...)
	proto, decided := firstBytes(c.probe)
	switch {
	case proto != "":
		prior := c.probe[:len(c.probe)-len(s.payload)]
		d.learn(c, fromA, s, proto, prior)
		c.probe = nil
		return true
	case decided || len(c.probe) >= 4096:
		c.kind, c.probe = kindIgnored, nil
	}
	return false
}

// firstBytes judges a client's first bytes: MQTT (a CONNECT), WebSocket
// (an upgrade asking for mqtt), or neither; decided is false while more
// bytes could still tell.
func firstBytes(b []byte) (Protocol, bool) {
	switch {
	case len(b) > 0 && b[0] == 0x10:
		if looksLikeConnect(b) {
			return ProtoMQTT, true
		}
		return "", len(b) >= 16
	case bytes.HasPrefix(b, []byte("GET ")) || bytes.HasPrefix([]byte("GET "), b):
		if looksLikeWSUpgrade(b) {
			return ProtoWS, true
		}
		return "", bytes.Contains(b, []byte("\r\n\r\n"))
	}
	return "", true
}

// learn decodes the connection and its port from now on. prior are the
// client's bytes before this segment, gathered while judging.
func (d *Decoder) learn(c *conn, fromA bool, s *segment, proto Protocol, prior []byte) {
	// The sender of the CONNECT is the client.
	c.clientIsA = fromA
	port := c.brokerPort()
	d.ports[port] = proto
	d.learned[port] = proto
	c.kind, c.proto = kindDecoded, proto
	// The broker's side starts after its SYN: it speaks only after the
	// client, so its stream starts at a packet too.
	for i, fromEndA := range []bool{true, false} {
		if c.synSeen[i] && fromEndA != fromA {
			b := &c.half[toClient]
			b.started, b.syn, b.aligned = true, true, true
			b.isn, b.nextSeq, b.maxEnd = c.synSeq[i], c.synSeq[i]+1, c.synSeq[i]+1
		}
	}
	h := &c.half[toBroker]
	start := s.seq - uint32(len(prior))
	h.started, h.aligned, h.nextSeq, h.maxEnd = true, true, start, start
	for i, fromEndA := range []bool{true, false} {
		if c.synSeen[i] && fromEndA == fromA {
			h.syn, h.isn = true, c.synSeq[i]
		}
	}
	if len(prior) > 0 {
		c.handler = c.newHandler()
		c.handler.data(toBroker, s.ts, prior)
		h.nextSeq += uint32(len(prior))
		h.maxEnd = h.nextSeq
		h.bytes += int64(len(prior))
	}
}

// looksLikeConnect is a CONNECT's start: type 1, a remaining length, then
// the protocol name MQTT or MQIsdp.
func looksLikeConnect(b []byte) bool {
	first, _, hlen, ok, _ := fixedHeader(b)
	if !ok || first != 0x10 || len(b) < hlen+8 {
		return false
	}
	v := b[hlen:]
	return bytes.HasPrefix(v, []byte("\x00\x04MQTT")) || bytes.HasPrefix(v, []byte("\x00\x06MQIsdp"))
}

// tcp handles one segment of a decoded connection: counters, then bytes
// in order (the fast path) or through the reassembler.
func (c *conn) tcp(dir int, s *segment) {
	h := &c.half[dir]
	h.packets++
	n := len(s.payload)
	if s.missing > 0 {
		c.d.an.res.Input.SnapCut++
	}
	h.bytes += int64(n + s.missing)
	if s.window == 0 && !s.syn && !s.fin && !s.rst {
		h.zeroWin++
	}
	if s.ackFlag && (!h.ackSeen || seqDiff(s.ack, h.ack) > 0) {
		h.ack, h.ackSeen = s.ack, true
	}
	if s.syn {
		if h.syn && s.seq+1 == h.nextSeq {
			h.retrans++
		}
		if !h.started {
			h.started, h.syn, h.aligned = true, true, true
			h.isn, h.nextSeq, h.maxEnd = s.seq, s.seq+1, s.seq+1
		}
	}
	if n > 0 && h.started {
		end := s.seq + uint32(n)
		if seqDiff(end, h.maxEnd) <= 0 {
			if !(n == 1 && s.seq+1 == h.maxEnd) { // a keep-alive probe is no retransmission
				h.retrans++
			}
		} else {
			if seqDiff(s.seq, h.maxEnd) < 0 {
				h.retrans++
			}
			h.maxEnd = end
		}
	}
	if c.handler == nil {
		c.handler = c.newHandler()
	}
	if c.asmMode || c.d.opts.Reassembly == ReassemblyFull {
		c.d.assembler().feed(c, dir, s)
	} else {
		c.fast(dir, s)
	}
	if s.rst {
		h.rst = true
		c.handler.closed(dir, s.ts, true)
		c.ended()
	}
	if s.fin && !h.fin {
		h.fin = true
		c.handler.closed(dir, s.ts, false)
	}
	if c.half[0].fin && c.half[1].fin {
		c.ended()
	}
}

// ended marks the connection over (FIN both ways, or RST): its buffers go
// back now, not at the capture's end. What the diagnosis still needs
// (open flows, figures) stays with it.
func (c *conn) ended() {
	if c.done {
		return
	}
	c.done = true
	if !c.asmMode && c.handler != nil {
		c.handler.release()
	}
}

// fast delivers a segment that continues its stream, trims a
// retransmitted overlap, and hands the connection to the reassembler at
// the first hole.
func (c *conn) fast(dir int, s *segment) {
	h := &c.half[dir]
	n := len(s.payload)
	if n == 0 && s.missing == 0 {
		if s.fin && h.started && s.seq == h.nextSeq {
			h.nextSeq++
		}
		return
	}
	if !h.started {
		// Joined mid-way: the framer resynchronises.
		h.started, h.nextSeq = true, s.seq
		if seqDiff(s.seq+uint32(n), h.maxEnd) > 0 {
			h.maxEnd = s.seq + uint32(n)
		}
	}
	diff := seqDiff(s.seq, h.nextSeq)
	switch {
	case diff > 0:
		if peer := &c.half[other(dir)]; peer.ackSeen && seqDiff(peer.ack, s.seq) >= 0 {
			// The peer acknowledged the hole: its bytes arrived but the
			// capture lost them, and they will never come.
			c.d.an.res.Input.Holes++
			c.handler.gap(dir, s.ts, diff)
			h.nextSeq = s.seq
			break
		}
		c.asmMode = true
		c.d.assembler().handover(c, dir, s)
		return
	case diff < 0:
		if seqDiff(s.seq+uint32(n), h.nextSeq) <= 0 {
			return // all of it was delivered already
		}
		s.payload = s.payload[-diff:]
	}
	c.handler.data(dir, s.ts, s.payload)
	h.nextSeq += uint32(len(s.payload))
	if s.missing > 0 {
		c.handler.gap(dir, s.ts, s.missing)
		h.nextSeq += uint32(s.missing)
	}
	if s.fin {
		h.nextSeq++
	}
}

// seqDiff is a-b in TCP sequence space.
func seqDiff(a, b uint32) int { return int(int32(a - b)) }

func (c *conn) newHandler() streamHandler {
	proto := c.proto
	if proto == "" {
		proto = c.d.portProtocol(c.brokerPort())
	}
	return &sniffer{c: c, hint: proto}
}

// portProtocol is what a decoded port carries when nothing else says.
func (d *Decoder) portProtocol(port uint16) Protocol {
	if p := d.ports[port]; p != "" {
		return p
	}
	if port == 8883 || port == 443 || port == 8884 {
		return ProtoTLS
	}
	return ProtoMQTT
}

func (c *conn) finish() {
	if c.handler != nil {
		c.handler.finish(c.d.lastTS)
		c.handler = nil
	}
}
