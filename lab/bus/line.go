package bus

import "time"

// never is a line time later than any other.
const never = time.Duration(1<<63 - 1)

// burst is one transmission: back-to-back characters a port clocks out from
// start at its own baud. levels holds one line level per bit time.
type burst struct {
	src    *Port
	start  time.Duration
	baud   int
	levels []byte
	end    time.Duration
}

func newBurst(src *Port, start time.Duration, s Settings, data []byte) *burst {
	levels := make([]byte, 0, len(data)*s.CharBits())
	for _, c := range data {
		levels = s.encodeChar(levels, c)
	}
	return &burst{src: src, start: start, baud: s.Baud, levels: levels, end: start + bitOffset(s.Baud, len(levels))}
}

// level is the level this burst drives at t, and whether it drives the line then.
func (b *burst) level(t time.Duration) (byte, bool) {
	if t < b.start || t >= b.end {
		return 1, false
	}
	i := int(int64(t-b.start) * int64(b.baud) / int64(time.Second))
	if i >= len(b.levels) { // rounding at the very end
		i = len(b.levels) - 1
	}
	for i > 0 && b.start+bitOffset(b.baud, i) > t { // rounding of the division
		i--
	}
	for i+1 < len(b.levels) && b.start+bitOffset(b.baud, i+1) <= t {
		i++
	}
	return b.levels[i], true
}

// next is the first bit boundary of this burst after t (never when none).
func (b *burst) next(t time.Duration) time.Duration {
	if t < b.start {
		return b.start
	}
	if t >= b.end {
		return never
	}
	i := int(int64(t-b.start)*int64(b.baud)/int64(time.Second)) + 1
	for {
		at := b.start + bitOffset(b.baud, i)
		if at > t {
			return at
		}
		i++
	}
}

// The line: an RS-485 pair driven by every transmitting port at once. Idle
// is mark (1, the fail-safe bias); a driver sending space (0) wins against
// one sending mark, so overlapping characters AND together and neither
// survives intact, which is what two meters answering at once look like to
// a receiver. (Real contention is undefined; dominant-zero is a
// deterministic stand-in with the same effect.)

// levelFor is the line level port p's receiver sees at t. A half-duplex
// transceiver disables its receiver while it drives the line, so a port
// hears nothing (mark) during its own bursts, unless it is an echoing
// adapter.
func (b *Bus) levelFor(p *Port, t time.Duration) byte {
	lvl := byte(1)
	for _, x := range b.bursts {
		l, on := x.level(t)
		if !on {
			continue
		}
		if x.src == p && !p.echo {
			return 1
		}
		lvl &= l
	}
	return lvl
}

// nextEdge is the first bit boundary of any burst after t.
func (b *Bus) nextEdge(t time.Duration) time.Duration {
	n := never
	for _, x := range b.bursts {
		if at := x.next(t); at < n {
			n = at
		}
	}
	return n
}

// decoder is a receiving UART: it hunts for the falling edge of a start bit,
// samples each bit in its middle at its own baud, and checks parity and the
// first stop bit. Decoding bytes sent at another baud or framing therefore
// yields the same wrong bytes and errors a real UART would.
type decoder struct {
	cursor   time.Duration // line time consumed so far
	inChar   bool
	start    time.Duration // falling edge of the current start bit
	needHigh bool          // after a framing error: wait for mark before the next edge
}

// sample is the middle of bit i of a character starting at start.
func sample(start time.Duration, baud, i int) time.Duration {
	return start + time.Duration(int64(2*i+1)*int64(time.Second)/int64(2*baud))
}

// decode runs p's UART over the line up to line time upTo and hands every
// character it completes to p.
func (b *Bus) decode(p *Port, upTo time.Duration) {
	d := &p.rx
	for {
		if !d.inChar {
			t := d.cursor
			for t <= upTo {
				lvl := b.levelFor(p, t)
				if d.needHigh {
					if lvl == 1 {
						d.needHigh = false
					}
				} else if lvl == 0 {
					d.inChar, d.start = true, t
					break
				}
				t = b.nextEdge(t)
			}
			if !d.inChar {
				d.cursor = upTo
				return
			}
		}
		s := p.settings
		frame := s.CharBits() - s.StopBits + 1 // a UART checks the first stop bit only
		last := sample(d.start, s.Baud, frame-1)
		if last > upTo {
			d.cursor = d.start
			return
		}
		if b.levelFor(p, sample(d.start, s.Baud, 0)) != 0 { // glitch, not a start bit
			d.inChar = false
			d.cursor = sample(d.start, s.Baud, 0)
			continue
		}
		var c byte
		ones := 0
		for i := range s.DataBits {
			bit := b.levelFor(p, sample(d.start, s.Baud, 1+i))
			c |= bit << i
			ones += int(bit)
		}
		var e charError
		i := 1 + s.DataBits
		if s.Parity != ParityNone {
			bit := int(b.levelFor(p, sample(d.start, s.Baud, i)))
			if s.Parity == ParityEven && (ones+bit)&1 != 0 || s.Parity == ParityOdd && (ones+bit)&1 != 1 {
				e |= errParity
			}
			i++
		}
		if b.levelFor(p, sample(d.start, s.Baud, i)) != 1 {
			e |= errFraming
			d.needHigh = true
		}
		d.inChar = false
		d.cursor = last
		p.received(rxChar{c: c, err: e, at: last})
	}
}

// oldest is the earliest line time any receiver may still look at.
func (b *Bus) oldest() time.Duration {
	t := b.frontier
	for _, p := range b.ports {
		c := p.rx.cursor
		if p.rx.inChar && p.rx.start < c {
			c = p.rx.start
		}
		if c < t {
			t = c
		}
	}
	return t
}

// prune forgets bursts no receiver can see any more.
func (b *Bus) prune() {
	keep := b.oldest()
	out := b.bursts[:0]
	for _, x := range b.bursts {
		if x.end > keep {
			out = append(out, x)
		}
	}
	clear(b.bursts[len(out):])
	b.bursts = out
}
