package modbus

import (
	"bytes"
	"testing"
	"time"
)

// stallClock is the wall clock, except that it jumps forward once, the
// first time it is read after armed says so: a host that did not run the
// scanner for a while. onJump runs at that moment, with the time after
// the jump (what the reader delivered meanwhile).
type stallClock struct {
	offset time.Duration
	jumped bool
	armed  func() bool
	by     time.Duration
	onJump func(now time.Time)
}

func (c *stallClock) now() time.Time {
	t := time.Now().Add(c.offset)
	if !c.jumped && c.armed() {
		c.jumped = true
		c.offset += c.by
		t = t.Add(c.by)
		c.onJump(t)
	}
	return t
}

// serverIDAnswer is a long answer: 44 bytes, 46 ms on the wire at 9600.
func serverIDAnswer() []byte {
	return EncodeRTU(3, ServerIDResponse(append([]byte{3, 0xFF}, "Schneider Electric iEM3255 3.0.12 S/N"...)))
}

// The host stops running the scanner in the middle of an answer; the rest
// of it reaches the kernel meanwhile and the reader hands it over as soon
// as the host runs again, but the scanner looks at its clock first. A gap
// it never watched is no silence: the answer is one frame, not a frame cut
// short and noise (before the fix: "truncated", then the tail as a CRC
// error at whichever address came next).
func TestAnAnswerReadAfterAHostStallIsNotCutInTwo(t *testing.T) {
	ans := serverIDAnswer()
	var b *rtuBus
	c := &stallClock{by: 300 * time.Millisecond}
	c.armed = func() bool { return b.sp.Buffered() > 0 } // the first part is in
	c.onJump = func(now time.Time) { b.rx <- rxChunk{b: ans[10:], at: now} }
	b = makeRTUBus(nil, DefaultSerial, c.now)
	t0 := c.now()
	b.rx <- rxChunk{b: ans[:10], at: t0}
	ev, ok, err := b.next(t0.Add(time.Second))
	if err != nil || !ok || ev.Kind != EvFrame || !bytes.Equal(ev.Raw, ans) {
		t.Fatalf("event %v % X (ok %v, %v): want the whole answer as one frame", ev.Kind, ev.Raw, ok, err)
	}
	if !b.watch.stalledDuring(t0, ev.End) {
		t.Errorf("stalls %+v: want the host's stall seen", b.watch.stalls)
	}
}

// The same when the reader hands the rest over only after the scanner
// has looked at its clock once more: the scanner waits for it to have
// had its turn before it calls the line silent.
func TestAfterAHostStallTheReaderHasItsTurnBeforeSilenceIsJudged(t *testing.T) {
	ans := serverIDAnswer()
	var b *rtuBus
	reads := 0
	c := &stallClock{by: 300 * time.Millisecond}
	c.armed = func() bool { return b.sp.Buffered() > 0 }
	c.onJump = func(time.Time) {}
	now := func() time.Time {
		t := c.now()
		if c.jumped {
			if reads++; reads == 3 { // two looks after the stall
				b.rx <- rxChunk{b: ans[10:], at: t}
			}
		}
		return t
	}
	b = makeRTUBus(nil, DefaultSerial, now)
	t0 := now()
	b.rx <- rxChunk{b: ans[:10], at: t0}
	ev, ok, err := b.next(t0.Add(time.Second))
	if err != nil || !ok || ev.Kind != EvFrame || !bytes.Equal(ev.Raw, ans) {
		t.Fatalf("event %v % X (ok %v, %v): want the whole answer as one frame", ev.Kind, ev.Raw, ok, err)
	}
}

// An answer that came while the host was not running the scanner, past
// the request's deadline by the scanner's clock, is the answer: not a
// timeout followed by a "late reply".
func TestAnAnswerThatCameDuringAHostStallIsNoTimeout(t *testing.T) {
	ans := EncodeRTU(1, RegistersResponse(FuncReadHoldingRegisters, []uint16{2300}))
	var b *rtuBus
	waiting := false
	c := &stallClock{by: 300 * time.Millisecond}
	c.armed = func() bool { return waiting }
	c.onJump = func(now time.Time) { b.rx <- rxChunk{b: ans, at: now} }
	b = makeRTUBus(nil, DefaultSerial, c.now)
	t0 := c.now()
	if _, ok, _ := b.next(t0); ok { // the scanner has looked at its clock before
		t.Fatal("an event from an empty line")
	}
	waiting = true
	ev, ok, err := b.next(t0.Add(100 * time.Millisecond))
	if err != nil || !ok || ev.Kind != EvFrame || !bytes.Equal(ev.Raw, ans) {
		t.Fatalf("event %v % X (ok %v, %v): want the answer", ev.Kind, ev.Raw, ok, err)
	}
}

// Without a stall, an answer the reader stamped after the deadline is
// late: the deadline passes first, and the answer comes next.
func TestAnAnswerStampedAfterTheDeadlineIsLateWithoutAStall(t *testing.T) {
	ans := EncodeRTU(1, RegistersResponse(FuncReadHoldingRegisters, []uint16{2300}))
	b := makeRTUBus(nil, DefaultSerial, time.Now)
	t0 := time.Now()
	b.rx <- rxChunk{b: ans, at: t0.Add(50 * time.Millisecond)}
	if ev, ok, err := b.next(t0.Add(10 * time.Millisecond)); ok || err != nil {
		t.Fatalf("event %v % X before the deadline passed (%v): want none", ev.Kind, ev.Raw, err)
	}
	if ev, ok, err := b.next(t0.Add(time.Second)); !ok || err != nil || !bytes.Equal(ev.Raw, ans) {
		t.Fatalf("event %v % X (ok %v, %v): want the late answer", ev.Kind, ev.Raw, ok, err)
	}
}

func TestHostWatchTellsStallsFromOnTimeLooks(t *testing.T) {
	t0 := time.Now()
	var w hostWatch
	w.look(t0, t0, true)
	w.look(t0.Add(6*time.Millisecond), t0.Add(5*time.Millisecond), true) // 1 ms late: on time
	if w.Stalls != 0 || !w.settled(t0.Add(6*time.Millisecond)) {
		t.Fatalf("stalls %d: a look 1 ms late is no stall", w.Stalls)
	}
	w.look(t0.Add(400*time.Millisecond), t0.Add(10*time.Millisecond), true)
	if w.Stalls != 1 || w.Longest != 390*time.Millisecond {
		t.Fatalf("stalls %d longest %v: want one of 390 ms", w.Stalls, w.Longest)
	}
	// The reader gets half the stall to deliver what arrived meanwhile.
	if w.settled(t0.Add(500*time.Millisecond)) || !w.settled(t0.Add(595*time.Millisecond)) {
		t.Errorf("settled too early or too late after a 390 ms stall")
	}
	if !w.stalledDuring(t0.Add(300*time.Millisecond), t0.Add(450*time.Millisecond)) || w.stalledDuring(t0.Add(450*time.Millisecond), t0.Add(time.Second)) {
		t.Errorf("stalledDuring does not match the stall %+v", w.stalls)
	}
}

// On a host that stalled lately, what delivers the bytes (a driver's
// thread, a serial server's TCP stack, the lab's simulation) may stall as
// long at moments the scanner happens to run: a frame's rest that comes
// 250 ms after its start, a second after a 150 ms stall of the scanner,
// still completes it.
func TestAfterRecentStallsAFrameMayPauseLonger(t *testing.T) {
	ans := serverIDAnswer()
	b := makeRTUBus(nil, DefaultSerial, time.Now)
	t0 := time.Now()
	b.watch.look(t0.Add(-2*time.Second), t0.Add(-2*time.Second), true)
	b.watch.look(t0.Add(-time.Second), t0.Add(-time.Second-150*time.Millisecond), true)
	b.watch.look(time.Now(), time.Now(), true) // on time since
	b.rx <- rxChunk{b: ans[:10], at: t0}
	b.rx <- rxChunk{b: ans[10:], at: t0.Add(250 * time.Millisecond)}
	ev, ok, err := b.next(t0.Add(time.Second))
	if err != nil || !ok || ev.Kind != EvFrame || !bytes.Equal(ev.Raw, ans) {
		t.Fatalf("event %v % X (ok %v, %v): want the whole answer as one frame", ev.Kind, ev.Raw, ok, err)
	}
	// On a host that has not stalled, 250 ms of silence cut it short.
	b = makeRTUBus(nil, DefaultSerial, time.Now)
	b.rx <- rxChunk{b: ans[:10], at: t0}
	b.rx <- rxChunk{b: ans[10:], at: t0.Add(250 * time.Millisecond)}
	if ev, ok, err := b.next(t0.Add(time.Second)); err != nil || !ok || ev.Kind != EvTruncated {
		t.Fatalf("event %v % X (ok %v, %v): want the start cut short", ev.Kind, ev.Raw, ok, err)
	}
}

func TestLatencyGroupsNeedAGapBeyondTheHostsStalls(t *testing.T) {
	ms := time.Millisecond
	l := []time.Duration{20 * ms, 60 * ms, 21 * ms, 61 * ms, 20 * ms}
	if latencyGroups(l, 0) == "" {
		t.Fatal("40 ms apart on a steady host: want two groups")
	}
	if g := latencyGroups(l, 30*ms); g != "" {
		t.Fatalf("40 ms apart on a host that stalled for 30 ms: groups %q", g)
	}
}

// fakeClock is a clock that moves only when read: by step each read, and
// by more at the reads jumps names (a stall of the host), running at[n]
// at read n (what the reader goroutine does meanwhile).
type fakeClock struct {
	t     time.Time
	step  time.Duration
	reads int
	jumps map[int]time.Duration
	at    map[int]func(now time.Time)
}

func (c *fakeClock) now() time.Time {
	c.reads++
	c.t = c.t.Add(c.jumps[c.reads])
	now := c.t
	c.t = c.t.Add(c.step)
	if f := c.at[c.reads]; f != nil {
		f(now)
	}
	return now
}

// With a fake clock, watchedRx.recv judges a timeout the moment it is due
// on a host that runs the scanner on time, but after a stall it waits for
// the reader's turn: a value the reader hands over after the stall, past
// the deadline by the clock, is taken, and the stall covers its latency.
func TestHostWatchDefersJudgementAfterAStallWithAFakeClock(t *testing.T) {
	ms := time.Millisecond
	t0 := time.Unix(1000, 0)
	due := t0.Add(20 * ms)
	for _, c := range []struct {
		name   string
		jumps  map[int]time.Duration
		sendAt int // the clock read at which the reader delivers
		want   bool
	}{
		{"on time: the timeout stands", nil, 6, false},
		{"a 300 ms stall while waiting: the answer is taken", map[int]time.Duration{2: 300 * ms}, 4, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := make(chan time.Time, 1)
			clk := &fakeClock{t: t0, step: 5 * ms, jumps: c.jumps, at: map[int]func(time.Time){c.sendAt: func(now time.Time) { ch <- now }}}
			w := hostWatch{now: clk.now}
			rx := watchedRx[time.Time]{ch: ch, at: func(at time.Time) time.Time { return at }}
			at, ok := rx.recv(&w, due)
			if ok != c.want {
				t.Fatalf("recv = %v, %v (clock read %d times, stalls %+v): want ok %v", at, ok, clk.reads, w.stalls, c.want)
			}
			if !ok {
				if w.Stalls != 0 || w.stalledDuring(t0, due) {
					t.Errorf("stalls %+v on a host that ran the scanner on time", w.stalls)
				}
				return
			}
			if !at.After(due) || w.Stalls != 1 || w.Longest != 300*ms {
				t.Errorf("answer at %v (due %v), stalls %d longest %v: want one of 300 ms, answer past due", at.Sub(t0), due.Sub(t0), w.Stalls, w.Longest)
			}
			if !w.stalledDuring(t0, at) {
				t.Errorf("the latency across the stall is not marked as the host's")
			}
		})
	}
}
