package bus

import (
	"time"
)

// Port is one transceiver on the bus: a meter, the gateway, the PTY or TCP
// adapter a master uses. A port transmits and receives with its own UART
// settings; when they differ from the bus's, what it sends and hears is
// garbled the way a real UART garbles it.
type Port struct {
	bus      *Bus
	name     string
	settings Settings
	echo     bool
	rx       decoder
	txEnd    time.Duration
	closed   bool

	// A device inside the simulation (meter, gateway) sees characters and
	// the passing of line time directly.
	onChar  func(rxChar)
	onTick  func(t time.Duration)
	pending func() bool
	device  any // the *meter or gateway behind the port

	// An adapter outside it gets bytes in chunks, one per simulation step.
	filter  func(dst []byte, c rxChar) []byte
	inbox   []byte
	out     chan []byte
	sent    uint64 // chunks handed to out so far: a reader numbers what it takes
	overrun int    // chunks dropped because the reader fell behind
	// Frames waiting for a quiet line (writeWhenQuiet).
	queued [][]byte
}

// Attach adds an adapter port with UART settings s (usually the bus's). An
// echoing port also hears its own transmission, like adapters that do not
// disable their receiver while sending.
func (b *Bus) Attach(name string, s Settings, echo bool) (*Port, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return b.attach(&Port{name: name, settings: s, echo: echo}, nil)
}

// attach puts an adapter port on the line, with its receive filter set
// before the simulation can see it.
func (b *Bus) attach(p *Port, filter func(dst []byte, c rxChar) []byte) (*Port, error) {
	p.bus, p.filter, p.out = b, filter, make(chan []byte, 4096)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	b.addPort(p)
	return p, nil
}

// addPort puts p on the line from now on. Callers hold b.mu.
func (b *Bus) addPort(p *Port) {
	p.rx.cursor = b.frontier
	p.txEnd = b.frontier
	b.ports = append(b.ports, p)
}

// Name is the port's label ("pty", "rtuovertcp 127.0.0.1:50211", "meter 17a").
func (p *Port) Name() string { return p.name }

// Write transmits data at the port's settings, starting now or when the
// port's previous transmission ends. It returns at once; the bytes take
// their wire time on the line.
func (p *Port) Write(data []byte) (int, error) {
	b := p.bus
	// The bytes reached the adapter now. The simulation may hold the lock
	// a while, catching up on line time after the host starved it; a real
	// adapter would not have waited for that, so neither does the line.
	at := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.closed {
		return 0, ErrClosed
	}
	b.transmit(p, data, p.settings, at)
	return len(data), nil
}

// writeWhenQuiet transmits data once the line has been quiet for t3.5
// after everything on it, answers included, and after what this port
// queued before: the next request of a master that waits for the answer to
// its last one (or its timeout) before asking again.
func (p *Port) writeWhenQuiet(data []byte) error {
	b := p.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.queued = append(p.queued, append([]byte(nil), data...))
	if len(p.queued) == 1 {
		b.after(max(b.now(), p.txEnd), p.sendQueued)
	}
	return nil
}

// sendQueued is the simulation's event that sends the first queued frame
// when the line is quiet, and schedules the next. Runs with b.mu held.
func (p *Port) sendQueued(at time.Duration) {
	b := p.bus
	if p.closed || len(p.queued) == 0 {
		p.queued = nil
		return
	}
	quietFrom := b.lineEnd + p.settings.Silence()
	if at < quietFrom || b.deciding() {
		b.after(max(quietFrom, at+step), p.sendQueued)
		return
	}
	b.transmit(p, p.queued[0], p.settings, at)
	p.queued = p.queued[1:]
	if len(p.queued) > 0 {
		b.after(p.txEnd, p.sendQueued)
	}
}

// Drain returns the line time left until the port's last byte is on the
// wire (zero when it is idle).
func (p *Port) Drain() time.Duration {
	b := p.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(p.txEnd-b.now(), 0)
}

// Recv delivers what the port's UART received, in chunks as line time
// passes. It is closed when the port or the bus closes.
func (p *Port) Recv() <-chan []byte { return p.out }

// Settings are the port's current UART settings.
func (p *Port) Settings() Settings {
	p.bus.mu.Lock()
	defer p.bus.mu.Unlock()
	return p.settings
}

// SetSettings changes the port's UART settings (a master reconfiguring its
// adapter).
func (p *Port) SetSettings(s Settings) {
	p.bus.mu.Lock()
	defer p.bus.mu.Unlock()
	p.settings = s
}

// Close takes the port off the bus.
func (p *Port) Close() error {
	b := p.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closeLocked()
	for i, q := range b.ports {
		if q == p {
			b.ports = append(b.ports[:i], b.ports[i+1:]...)
			break
		}
	}
	return nil
}

func (p *Port) closeLocked() {
	if p.closed {
		return
	}
	p.closed = true
	if p.out != nil {
		close(p.out)
	}
}

// received takes one character from the port's UART.
func (p *Port) received(c rxChar) {
	if p.onChar != nil {
		p.onChar(c)
		return
	}
	if p.filter != nil {
		p.inbox = p.filter(p.inbox, c)
		return
	}
	p.inbox = append(p.inbox, c.c)
}

// tick runs at the end of each simulation step.
func (p *Port) tick(t time.Duration) {
	if p.onTick != nil {
		p.onTick(t)
	}
	if len(p.inbox) == 0 || p.closed || p.out == nil {
		return
	}
	select {
	case p.out <- p.inbox:
		p.sent++
	default:
		p.overrun++
	}
	p.inbox = nil
}

func (p *Port) waiting() bool { return p.pending != nil && p.pending() }

// framer cuts what a device receives into frames by silence, as Modbus RTU
// devices do: a frame ends when the line stays quiet for t3.5. The framer
// remembers where the last character the UART flagged (framing or parity
// error) sits: onFrame gets cleanFrom, the index after it (0 when every
// character was clean). Real devices drop a frame with a flagged character,
// but may still find a clean request at its tail (meter.request).
type framer struct {
	silence   time.Duration
	buf       []byte
	cleanFrom int
	last      time.Duration
	onFrame   func(frame []byte, cleanFrom int, last time.Duration)
}

func (f *framer) char(c rxChar) {
	if len(f.buf) > 0 && c.at-f.last >= f.silence {
		f.flush()
	}
	f.buf = append(f.buf, c.c)
	if c.err != 0 {
		f.cleanFrom = len(f.buf)
	}
	f.last = c.at
}

func (f *framer) tick(t time.Duration) {
	if len(f.buf) > 0 && t-f.last >= f.silence {
		f.flush()
	}
}

func (f *framer) flush() {
	buf, clean := f.buf, f.cleanFrom
	f.buf, f.cleanFrom = nil, 0
	f.onFrame(buf, clean, f.last)
}

func (f *framer) waiting() bool { return len(f.buf) > 0 }

// hasQueued reports whether frames wait for a quiet line.
func (p *Port) hasQueued() bool {
	p.bus.mu.Lock()
	defer p.bus.mu.Unlock()
	return len(p.queued) > 0
}
