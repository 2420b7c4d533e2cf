package modbus

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"

	"go.bug.st/serial"
)

// Port is a byte stream to an RTU bus: a serial port or a TCP connection to a
// transparent serial server. Read blocks until bytes arrive or the port is
// closed; Close unblocks it.
type Port interface {
	io.ReadWriteCloser
}

// SerialSettings are a serial line's parameters.
type SerialSettings struct {
	Baud     int    `json:"baud"`
	DataBits int    `json:"data_bits"`
	Parity   string `json:"parity"` // N, E or O
	StopBits int    `json:"stop_bits"`
}

// DefaultSerial is 9600 8N1, the common factory setting of meters.
var DefaultSerial = SerialSettings{Baud: 9600, DataBits: 8, Parity: "N", StopBits: 1}

func (s SerialSettings) String() string {
	return fmt.Sprintf("%d %d%s%d", s.Baud, s.DataBits, s.Parity, s.StopBits)
}

// Validate checks the settings (before any I/O: a bad value is a usage error).
func (s SerialSettings) Validate() error {
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
func (s SerialSettings) CharTime() time.Duration {
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
func (s SerialSettings) WireTime(n int) time.Duration { return time.Duration(n) * s.CharTime() }

// Silence is the gap after which buffered bytes are settled: the protocol's
// t3.5, but at least 20 ms because user space cannot see shorter gaps
// through USB adapters and schedulers.
func (s SerialSettings) Silence() time.Duration {
	return max(20*time.Millisecond, s.WireTime(4))
}

func (s SerialSettings) mode() *serial.Mode {
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

// Errors of OpenSerial, to be tested with errors.Is.
var (
	ErrPortMissing    = errors.New("serial port not found")
	ErrPortBusy       = errors.New("serial port busy")
	ErrPortPermission = errors.New("permission denied on serial port")
	ErrNotSerial      = errors.New("not a serial device")
)

// OpenSerial opens a serial port with the settings. go.bug.st/serial adds
// Windows' \\.\ prefix itself, so COM10 and above open.
func OpenSerial(path string, s SerialSettings) (Port, error) {
	p, err := serial.Open(path, s.mode())
	if err != nil {
		var pe *serial.PortError
		if errors.As(err, &pe) {
			switch pe.Code() {
			case serial.PortNotFound:
				return nil, fmt.Errorf("%w: %s", ErrPortMissing, path)
			case serial.PortBusy:
				return nil, fmt.Errorf("%w: %s", ErrPortBusy, path)
			case serial.PermissionDenied:
				return nil, fmt.Errorf("%w: %s", ErrPortPermission, path)
			case serial.InvalidSerialPort:
				return nil, fmt.Errorf("%w: %s", ErrNotSerial, path)
			}
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrPortMissing, path)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%w: %s", ErrPortPermission, path)
		}
		if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
			return nil, fmt.Errorf("%w: %s is a directory", ErrNotSerial, path)
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return p, nil
}

// NotSerialPath reports a path that exists and cannot be a serial device
// (a regular file or a directory), without opening it: the holder check
// would otherwise list every program that has it open.
func NotSerialPath(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&os.ModeCharDevice != 0 {
		return nil
	}
	what := "a regular file"
	if fi.IsDir() {
		what = "a directory"
	}
	return fmt.Errorf("%w: %s is %s", ErrNotSerial, path, what)
}

// DialRTUOverTCP connects to a transparent serial server.
func DialRTUOverTCP(addr string, timeout time.Duration) (Port, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return c, nil
}
