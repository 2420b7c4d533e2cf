package modbus

import "time"

// A scanner on a loaded laptop, in a VM or on a CI runner under a CPU quota
// is not run for tens or hundreds of milliseconds at a time. The line does
// not stop meanwhile: an adapter's bytes wait in the kernel, a serial
// server's or a gateway's in the socket. When the host runs the scanner
// again, its timers tend to fire before its reader has read them (Go runs
// expired timers before it polls the network), so a silence or a timeout
// judged at that moment was never observed: a reply waiting in the kernel
// is cut into a "truncated" frame and its tail, or taken for no reply at
// all. And a latency measured across such a stall is the host's, not the
// device's.
//
// So the scanner watches the host's clock while it waits: it looks at the
// clock at least every watchSlice, and a look more than stallTolerance
// later than due is a stall. A silence or a timeout is judged only once the
// scanner has run on time for a while since the last stall (settleTime, or
// half the stall when that is longer), which gives the reader its turn at
// whatever arrived meanwhile; what the reader delivers before that is taken
// as having arrived in time. A real adapter hands over at once what its
// kernel buffered; the half stall is for what has to catch up on the same
// host first, such as the lab's simulated line, which replays the stalled
// line time step by step.
const (
	watchSlice     = 5 * time.Millisecond
	stallTolerance = 5 * time.Millisecond
	settleTime     = 10 * time.Millisecond
	// maxSettle bounds how long past due a judgement waits for a host that
	// never runs the scanner on time: the scan must end even there.
	maxSettle = time.Second
	// maxStalls is how many recent stalls are kept to judge latencies by.
	maxStalls = 64
)

// stallSpan is an interval of wall-clock time; waited says the scanner was
// waiting, so the host did not run it (otherwise it may have been busy).
type stallSpan struct {
	from, to time.Time
	waited   bool
}

// hostWatch follows whether the host runs the scanner on time. The zero
// value watches time.Now.
type hostWatch struct {
	now    func() time.Time
	timer  *time.Timer
	seen   time.Time // the last look at the clock
	back   time.Time // when the host last came back from a stall
	settle time.Duration
	stalls []stallSpan // recent stalls, oldest first
	// Stalls counts the stalls seen; Longest is the longest.
	Stalls  int
	Longest time.Duration
}

func (w *hostWatch) clock() time.Time {
	if w.now == nil {
		return time.Now()
	}
	return w.now()
}

// look records a look at the clock at now that was due at expected: later
// than stallTolerance means the host did not run the scanner in between.
// After a wait, that is a stall of the host, and counted. Between two calls
// it may also be the scanner's own work (rendering progress, say): it is
// treated like a stall all the same, but not counted as one.
func (w *hostWatch) look(now, expected time.Time, waited bool) {
	if late := now.Sub(expected); !w.seen.IsZero() && late > stallTolerance {
		w.settle = max(settleTime, late/2, w.settle-now.Sub(w.back))
		w.back = now
		if len(w.stalls) == maxStalls {
			w.stalls = append(w.stalls[:0], w.stalls[1:]...)
		}
		w.stalls = append(w.stalls, stallSpan{expected, now, waited})
		if waited {
			w.Stalls++
			w.Longest = max(w.Longest, late)
		}
	}
	w.seen = now
}

// settled reports whether the scanner has run on time long enough since
// the host's last stall for the reader to have had its turn.
func (w *hostWatch) settled(now time.Time) bool {
	return now.Sub(w.back) >= w.settle
}

// recent is the longest stall of the host that ended within d before t.
func (w *hostWatch) recent(t time.Time, d time.Duration) time.Duration {
	var longest time.Duration
	for _, s := range w.stalls {
		if s.waited && !s.to.Before(t.Add(-d)) && !s.to.After(t) {
			longest = max(longest, s.to.Sub(s.from))
		}
	}
	return longest
}

// stalledDuring reports whether the host stalled between from and to.
func (w *hostWatch) stalledDuring(from, to time.Time) bool {
	for _, s := range w.stalls {
		if s.from.Before(to) && s.to.After(from) {
			return true
		}
	}
	return false
}

// watchedRx is the channel a reader goroutine delivers on, each value
// stamped by the reader with its arrival time.
type watchedRx[T any] struct {
	ch   <-chan T
	at   func(T) time.Time
	held *T // received, arrived after the due time of the call that took it
}

// recv returns the next value that arrived before due, waiting for it while
// watching the host's clock. ok is false once due has passed and the
// scanner saw it pass: either a value arrived after due (it is held for
// the next call), or nothing arrived and the host has settled. A value that
// arrives after due across a stall of the host is returned: it may well
// have come in time, only to be read late.
func (r *watchedRx[T]) recv(w *hostWatch, due time.Time) (v T, ok bool) {
	for {
		now := w.clock()
		w.look(now, w.seen, false)
		if r.held == nil {
			select {
			case x := <-r.ch:
				r.held = &x
			default:
			}
		}
		if r.held != nil {
			x := *r.held
			if at := r.at(x); at.Before(due) || w.stalledDuring(due.Add(-settleTime), at) {
				r.held = nil
				return x, true
			}
			return v, false // everything before it has been read: due passed in silence
		}
		wait := due.Sub(now)
		if wait <= 0 {
			if w.settled(now) || -wait > maxSettle {
				return v, false
			}
			wait = w.settle - now.Sub(w.back)
		}
		r.wait(w, now, min(wait, watchSlice))
	}
}

// wait takes what arrives within d, then looks at the clock.
func (r *watchedRx[T]) wait(w *hostWatch, now time.Time, d time.Duration) {
	if w.timer == nil {
		w.timer = time.NewTimer(d)
	} else {
		w.timer.Reset(d)
	}
	select {
	case x := <-r.ch:
		w.timer.Stop()
		r.held = &x
		// The value woke the scanner when the reader sent it.
		w.look(w.clock(), maxTime(now, minTime(now.Add(d), r.at(x))), true)
	case <-w.timer.C:
		w.look(w.clock(), now.Add(d), true)
	}
}
