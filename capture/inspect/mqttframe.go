package inspect

import (
	"time"
	"unicode/utf8"
)

// MQTT control packet types (the high nibble of the first byte).
const (
	typeConnect     = 1
	typeConnack     = 2
	typePublish     = 3
	typePuback      = 4
	typePubrec      = 5
	typePubrel      = 6
	typePubcomp     = 7
	typeSubscribe   = 8
	typeSuback      = 9
	typeUnsubscribe = 10
	typeUnsuback    = 11
	typePingreq     = 12
	typePingresp    = 13
	typeDisconnect  = 14
	typeAuth        = 15
)

// maxRemaining is the largest remaining length MQTT can express.
const maxRemaining = 268435455

// fixedHeader parses the fixed header at the start of b: the first byte,
// the remaining length and the header's own length. ok is false when b
// is too short to tell; bad when the length is not a valid variable byte
// integer.
func fixedHeader(b []byte) (first byte, remaining, hlen int, ok, bad bool) {
	if len(b) < 2 {
		return 0, 0, 0, false, false
	}
	first = b[0]
	mult := 1
	for i := 1; i < 5; i++ {
		if i >= len(b) {
			return 0, 0, 0, false, false
		}
		c := b[i]
		remaining += int(c&0x7f) * mult
		if c&0x80 == 0 {
			return first, remaining, i + 1, true, false
		}
		mult <<= 7
	}
	return 0, 0, 0, false, true
}

// flagsValid reports whether the low nibble is what the type allows
// (PUBLISH: any but QoS 3; PUBREL, SUBSCRIBE, UNSUBSCRIBE: 0010; the
// others: 0000). Type 0 is reserved.
func flagsValid(first byte) bool {
	typ, flags := first>>4, first&0x0f
	switch typ {
	case 0:
		return false
	case typePublish:
		return flags&0x06 != 0x06
	case typePubrel, typeSubscribe, typeUnsubscribe:
		return flags == 0x02
	}
	return flags == 0
}

// plausibleBody is a resynchronisation test: could body (possibly only
// the start of it) begin a packet of this type and remaining length? It
// is stricter than the protocol needs, so random bytes rarely pass.
func plausibleBody(first byte, remaining int, body []byte) bool {
	typ := first >> 4
	switch typ {
	case typeConnect:
		if remaining < 10 || len(body) < 2 {
			return remaining >= 10
		}
		return (body[0] == 0 && body[1] == 4) || (body[0] == 0 && body[1] == 6)
	case typeConnack:
		if remaining < 2 || remaining > 4096 {
			return false
		}
		return len(body) < 1 || body[0] <= 1
	case typePuback, typePubrec, typePubrel, typePubcomp, typeUnsuback:
		if remaining < 2 || remaining > 4096 {
			return false
		}
		return len(body) < 2 || body[0] != 0 || body[1] != 0
	case typeSuback:
		return remaining >= 3 && remaining <= 65536
	case typeSubscribe, typeUnsubscribe:
		if remaining < 5 {
			return false
		}
		return len(body) < 2 || body[0] != 0 || body[1] != 0
	case typePingreq, typePingresp:
		return remaining == 0
	case typeDisconnect:
		return remaining <= 4096
	case typeAuth:
		return remaining <= 65536
	case typePublish:
		if remaining < 2 {
			return false
		}
		if len(body) < 2 {
			return true
		}
		tlen := int(body[0])<<8 | int(body[1])
		extra := 0
		if first&0x06 != 0 {
			extra = 2
		}
		if tlen+2+extra > remaining {
			return false
		}
		if tlen == 0 {
			return true // MQTT 5 topic alias
		}
		topic := body[2:]
		if len(topic) > tlen {
			topic = topic[:tlen]
		}
		for _, c := range topic {
			if c == 0 || c == '+' || c == '#' {
				return false
			}
		}
		// The topic may be cut at a segment's end: judge what is there.
		for len(topic) > 0 {
			r, size := utf8.DecodeRune(topic)
			if r == utf8.RuneError && size <= 1 {
				return len(topic) < utf8.UTFMax && !utf8.FullRune(topic)
			}
			topic = topic[size:]
		}
		return true
	}
	return false
}

// pduSink receives whole control packets from a framer.
type pduSink interface {
	// pdu gets one control packet; its body is valid only during the
	// call. It returns false when the packet could not be decoded: right
	// after a resynchronisation (raw.tentative) that means the guess was
	// wrong, and the framer looks again.
	pdu(dir int, ts time.Time, raw *rawPDU) bool
	// framingLost reports bytes that could not be framed as MQTT.
	framingLost(dir int, ts time.Time, reason string)
}

// framer cuts one direction of an MQTT byte stream into control packets:
// several in one segment, one split over many, a stream joined mid-way or
// after a gap (it resynchronises on a plausible fixed header), and
// packets larger than it may buffer (kept head only, payload counted).
type framer struct {
	dir    int
	sink   pduSink
	limits *bufferLimits

	synced    bool
	tentative bool // synced by a guess that the next packet must confirm
	buf       []byte
	// For a packet larger than the buffer limit: its header, the head
	// kept, and the bytes of it still to skip.
	bigFirst byte
	bigTotal int
	skip     int
	raw      rawPDU
}

// bufferLimits bounds the bytes framers hold, per stream and in all.
type bufferLimits struct {
	perStream int
	total     int
	used      int
	// headKeep is how much of a too-large packet is kept to decode its
	// header fields (topic, packet id, properties).
	headKeep int
	// dropped counts packets whose start could not be buffered because
	// the total was used up.
	dropped int
}

func newFramer(dir int, sink pduSink, limits *bufferLimits, synced bool) *framer {
	return &framer{dir: dir, sink: sink, limits: limits, synced: synced}
}

// release gives the framer's buffer back (end of stream, idle).
func (f *framer) release() {
	f.limits.used -= cap(f.buf)
	f.buf = nil
}

// store appends b to the buffer, growing it within the limits; it returns
// false, and counts a drop, when they forbid it.
func (f *framer) store(b []byte) bool {
	need := len(f.buf) + len(b)
	if need > cap(f.buf) {
		if need > f.limits.perStream {
			f.limits.dropped++
			return false
		}
		newCap := min(max(need, 2*cap(f.buf), 64), f.limits.perStream)
		if f.limits.used+newCap-cap(f.buf) > f.limits.total {
			newCap = need
		}
		if f.limits.used+newCap-cap(f.buf) > f.limits.total {
			f.limits.dropped++
			return false
		}
		nb := make([]byte, len(f.buf), newCap)
		copy(nb, f.buf)
		f.limits.used += newCap - cap(f.buf)
		f.buf = nb
	}
	f.buf = append(f.buf, b...)
	return true
}

// drop abandons what is being gathered (the buffer limits were reached):
// the stream resynchronises.
func (f *framer) drop() {
	f.synced, f.tentative = false, false
	f.clearBuf()
	f.skip, f.bigTotal = 0, 0
}

func (f *framer) clearBuf() {
	// Keep a small buffer for the next split packet; give big ones back.
	if cap(f.buf) > 4096 {
		f.release()
		return
	}
	f.buf = f.buf[:0]
}

// gap says bytes were lost (a hole the reassembler gave up on, bytes cut
// by the snap length): what was being assembled is dropped, and the
// stream resynchronises. A gap inside a packet being skipped only
// shortens the skip.
func (f *framer) gap(ts time.Time, n int) {
	if f.skip > 0 && n > 0 && n < f.skip {
		f.skip -= n
		return
	}
	if f.skip > 0 && n == f.skip {
		f.skip = 0
		f.emitBig(ts)
		return
	}
	// Bytes the capture lost are an input problem (counted as a hole),
	// not the peer's: the packet they cut is dropped without a word.
	f.clearBuf()
	f.skip = 0
	f.synced = false
}

// feed hands the framer the next bytes of its stream, in order.
func (f *framer) feed(ts time.Time, data []byte) {
	for len(data) > 0 {
		if f.skip > 0 {
			n := min(f.skip, len(data))
			f.skip -= n
			data = data[n:]
			if f.skip == 0 {
				f.emitBig(ts)
			}
			continue
		}
		if !f.synced {
			off, ok := f.resync(data)
			if !ok {
				return
			}
			f.synced, f.tentative = true, true
			data = data[off:]
			continue
		}
		if len(f.buf) > 0 {
			data = f.continuePartial(ts, data)
			continue
		}
		data = f.fromSegment(ts, data)
	}
}

// fromSegment takes whole packets straight out of data (the fast path:
// no copy) and buffers a packet cut at the end.
func (f *framer) fromSegment(ts time.Time, data []byte) []byte {
	first, rem, hlen, ok, bad := fixedHeader(data)
	if bad {
		f.lose(ts, "a fixed header with an invalid remaining length")
		return nil
	}
	if !ok {
		f.startPartial(data)
		return nil
	}
	total := hlen + rem
	if total <= len(data) {
		f.deliver(ts, first, hlen, data[hlen:total], total, false)
		return data[total:]
	}
	if total > f.limits.perStream {
		return f.startBig(first, hlen, rem, data)
	}
	f.startPartial(data)
	return nil
}

func (f *framer) startPartial(data []byte) {
	f.buf = f.buf[:0]
	if !f.store(data) {
		f.drop()
	}
}

// startBig keeps the head of a packet too large to buffer and skips the
// rest of it.
func (f *framer) startBig(first byte, hlen, rem int, data []byte) []byte {
	total := hlen + rem
	keep := min(hlen+f.limits.headKeep, total)
	f.bigFirst, f.bigTotal = first, total
	f.buf = f.buf[:0]
	if keep <= len(data) {
		if !f.store(data[:keep]) {
			f.drop()
			return data[keep:]
		}
		f.skip = total - keep
		return data[keep:]
	}
	// The head itself is cut: gather it first (continuePartial), then skip.
	if !f.store(data) {
		f.drop()
	}
	return nil
}

func (f *framer) continuePartial(ts time.Time, data []byte) []byte {
	if f.bigTotal > 0 {
		// Gathering the head of a large packet.
		keep := min(len(f.buf)+len(data), f.headLen())
		n := keep - len(f.buf)
		if !f.store(data[:n]) {
			f.drop()
			return data[n:]
		}
		data = data[n:]
		if len(f.buf) == f.headLen() {
			f.skip = f.bigTotal - len(f.buf)
			if f.skip == 0 {
				f.emitBig(ts)
			}
		}
		return data
	}
	first, rem, hlen, ok, bad := fixedHeader(f.buf)
	if !ok && !bad {
		// Complete the header a byte at a time (at most 4 bytes).
		if !f.store(data[:1]) {
			f.drop()
		}
		return data[1:]
	}
	if bad {
		f.lose(ts, "a fixed header with an invalid remaining length")
		return data
	}
	total := hlen + rem
	if total > f.limits.perStream {
		f.bigFirst, f.bigTotal = first, total
		f.clearBufKeep()
		return data
	}
	n := min(total-len(f.buf), len(data))
	if !f.store(data[:n]) {
		f.drop()
		return data[n:]
	}
	data = data[n:]
	if len(f.buf) == total {
		f.deliver(ts, first, hlen, f.buf[hlen:total], total, false)
		f.clearBuf()
	}
	return data
}

// clearBufKeep turns a partial packet that turned out too large into a
// kept head: what is buffered already stays (up to the head length).
func (f *framer) clearBufKeep() {
	if len(f.buf) > f.headLen() {
		f.skip = f.bigTotal - f.headLen()
		f.skip -= len(f.buf) - f.headLen()
		f.buf = f.buf[:f.headLen()]
	}
}

func (f *framer) headLen() int {
	_, _, hlen, _, _ := fixedHeader(f.buf)
	if hlen == 0 {
		hlen = 5
	}
	return min(hlen+f.limits.headKeep, f.bigTotal)
}

func (f *framer) emitBig(ts time.Time) {
	_, _, hlen, ok, _ := fixedHeader(f.buf)
	if ok {
		f.deliver(ts, f.bigFirst, hlen, f.buf[hlen:], f.bigTotal, true)
	}
	f.bigTotal = 0
	f.clearBuf()
}

func (f *framer) deliver(ts time.Time, first byte, hlen int, body []byte, total int, truncated bool) {
	f.raw = rawPDU{first: first, hlen: hlen, total: total, body: body, truncated: truncated, tentative: f.tentative}
	good := f.sink.pdu(f.dir, ts, &f.raw)
	if f.tentative {
		f.tentative = false
		if !good {
			// The resynchronisation guessed wrong: look again.
			f.synced = false
			f.clearBuf()
			f.skip, f.bigTotal = 0, 0
		}
	}
}

func (f *framer) lose(ts time.Time, why string) {
	if !f.tentative {
		f.sink.framingLost(f.dir, ts, why)
	}
	f.synced, f.tentative = false, false
	f.clearBuf()
	f.skip, f.bigTotal = 0, 0
}

// resync finds where packets start in data, a chunk of a stream whose
// framing is unknown (joined mid-way, after a gap). The start of a
// segment is tried first: senders write a packet at a time. Elsewhere a
// position counts only when a chain of at least two plausible packets
// runs from it to the end of data.
func (f *framer) resync(data []byte) (int, bool) {
	if n, _ := chainFrom(data, 0); n >= 1 {
		return 0, true
	}
	for i := 1; i < len(data)-1; i++ {
		if !flagsValid(data[i]) {
			continue
		}
		if n, complete := chainFrom(data, i); n >= 2 && complete >= 2 {
			return i, true
		}
	}
	return 0, false
}

// chainFrom follows plausible packets from off; it returns how many it
// found (the last may run past the end of data) and how many of them
// were complete, or 0 when the chain breaks before the end.
func chainFrom(data []byte, off int) (n, complete int) {
	for off < len(data) {
		first := data[off]
		if !flagsValid(first) {
			return 0, 0
		}
		_, rem, hlen, ok, bad := fixedHeader(data[off:])
		if bad {
			return 0, 0
		}
		if !ok {
			return n + 1, complete // a header cut at the end
		}
		if rem > 16<<20 {
			return 0, 0
		}
		end := off + hlen + rem
		body := data[off+hlen : min(end, len(data))]
		if !plausibleBody(first, rem, body) {
			return 0, 0
		}
		n++
		if end > len(data) {
			return n, complete
		}
		complete++
		off = end
	}
	return n, complete
}
