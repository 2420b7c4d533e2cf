package serialport

import (
	"fmt"
	"time"

	"go.bug.st/serial"
)

// Settings are a serial line's parameters.
type Settings struct {
	Baud     int    `json:"baud"`
	DataBits int    `json:"data_bits"`
	Parity   string `json:"parity"` // N, E or O
	StopBits int    `json:"stop_bits"`
}

// Default is 9600 8N1, the common factory setting of meters.
var Default = Settings{Baud: 9600, DataBits: 8, Parity: "N", StopBits: 1}

func (s Settings) String() string {
	return fmt.Sprintf("%d %d%s%d", s.Baud, s.DataBits, s.Parity, s.StopBits)
}

// Validate checks the settings (before any I/O: a bad value is a usage error).
func (s Settings) Validate() error {
	if s.Baud < 50 || s.Baud > 4000000 {
		return fmt.Errorf("baud rate %d out of 50..4000000", s.Baud)
	}
	if s.DataBits < 7 || s.DataBits > 8 {
		return fmt.Errorf("data bits %d: Modbus RTU uses 8 (7 only for odd adapters)", s.DataBits)
	}
	switch s.Parity {
	case "N", "E", "O":
	default:
		return fmt.Errorf("parity %q: use N, E or O", s.Parity)
	}
	if s.StopBits != 1 && s.StopBits != 2 {
		return fmt.Errorf("stop bits %d: use 1 or 2", s.StopBits)
	}
	return nil
}

// CharTime is the wire time of one character: start bit, data bits, parity
// bit, stop bits.
func (s Settings) CharTime() time.Duration {
	bits := 1 + s.DataBits + s.StopBits
	if s.Parity != "N" {
		bits++
	}
	if s.Baud <= 0 {
		return 0
	}
	return time.Duration(bits) * time.Second / time.Duration(s.Baud)
}

// WireTime is the time n characters take on the wire.
func (s Settings) WireTime(n int) time.Duration { return time.Duration(n) * s.CharTime() }

// Silence is the gap after which buffered bytes are settled: Modbus RTU's
// t3.5, but at least 20 ms because user space cannot see shorter gaps
// through USB adapters and schedulers.
func (s Settings) Silence() time.Duration {
	return max(20*time.Millisecond, s.WireTime(4))
}

func (s Settings) mode() *serial.Mode {
	m := &serial.Mode{BaudRate: s.Baud, DataBits: s.DataBits, StopBits: serial.OneStopBit}
	switch s.Parity {
	case "E":
		m.Parity = serial.EvenParity
	case "O":
		m.Parity = serial.OddParity
	}
	if s.StopBits == 2 {
		m.StopBits = serial.TwoStopBits
	}
	return m
}
