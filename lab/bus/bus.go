package bus

import (
	"container/heap"
	"errors"
	"slices"
	"sync"
	"time"
)

// step is how far the simulation advances line time at once while there is
// traffic. Devices react to what they received at the end of a step, so a
// device's reaction time (turnaround) must be at least one step for replies
// to land at exactly the line time the scenario says, whatever the
// scheduler does to this process.
const step = 250 * time.Microsecond

// ErrClosed is returned by a Port or Bus used after Close.
var ErrClosed = errors.New("lab bus: closed")

// Bus is a simulated RS-485 line with the devices of a scenario on it. Line
// time runs with the wall clock from the moment the bus starts; see the
// package documentation for the model.
type Bus struct {
	cfg   Config
	epoch time.Time
	// clock is the line time by the wall clock (tests replace it).
	clock func() time.Duration

	mu       sync.Mutex
	frontier time.Duration // line time simulated so far
	bursts   []*burst
	ports    []*Port
	events   eventQueue
	lineEnd  time.Duration // when the last transmission so far ends
	seq      int
	closed   bool
	stats    Stats

	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

// Stats count what happened on the line.
type Stats struct {
	// Bursts is the number of transmissions put on the line.
	Bursts int `json:"bursts"`
	// Collisions counts transmissions that overlapped another one.
	Collisions int `json:"collisions"`
	// Requests counts valid request frames the meters received.
	Requests int `json:"requests"`
	// Replies counts frames the meters sent.
	Replies int `json:"replies"`
}

// New starts a bus for the scenario: its meters and faults come alive and
// line time starts running. Attach ports, a PTY (OpenPTY), a transparent
// serial server (ServeRTUOverTCP) or a Modbus TCP gateway (ServeGateway) to
// talk to it. Close stops it.
func New(cfg Config) (*Bus, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := newBus(cfg)
	b.wg.Add(1)
	go b.run()
	return b, nil
}

// newBus sets the scenario up at line time 0 without running it.
func newBus(cfg Config) *Bus {
	b := &Bus{cfg: cfg, epoch: time.Now(), kick: make(chan struct{}, 1), done: make(chan struct{})}
	b.clock = func() time.Duration { return time.Since(b.epoch) }
	b.mu.Lock()
	for i := range cfg.Meters {
		newMeter(b, &cfg.Meters[i], i)
	}
	startFaults(b)
	b.mu.Unlock()
	return b
}

// Config is the scenario the bus runs, with its defaults filled in.
func (b *Bus) Config() Config {
	c := b.cfg
	c.Meters = slices.Clone(c.Meters)
	return c
}

// Settings are the bus's line settings (what every meter on it uses).
func (b *Bus) Settings() Settings { return b.cfg.Settings }

// Stats returns the line's counters so far.
func (b *Bus) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// Close stops the simulation and every port. It is safe to call twice.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for _, p := range b.ports {
		p.closeLocked()
	}
	b.mu.Unlock()
	close(b.done)
	b.wg.Wait()
	return nil
}

// now is the current line time by the wall clock.
func (b *Bus) now() time.Duration { return b.clock() }

// transmit puts data on the line from p, starting no earlier than at, after
// p's previous burst and never in the simulated past. It returns the line
// time the last character ends. Callers hold b.mu.
func (b *Bus) transmit(p *Port, data []byte, s Settings, at time.Duration) time.Duration {
	if len(data) == 0 {
		return max(at, p.txEnd)
	}
	start := max(at, p.txEnd, b.frontier)
	x := newBurst(p, start, s, data)
	for _, o := range b.bursts {
		if o.src != p && o.start < x.end && x.start < o.end {
			b.stats.Collisions++
			break
		}
	}
	b.bursts = append(b.bursts, x)
	b.lineEnd = max(b.lineEnd, x.end)
	b.stats.Bursts++
	p.txEnd = x.end
	b.wake()
	return x.end
}

// transmitLevels puts raw line levels on the line (noise).
func (b *Bus) transmitLevels(p *Port, levels []byte, baud int, at time.Duration) {
	start := max(at, b.frontier)
	x := &burst{src: p, start: start, baud: baud, levels: levels, end: start + bitOffset(baud, len(levels))}
	b.bursts = append(b.bursts, x)
	b.lineEnd = max(b.lineEnd, x.end)
	b.wake()
}

func (b *Bus) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// after schedules fn at line time at, run by the simulation with b.mu held.
func (b *Bus) after(at time.Duration, fn func(at time.Duration)) {
	b.seq++
	heap.Push(&b.events, event{at: at, seq: b.seq, fn: fn})
	b.wake()
}

// run is the simulation loop: it keeps line time in step with the wall
// clock, decoding every receiver as the line time passes.
func (b *Bus) run() {
	defer b.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		b.mu.Lock()
		b.advance(b.now())
		wakeAt := b.nextWork()
		b.mu.Unlock()
		d := time.Hour
		if wakeAt != never {
			d = max(wakeAt-b.now(), 0)
		}
		timer.Reset(d)
		select {
		case <-b.done:
			return
		case <-b.kick:
		case <-timer.C:
		}
	}
}

// busy reports whether something is in flight at line time t: a burst on
// the line, a receiver inside a character, a device waiting for silence.
func (b *Bus) busy(t time.Duration) bool {
	for _, x := range b.bursts {
		if x.start <= t+step && x.end > t {
			return true
		}
	}
	return b.deciding()
}

// deciding reports whether a receiver is inside a character or a device is
// waiting for silence to act on what it heard (a meter about to answer).
func (b *Bus) deciding() bool {
	for _, p := range b.ports {
		if p.rx.inChar || p.waiting() {
			return true
		}
	}
	return false
}

// nextWork is the line time the loop must run next (never when idle).
func (b *Bus) nextWork() time.Duration {
	if b.busy(b.frontier) {
		return b.frontier + step
	}
	n := never
	if len(b.events) > 0 {
		n = b.events[0].at
	}
	for _, x := range b.bursts {
		if x.end > b.frontier && x.start < n {
			n = x.start
		}
	}
	return n
}

// advance simulates line time up to target in steps.
func (b *Bus) advance(target time.Duration) {
	for b.frontier < target {
		next := b.frontier + step
		if !b.busy(b.frontier) {
			jump := target
			if len(b.events) > 0 {
				jump = min(jump, b.events[0].at)
			}
			for _, x := range b.bursts {
				if x.end > b.frontier {
					jump = min(jump, x.start)
				}
			}
			next = max(next, jump)
		}
		next = min(next, target)
		for len(b.events) > 0 && b.events[0].at <= next {
			e := heap.Pop(&b.events).(event)
			b.frontier = max(b.frontier, e.at)
			e.fn(e.at)
		}
		for _, p := range b.ports {
			b.decode(p, next)
		}
		b.frontier = next
		for _, p := range b.ports {
			p.tick(next)
		}
		b.prune()
	}
}

// event is something a device does at a line time (a poll, a noise burst).
type event struct {
	at  time.Duration
	seq int
	fn  func(at time.Duration)
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}
