package bus

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Parity of a UART character.
type Parity byte

// Parities. Mark and space parity exist on some adapters; Modbus uses N, E, O.
const (
	ParityNone Parity = 'N'
	ParityEven Parity = 'E'
	ParityOdd  Parity = 'O'
)

// Settings are a UART's line settings: what both ends of a serial link must
// agree on. The zero value is not valid; use DefaultSettings.
type Settings struct {
	Baud     int    `json:"baud"`
	DataBits int    `json:"data_bits"`
	Parity   Parity `json:"-"`
	StopBits int    `json:"stop_bits"`
}

// DefaultSettings is 9600 8N1, the most common Modbus RTU setting in the field.
var DefaultSettings = Settings{Baud: 9600, DataBits: 8, Parity: ParityNone, StopBits: 1}

// String is the usual "9600 8N1" notation.
func (s Settings) String() string {
	return fmt.Sprintf("%d %d%c%d", s.Baud, s.DataBits, s.Parity, s.StopBits)
}

// ParseSettings reads "9600 8N1", "19200 8E1" or "9600-8-N-1".
func ParseSettings(v string) (Settings, error) {
	f := strings.FieldsFunc(strings.ToUpper(v), func(r rune) bool { return r == ' ' || r == '-' || r == ',' || r == '/' })
	if len(f) == 2 && len(f[1]) == 3 {
		f = []string{f[0], f[1][:1], f[1][1:2], f[1][2:]}
	}
	if len(f) != 4 {
		return Settings{}, fmt.Errorf("serial settings %q: want BAUD and DATA/PARITY/STOP, like \"9600 8N1\"", v)
	}
	baud, err1 := strconv.Atoi(f[0])
	data, err2 := strconv.Atoi(f[1])
	stop, err3 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil || err3 != nil || len(f[2]) != 1 {
		return Settings{}, fmt.Errorf("serial settings %q: want BAUD and DATA/PARITY/STOP, like \"9600 8N1\"", v)
	}
	s := Settings{Baud: baud, DataBits: data, Parity: Parity(f[2][0]), StopBits: stop}
	return s, s.Validate()
}

// Validate reports settings no UART could use.
func (s Settings) Validate() error {
	switch {
	case s.Baud < 50 || s.Baud > 4000000:
		return fmt.Errorf("baud %d out of 50..4000000", s.Baud)
	case s.DataBits < 5 || s.DataBits > 8:
		return fmt.Errorf("data bits %d out of 5..8", s.DataBits)
	case s.Parity != ParityNone && s.Parity != ParityEven && s.Parity != ParityOdd:
		return fmt.Errorf("parity %q: want N, E or O", s.Parity)
	case s.StopBits != 1 && s.StopBits != 2:
		return fmt.Errorf("stop bits %d: want 1 or 2", s.StopBits)
	}
	return nil
}

// CharBits is the number of bit times one character occupies on the wire:
// start bit, data bits, parity bit if any, stop bits.
func (s Settings) CharBits() int {
	n := 1 + s.DataBits + s.StopBits
	if s.Parity != ParityNone {
		n++
	}
	return n
}

// CharTime is the wire time of one character.
func (s Settings) CharTime() time.Duration {
	return bitOffset(s.Baud, s.CharBits())
}

// WireTime is the wire time of n back-to-back characters.
func (s Settings) WireTime(n int) time.Duration {
	return bitOffset(s.Baud, n*s.CharBits())
}

// Silence is the Modbus RTU inter-frame gap t3.5: 3.5 character times, and a
// fixed 1.75 ms above 19200 baud as the specification recommends.
func (s Settings) Silence() time.Duration {
	if s.Baud > 19200 {
		return 1750 * time.Microsecond
	}
	return bitOffset(s.Baud, 7*s.CharBits()) / 2
}

// bitOffset is the time of bit boundary i of a stream at baud, computed
// from the start each time so long bursts do not drift.
func bitOffset(baud, i int) time.Duration {
	return time.Duration(int64(i) * int64(time.Second) / int64(baud))
}

// encodeChar appends the line levels of one character (1 = idle/mark,
// 0 = space): start bit, data bits LSB first, parity, stop bits.
func (s Settings) encodeChar(levels []byte, c byte) []byte {
	levels = append(levels, 0)
	ones := 0
	for i := range s.DataBits {
		bit := (c >> i) & 1
		ones += int(bit)
		levels = append(levels, bit)
	}
	switch s.Parity {
	case ParityEven:
		levels = append(levels, byte(ones&1))
	case ParityOdd:
		levels = append(levels, byte(ones&1)^1)
	}
	for range s.StopBits {
		levels = append(levels, 1)
	}
	return levels
}

// charError is what a receiving UART noticed about one character.
type charError uint8

const (
	errFraming charError = 1 << iota // stop bit read as 0
	errParity                        // parity bit does not match
)

// rxChar is one character a UART received, stamped with the line time of
// the middle of its stop bit (when a UART hands it over).
type rxChar struct {
	c   byte
	err charError
	at  time.Duration
}
