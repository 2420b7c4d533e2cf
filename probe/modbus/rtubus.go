package modbus

import (
	"bytes"
	"errors"
	"time"
)

// rxChunk is what the reader goroutine got from the port in one Read.
type rxChunk struct {
	b   []byte
	at  time.Time
	err error
}

// rtuBus is an open RTU byte stream with a reader that never stops while
// the bus is open: every byte is timestamped, split and accounted for, so
// replies that arrive late or twice are seen instead of left in a buffer to
// be blamed on the next address.
type rtuBus struct {
	port     Port
	now      func() time.Time
	settings SerialSettings
	rx       chan rxChunk
	sp       *Splitter
	queue    []Event
	lastRx   time.Time
	readErr  error
	rxw      watchedRx[rxChunk]
	// watch follows the host's clock (hostwatch.go).
	watch hostWatch

	// Echo stripping: the requests written lately and when. An echo can
	// come back after the next request went out when the host is slow.
	sent     []sentFrame
	echoSeen bool
	echoes   int

	// Sent frames, so foreign frames can be told from ours.
	noiseBytes int
}

func newRTUBus(p Port, s SerialSettings, now func() time.Time) *rtuBus {
	b := makeRTUBus(p, s, now)
	go b.readLoop()
	return b
}

// makeRTUBus is an rtuBus whose reader is not running yet.
func makeRTUBus(p Port, s SerialSettings, now func() time.Time) *rtuBus {
	b := &rtuBus{port: p, now: now, settings: s, rx: make(chan rxChunk, 256), sp: NewSplitter(Either), watch: hostWatch{now: now}}
	b.rxw = watchedRx[rxChunk]{ch: b.rx, at: func(c rxChunk) time.Time { return c.at }}
	b.sp.SetCharTime(s.CharTime())
	return b
}

func (b *rtuBus) readLoop() {
	for {
		buf := make([]byte, 512)
		n, err := b.port.Read(buf)
		if n > 0 {
			b.rx <- rxChunk{b: buf[:n], at: b.now()}
		}
		if err != nil {
			b.rx <- rxChunk{err: err, at: b.now()}
			return
		}
	}
}

type sentFrame struct {
	raw []byte
	at  time.Time
}

// stallGrace is how long bytes that start a frame still arriving may wait
// for the rest: a host under load or a USB adapter can stall delivery far
// longer than the line's silence threshold. On a host seen stalling lately
// the wait is twice the longest recent stall, since what delivers the bytes
// (a driver's thread, a serial server's TCP stack, the lab's simulation)
// may be stalled as long as the scanner was, at other moments.
const (
	stallGrace  = 100 * time.Millisecond
	stallRecent = 2 * time.Second
)

// errClosed is a port that went away (unplugged adapter, dropped TCP).
var errClosed = errors.New("bus connection closed")

// send writes an RTU request and remembers it for echo stripping.
func (b *rtuBus) send(frame []byte) (time.Time, error) {
	at := b.now()
	if len(b.sent) >= 8 {
		b.sent = append(b.sent[:0], b.sent[1:]...)
	}
	b.sent = append(b.sent, sentFrame{raw: frame, at: at})
	_, err := b.port.Write(frame)
	return at, err
}

// sendUnremembered writes a request whose answer is its exact copy (FC
// 05, 06) on an adapter not seen echoing: remembering it would strip the
// answer as an echo.
func (b *rtuBus) sendUnremembered(frame []byte) (time.Time, error) {
	at := b.now()
	_, err := b.port.Write(frame)
	return at, err
}

// awaitInterFrameGap listens until the line has been quiet for t3.5 since
// the last byte heard, handing hear what arrives meanwhile. Without it a
// request can start about a character after the previous answer (or a late
// one, or another master's frame), and a device that frames by silence
// (FreeModbus and most meter firmware) reads the two as one frame with a
// bad CRC and never answers. Modbus over serial line V1.02, 2.5.1.1. The
// client (read, write, watch) and the scanner (sweep, confirm) both wait
// here, so they leave the same gap.
func (b *rtuBus) awaitInterFrameGap(hear func(Event)) error {
	for !b.lastRx.IsZero() {
		end := b.lastRx.Add(interFrameGap(b.settings))
		if !b.now().Before(end) {
			return nil
		}
		ev, ok, err := b.next(end)
		if err != nil {
			return err
		}
		if ok {
			hear(ev)
		}
	}
	return nil
}

// interFrameGap is the protocol's t3.5: 3.5 character times, and a fixed
// 1.75 ms above 19200 baud as the specification recommends.
func interFrameGap(s SerialSettings) time.Duration {
	if s.Baud > 19200 {
		return 1750 * time.Microsecond
	}
	return s.WireTime(7) / 2
}

// next returns the next event from the bus, waiting until deadline. Echoes
// of our own last request are stripped here. ok is false when the deadline
// passed with nothing to report. Bytes still arriving at the deadline are
// waited for until the line falls silent, so a reply in flight is not cut.
func (b *rtuBus) next(deadline time.Time) (Event, bool, error) {
	for {
		if len(b.queue) > 0 {
			ev := b.queue[0]
			b.queue = b.queue[1:]
			if b.isEcho(ev) {
				continue
			}
			if ev.Kind == EvNoise {
				b.noiseBytes += len(ev.Raw)
			}
			return ev, true, nil
		}
		if b.readErr != nil {
			return Event{}, false, b.readErr
		}
		// What is due: the caller's deadline, or settling the bytes in
		// flight (even past the deadline, so a reply on its way is not cut).
		due, buffered := deadline, b.sp.Buffered() > 0
		if buffered {
			due = b.settleAt(deadline)
		}
		// The silence or timeout counts only if the scanner saw it pass
		// (hostwatch.go).
		if c, ok := b.rxw.recv(&b.watch, due); ok {
			b.accept(c)
			continue
		}
		if !buffered {
			return Event{}, false, nil
		}
		b.queue = append(b.queue, b.sp.Flush()...)
	}
}

// settleAt is when the bytes buffered are settled (Flush) if nothing more
// arrives: after the line's silence, or after stallGrace (twice the
// longest recent stall, when longer) for bytes that start a frame still
// arriving. A garbled answer whose declared length has all arrived is no
// frame still arriving (Splitter.AnswerWhole): only stalls actually seen
// lengthen its silence, so two devices answering at once cost a confirm
// poll the silence, not stallGrace. A line that never falls silent (noise,
// a babbling device) does not hold the caller past one maximal frame after
// its deadline.
func (b *rtuBus) settleAt(deadline time.Time) time.Time {
	grace := b.settings.Silence()
	if b.sp.Incomplete() {
		stalls := 2 * b.watch.recent(b.watch.seen, stallRecent)
		grace = max(grace, stallGrace, stalls)
		if b.sp.AnswerWhole() {
			grace = max(b.settings.Silence(), stalls)
		}
	}
	hardStop := deadline.Add(b.settings.WireTime(MaxRTU) + b.settings.Silence())
	return minTime(b.lastRx.Add(grace), hardStop)
}

func (b *rtuBus) accept(c rxChunk) {
	if c.err != nil {
		b.readErr = errClosed
		b.queue = append(b.queue, b.sp.Flush()...)
		return
	}
	b.lastRx = c.at
	b.queue = append(b.queue, b.sp.Feed(c.b, c.at)...)
}

// isEcho reports whether ev is our own request coming back: adapters without
// automatic receiver disable hear themselves on a two-wire bus.
func (b *rtuBus) isEcho(ev Event) bool {
	if ev.Kind != EvFrame {
		return false
	}
	for i, f := range b.sent {
		// An echo comes back within the request's own wire time plus
		// adapter latency; allow a generous second.
		if bytes.Equal(ev.Raw, f.raw) && ev.End.Sub(f.at) <= time.Second+b.settings.WireTime(len(f.raw)) {
			b.sent = append(b.sent[:i], b.sent[i+1:]...)
			b.echoSeen = true
			b.echoes++
			return true
		}
	}
	return false
}

// drain discards nothing: it returns every event already received or
// arriving before deadline.
func (b *rtuBus) drain(deadline time.Time) ([]Event, error) {
	var out []Event
	for {
		ev, ok, err := b.next(deadline)
		if !ok {
			return out, err
		}
		out = append(out, ev)
	}
}

func (b *rtuBus) close() error { return b.port.Close() }
