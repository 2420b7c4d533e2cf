package modbus

import (
	"errors"
	"fmt"
	"time"
)

// MaxRTU is the largest RTU frame: address, 253-byte PDU, CRC.
const MaxRTU = 256

// Frame is one RTU frame whose CRC checked out.
type Frame struct {
	Unit byte
	PDU  PDU
	// Dir is how the frame parsed: Request or Response.
	Dir Direction
	// Raw is the whole frame as received, address to CRC.
	Raw []byte
}

// EncodeRTU builds an RTU frame: address, PDU, CRC (low byte first).
func EncodeRTU(unit byte, p PDU) []byte {
	b := make([]byte, 0, 1+1+len(p.Data)+2)
	b = append(b, unit)
	b = p.AppendTo(b)
	return AppendCRC(b)
}

// validUnit reports whether an address byte may start a frame in direction d:
// requests go to 0 (broadcast) or 1-247, answers come from 1-247; 248-255 are
// reserved.
func validUnit(u byte, d Direction) bool {
	if u > 247 {
		return false
	}
	return u != 0 || d == Request
}

// DecodeRTU decodes exactly one RTU frame. dir says whether frame is a
// request or a response; Either accepts whichever parses with a valid CRC
// (Response first). It returns ErrCRC when the length fits but the CRC does
// not, ErrMalformed or ErrUnknownFunction when the length cannot fit.
func DecodeRTU(frame []byte, dir Direction) (Frame, error) {
	if len(frame) < 4 {
		return Frame{}, fmt.Errorf("%w: %d bytes is shorter than any RTU frame", ErrMalformed, len(frame))
	}
	var firstErr error
	for _, d := range order(dir) {
		if !validUnit(frame[0], d) {
			if firstErr == nil {
				firstErr = fmt.Errorf("%w: address %d cannot start a %v", ErrMalformed, frame[0], d)
			}
			continue
		}
		n, err := PDULen(frame[1:], d)
		if err == nil && 1+n+2 != len(frame) {
			err = fmt.Errorf("%w: %v of function 0x%02X is %d bytes, frame has %d", ErrMalformed, d, frame[1], 1+n+2, len(frame))
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if !CRCValid(frame) {
			return Frame{}, fmt.Errorf("%w: frame from/to %d", ErrCRC, frame[0])
		}
		return Frame{Unit: frame[0], PDU: PDU{Function: frame[1], Data: frame[2 : len(frame)-2]}, Dir: d, Raw: frame}, nil
	}
	return Frame{}, firstErr
}

// order lists the directions to try for dir, Response first for Either:
// answers are what a scanner waits for.
func order(dir Direction) []Direction {
	switch dir {
	case Request:
		return []Direction{Request}
	case Response:
		return []Direction{Response}
	case Either:
		return []Direction{Response, Request}
	}
	return nil
}

// EventKind says what a Splitter found in the byte stream.
type EventKind uint8

// Kinds of splitter events.
const (
	// EvFrame is a frame whose length fits its function code and whose CRC
	// is valid.
	EvFrame EventKind = iota + 1
	// EvCRCError is a run of bytes that starts like a frame (valid address,
	// known function) and has exactly the declared length, but a bad CRC.
	EvCRCError
	// EvTruncated starts like a frame but ends (silence, or the next valid
	// frame) before its declared length: a frame cut short or two answers
	// colliding.
	EvTruncated
	// EvNoise is bytes that do not start a frame.
	EvNoise
)

func (k EventKind) String() string {
	switch k {
	case EvFrame:
		return "frame"
	case EvCRCError:
		return "crc_error"
	case EvTruncated:
		return "truncated"
	case EvNoise:
		return "noise"
	}
	return "unknown"
}

// Event is one piece of the byte stream: a frame or bytes that are not one.
// Every byte fed to a Splitter ends up in exactly one Event's Raw, in order.
type Event struct {
	Kind EventKind
	// Frame is set for EvFrame.
	Frame Frame
	// Unit is the address byte as received (EvFrame, EvCRCError, EvTruncated).
	Unit byte
	// Raw holds the event's bytes.
	Raw []byte
	// Start and End are the arrival times of the first and last byte.
	Start, End time.Time
}

// Splitter cuts a stream of RTU bytes into frames by function-code length and
// CRC, not by timing: USB adapters deliver bytes in latency-timer chunks and
// schedulers jitter, so inter-character gaps cannot be observed from user
// space. Bytes that are not a valid frame are reported, never dropped:
// frames with a bad CRC, frames cut short, noise. Silence is only a hint:
// call Flush when the line has been quiet long enough (max(t3.5, 20 ms)) to
// settle what is still buffered.
//
// A Splitter is not safe for concurrent use.
type Splitter struct {
	dir Direction
	buf []byte
	// chunks are the arrival times of the bytes held: chunk i holds stream
	// offsets up to (not including) chunks[i].end.
	chunks []chunk
	out    []Event
	// base is the stream offset of buf[0]; scanned is the first stream
	// offset never examined; pending holds examined offsets that were
	// incomplete, ascending.
	base, scanned int
	pending       []int
	// charTime is one character's wire time (0: unknown); lastAt is the
	// time of the latest chunk fed.
	charTime time.Duration
	lastAt   time.Time
	// settling: the line fell silent (Flush), so a frame that may be the
	// start of a longer one in another direction is taken as it is.
	settling bool
}

// chunk is the bytes of one read: after is the previous read's time.
type chunk struct {
	end       int
	at, after time.Time
}

// timeOf is the arrival time of the byte at buffer offset i. A read returns
// many bytes at once (a USB adapter's latency timer, a TCP segment, a busy
// host): its last byte arrived when the read returned and each earlier one
// a character's wire time before, but none before the previous read.
func (s *Splitter) timeOf(i int) time.Time {
	abs := s.base + i
	for _, c := range s.chunks {
		if abs < c.end {
			t := c.at.Add(-time.Duration(c.end-1-abs) * s.charTime)
			if t.Before(c.after) {
				return c.after
			}
			return t
		}
	}
	return time.Time{}
}

// SetCharTime gives the splitter the wire time of one character at the
// line's settings (SerialSettings.CharTime), so frames that arrive in one
// read get their own times from their position in the byte stream instead
// of all carrying the read's.
func (s *Splitter) SetCharTime(d time.Duration) { s.charTime = max(0, d) }

// maxBuffered bounds the bytes held while waiting for a frame boundary: two
// maximal frames. Beyond it the oldest bytes are reported as noise.
const maxBuffered = 2 * MaxRTU

// NewSplitter returns a splitter expecting frames in direction dir (Request,
// Response or Either).
func NewSplitter(dir Direction) *Splitter {
	return &Splitter{dir: dir}
}

// SetDirection changes which frames the splitter expects from now on.
func (s *Splitter) SetDirection(dir Direction) { s.dir = dir }

// Buffered is the number of bytes held, not yet part of an event.
func (s *Splitter) Buffered() int { return len(s.buf) }

// Feed adds bytes received at time at and returns the events they complete.
// The returned events' Raw slices are owned by the caller.
func (s *Splitter) Feed(b []byte, at time.Time) []Event {
	if len(b) == 0 {
		return nil
	}
	s.buf = append(s.buf, b...)
	s.chunks = append(s.chunks, chunk{end: s.base + len(s.buf), at: at, after: s.lastAt})
	s.lastAt = at
	s.drain(false)
	return s.take()
}

// Incomplete reports whether the buffered bytes start like a frame whose
// declared length has not arrived yet. A silence in the middle of a frame
// breaks it on a real line, but a loaded host or a USB adapter can stall
// delivery past the silence threshold: callers may give such bytes longer
// before they Flush.
func (s *Splitter) Incomplete() bool {
	if len(s.buf) == 0 {
		return false
	}
	c, _, _ := s.tryAt(0)
	return c == candIncomplete
}

// AnswerWhole reports whether the buffered bytes start with an answer
// whose declared length has all arrived, whatever its CRC. Held back by
// Incomplete only as the possible start of a longer request (in Either
// mode a one-register answer, 7 bytes, reads as the start of an 8-byte
// request), such bytes are an answer that failed its CRC, two devices
// answering at once among the causes: nothing more is due for it, so a
// caller need not give it the long wait of a frame still arriving. Not
// for the shortest reading (5 bytes: an exception, or a byte count of 0),
// which the first bytes of most requests make (address, function, a start
// address's high byte of 0).
func (s *Splitter) AnswerWhole() bool {
	if len(s.buf) < 2 || s.dir == Request || !validUnit(s.buf[0], Response) {
		return false
	}
	n, err := pduLen(s.buf[1:], Response)
	return err == nil && n > 2 && len(s.buf) >= 1+n+2
}

// Flush settles everything buffered, as after a silence: complete frames are
// returned as frames, the rest as CRC errors, truncated frames or noise.
func (s *Splitter) Flush() []Event {
	s.drain(true)
	return s.take()
}

func (s *Splitter) take() []Event {
	out := s.out
	s.out = nil
	return out
}

type candidate int

const (
	candInvalid candidate = iota
	candIncomplete
	candValid
)

// tryAt tells whether a frame starts at offset i: valid (with its length and
// direction), incomplete (more bytes could make it valid) or invalid. In
// Either mode a frame's start can read both ways: the first 8 bytes of an
// answer read as a whole request when they happen to end in a valid CRC
// (one in 65536), while the answer they start is still arriving; taken for
// a request, they are another master on the bus. Such a request is
// incomplete until the answer it may start is settled: the answer's CRC
// fails, or the line falls silent (s.settling, in Flush), or a frame
// starts where the request ends (drain).
func (s *Splitter) tryAt(i int) (candidate, int, Direction) {
	c, n, d, longer := s.readAt(i)
	if c == candValid && longer && !s.settling {
		return candIncomplete, 0, 0
	}
	return c, n, d
}

// readAt is tryAt without waiting: the first valid reading at offset i,
// and whether a reading preferred to it (an answer, in Either mode) is
// still incomplete. A whole answer is never held back for a request it
// might start: answers are what a scanner waits for, and a one-register
// answer (7 bytes) always reads as the start of an 8-byte request.
func (s *Splitter) readAt(i int) (c candidate, n int, d Direction, longer bool) {
	c = candInvalid
	b := s.buf[i:]
	for _, dd := range order(s.dir) {
		if !validUnit(b[0], dd) {
			continue
		}
		l, err := pduLen(b[1:], dd)
		if err != nil {
			if errors.Is(err, ErrIncomplete) && c != candValid {
				c, longer = candIncomplete, true
			}
			continue
		}
		total := 1 + l + 2
		if len(b) < total {
			if c != candValid {
				c, longer = candIncomplete, true
			}
			continue
		}
		if c != candValid && CRCValid(b[:total]) {
			c, n, d = candValid, total, dd
		}
	}
	return c, n, d, longer
}

// declared is the length a frame starting at b declares in some expected
// direction (0 when b cannot start a frame). exact, when positive, is the
// length preferred if one direction matches it.
func (s *Splitter) declared(b []byte, exact int) int {
	best := 0
	for _, d := range order(s.dir) {
		if len(b) < 2 || !validUnit(b[0], d) {
			continue
		}
		n, err := pduLen(b[1:], d)
		switch {
		case errors.Is(err, ErrIncomplete):
			if best == 0 {
				best = len(b) + 1 // longer than what we have
			}
		case err != nil:
		default:
			if 1+n+2 == exact {
				return exact
			}
			if best == 0 {
				best = 1 + n + 2
			}
		}
	}
	return best
}

// earliestValid returns the buffer offset of the first whole frame with a
// valid CRC, or -1. Offsets found invalid stay invalid (their declared length
// and CRC only depend on bytes already held), so each is examined once;
// offsets that were incomplete are re-examined as bytes arrive. That keeps a
// noisy line fed byte by byte linear instead of cubic.
func (s *Splitter) earliestValid() (off, n int, d Direction) {
	keep := s.pending[:0]
	found := -1
	for _, p := range s.pending {
		if found >= 0 {
			keep = append(keep, p)
			continue
		}
		c, l, dd := s.tryAt(p - s.base)
		switch c {
		case candValid:
			found, n, d = p, l, dd
			keep = append(keep, p)
		case candIncomplete:
			keep = append(keep, p)
		}
	}
	s.pending = keep
	if found >= 0 {
		return found - s.base, n, d
	}
	for ; s.scanned < s.base+len(s.buf); s.scanned++ {
		c, l, dd := s.tryAt(s.scanned - s.base)
		switch c {
		case candValid:
			off := s.scanned - s.base
			s.pending = append(s.pending, s.scanned)
			s.scanned++
			return off, l, dd
		case candIncomplete:
			s.pending = append(s.pending, s.scanned)
		}
	}
	return -1, 0, 0
}

func (s *Splitter) drain(final bool) {
	s.settling = final
	defer func() { s.settling = false }()
	for len(s.buf) > 0 {
		off, n, d := s.earliestValid()
		if off > 0 {
			// A frame held back as the possible start of a longer one
			// ends where the next frame starts, or before: it was whole.
			if p, l, dd := s.heldBefore(off); p >= 0 {
				off, n, d = p, l, dd
			}
		}
		if off >= 0 {
			if off > 0 {
				s.emitJunk(off)
			}
			s.emitFrame(n, d)
			continue
		}
		if final {
			s.emitJunk(len(s.buf))
			return
		}
		if len(s.buf) > maxBuffered {
			s.emitJunk(len(s.buf) - maxBuffered)
			continue
		}
		return // wait for more bytes or a silence
	}
}

// heldBefore returns the first buffer offset before off where a frame is
// valid but held back by tryAt as the possible start of a longer one, and
// ends by off (-1 when there is none).
func (s *Splitter) heldBefore(off int) (int, int, Direction) {
	for _, p := range s.pending {
		i := p - s.base
		if i >= off {
			break
		}
		if c, n, d, _ := s.readAt(i); c == candValid && i+n <= off {
			return i, n, d
		}
	}
	return -1, 0, 0
}

func (s *Splitter) emitFrame(n int, d Direction) {
	raw := append([]byte(nil), s.buf[:n]...)
	s.out = append(s.out, Event{
		Kind:  EvFrame,
		Frame: Frame{Unit: raw[0], PDU: PDU{Function: raw[1], Data: raw[2 : n-2]}, Dir: d, Raw: raw},
		Unit:  raw[0], Raw: raw, Start: s.timeOf(0), End: s.timeOf(n - 1),
	})
	s.consume(n)
}

// emitJunk classifies the first k bytes, which hold no valid frame.
func (s *Splitter) emitJunk(k int) {
	for k > 0 {
		b := s.buf[:k]
		if l := s.declared(b, k); l > 0 {
			switch {
			case l == k:
				s.emit(EvCRCError, k)
				return
			case l > k:
				s.emit(EvTruncated, k)
				return
			default: // a bad frame, then more bytes
				s.emit(EvCRCError, l)
				k -= l
				continue
			}
		}
		// Noise up to the first offset from which the rest reads as one
		// frame with a bad CRC.
		j := 1
		for ; j < k; j++ {
			if s.declared(b[j:], k-j) == k-j {
				break
			}
		}
		s.emit(EvNoise, j)
		k -= j
	}
}

func (s *Splitter) emit(kind EventKind, n int) {
	raw := append([]byte(nil), s.buf[:n]...)
	ev := Event{Kind: kind, Raw: raw, Start: s.timeOf(0), End: s.timeOf(n - 1)}
	if kind != EvNoise {
		ev.Unit = raw[0]
	}
	// Consecutive noise is one event.
	if kind == EvNoise && len(s.out) > 0 && s.out[len(s.out)-1].Kind == EvNoise {
		last := &s.out[len(s.out)-1]
		last.Raw = append(last.Raw, raw...)
		last.End = ev.End
	} else {
		s.out = append(s.out, ev)
	}
	s.consume(n)
}

func (s *Splitter) consume(n int) {
	s.base += n
	s.scanned = max(s.scanned, s.base)
	keep := s.pending[:0]
	for _, p := range s.pending {
		if p >= s.base {
			keep = append(keep, p)
		}
	}
	s.pending = keep
	s.buf = append(s.buf[:0], s.buf[n:]...)
	k := 0
	for k < len(s.chunks) && s.chunks[k].end <= s.base {
		k++
	}
	s.chunks = append(s.chunks[:0], s.chunks[k:]...)
}
