package bus

import "time"

// Char is one character an Observer heard.
type Char struct {
	B byte
	// At is the line time of the character's stop bit (as sampled), so
	// At of the next character minus At minus one character time is the
	// silence between them.
	At time.Duration
	// Bad marks a framing or parity error.
	Bad bool
}

// Observer is a receiver on the line that never transmits: a logic
// analyser on the A/B pair. It stamps each character with line time,
// which an adapter outside the simulation cannot do (it gets its bytes
// in chunks, when the host runs it), so a test can judge the silences a
// master leaves between frames as a meter hears them.
type Observer struct {
	port  *Port
	chars []Char
}

// Observe puts an observer on the line from now on, at the bus's
// settings.
func (b *Bus) Observe() (*Observer, error) {
	o := &Observer{}
	o.port = &Port{bus: b, name: "observer", settings: b.cfg.Settings}
	o.port.onChar = func(c rxChar) { o.chars = append(o.chars, Char{B: c.c, At: c.at, Bad: c.err != 0}) }
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	b.addPort(o.port)
	return o, nil
}

// Chars returns what the observer heard so far, in line order.
func (o *Observer) Chars() []Char {
	o.port.bus.mu.Lock()
	defer o.port.bus.mu.Unlock()
	return append([]Char(nil), o.chars...)
}

// Close takes the observer off the line.
func (o *Observer) Close() error { return o.port.Close() }
