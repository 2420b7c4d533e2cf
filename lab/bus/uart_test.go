package bus

import (
	"testing"
	"time"
)

func TestParseSettings(t *testing.T) {
	for in, want := range map[string]Settings{
		"9600 8N1":   {9600, 8, ParityNone, 1},
		"19200 8e1":  {19200, 8, ParityEven, 1},
		"9600-8-O-2": {9600, 8, ParityOdd, 2},
		"115200,7E1": {115200, 7, ParityEven, 1},
		"2400/8/N/1": {2400, 8, ParityNone, 1},
	} {
		got, err := ParseSettings(in)
		if err != nil || got != want {
			t.Errorf("ParseSettings(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "9600", "9600 9N1", "9600 8X1", "9600 8N3", "fast 8N1", "10 8N1"} {
		if s, err := ParseSettings(in); err == nil {
			t.Errorf("ParseSettings(%q) = %v, want an error", in, s)
		}
	}
}

func TestWireTimes(t *testing.T) {
	s := DefaultSettings
	if s.CharBits() != 10 || s.WireTime(8) != 8333333*time.Nanosecond {
		t.Errorf("9600 8N1: %d bits per char, 8 chars in %v", s.CharBits(), s.WireTime(8))
	}
	if e := (Settings{9600, 8, ParityEven, 1}); e.CharBits() != 11 {
		t.Errorf("8E1: %d bits per char", e.CharBits())
	}
	// t3.5 is 3.5 characters up to 19200 baud, then a fixed 1.75ms.
	if got := s.Silence(); got < 3645*time.Microsecond || got > 3646*time.Microsecond {
		t.Errorf("t3.5 at 9600 8N1 = %v", got)
	}
	if got := (Settings{115200, 8, ParityNone, 1}).Silence(); got != 1750*time.Microsecond {
		t.Errorf("t3.5 at 115200 = %v", got)
	}
}

// A byte is on the wire for its whole frame: a request and its answer can
// never arrive sooner than their wire times plus the meter's latency, even
// on a fast machine. (A lower bound, so it cannot flake on a slow one.) A
// UART hands a character over in the middle of its stop bit, half a bit
// before its frame ends: the meter hears the request's last character, and
// the master the answer's, half a bit early each, so the bound is one bit
// short of the wire times (it was not, and failed when the machine was
// quick: 22.6999 ms against 22.7083 ms).
func TestBytesTakeTheirWireTime(t *testing.T) {
	b := startBus(t, "clean")
	p := master(t, b, b.Settings(), false)
	req := readHolding(1, 0, 2)
	start := time.Now()
	if _, err := p.Write(req); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for len(got) < 9 {
		got = append(got, <-p.Recv()...)
	}
	bit := time.Second / time.Duration(b.Settings().Baud)
	floor := b.Settings().WireTime(len(req)) + 5*time.Millisecond + b.Settings().WireTime(9) - bit
	if el := time.Since(start); el < floor {
		t.Fatalf("request and answer took %v, faster than the wire allows (%v)", el, floor)
	}
}

// A UART at twice the baud reads each character of the bus as two: the
// bytes it reads are always the same wrong ones.
func TestDoubleBaudReadsTheSameWrongBytesEveryTime(t *testing.T) {
	read := func() string {
		b := newBus(Config{Name: "t", Settings: DefaultSettings}.withDefaults())
		var got []byte
		l := &Port{bus: b, name: "fast", settings: Settings{19200, 8, ParityNone, 1}}
		l.onChar = func(c rxChar) { got = append(got, c.c) }
		src := &Port{bus: b, name: "src", settings: DefaultSettings}
		b.mu.Lock()
		b.addPort(l)
		b.transmit(src, []byte{0x01, 0x03, 0x55, 0xAA}, DefaultSettings, time.Millisecond)
		b.advance(20 * time.Millisecond)
		b.mu.Unlock()
		return string(got)
	}
	a := read()
	if a == "\x01\x03\x55\xaa" || len(a) == 0 {
		t.Fatalf("a 19200 UART read % X from 9600 traffic", a)
	}
	if c := read(); c != a {
		t.Fatalf("two runs read % X and % X", a, c)
	}
}
