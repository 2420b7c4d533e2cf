package serialport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"go.bug.st/serial"
)

// Errors of Check and Open, to be tested with errors.Is (ErrHeld comes in a
// *HeldError naming the holders).
var (
	ErrMissing    = errors.New("serial port not found")
	ErrBusy       = errors.New("serial port busy")
	ErrPermission = errors.New("permission denied on serial port")
	ErrNotSerial  = errors.New("not a serial device")
)

// Options say how Check and Open treat a port.
type Options struct {
	// Force opens a port another process holds (it breaks that process's
	// traffic). It switches off no other safety: listening before talking
	// and stopping for another master are the bus commands' own flags.
	Force bool
	// LowLatency sets an FTDI adapter's latency timer to 1 ms (see
	// SetLowLatency): the bus commands time the gaps between frames, a
	// modem's AT dialogue does not.
	LowLatency bool
}

// Opened is what Check found and did besides opening: who else uses the
// port, for the evidence of a report.
type Opened struct {
	// Bridges hold the other end of the pseudo-terminal the port is.
	Bridges []Holder
	// ForcedPast are the holders Options.Force opened the port past.
	ForcedPast []Holder
	// LatencyTimer is what SetLowLatency found and did (nil when not asked
	// or the adapter has none).
	LatencyTimer *LatencyTimer
}

// Open opens the serial port at path by the rules (see Check) with the
// settings. The port's Read blocks until bytes arrive; Close unblocks it.
// Opened is empty when a check refused the port.
func Open(path string, s Settings, o Options) (io.ReadWriteCloser, Opened, error) {
	op, err := Check(path, o)
	if err != nil {
		return nil, op, err
	}
	p, err := OpenAfterCheck(path, s)
	return p, op, err
}

// Check applies the rules before opening a port: a path that cannot be a
// serial device is ErrNotSerial; another process holding the port is a
// *HeldError naming it, unless o.Force (the process at the other end of a
// pseudo-terminal is a bridge, not a holder); with o.LowLatency an FTDI
// adapter's latency timer goes to 1 ms. Where holders cannot be looked for
// (not Linux, /proc unreadable), it finds none and the operating system's
// own exclusive open is the only guard.
func Check(path string, o Options) (Opened, error) {
	if err := notSerialPath(path); err != nil {
		return Opened{}, err
	}
	var op Opened
	if hs, err := FindHolders(path); err == nil {
		u := split(hs)
		op.Bridges = u.bridges
		if len(u.holders) > 0 {
			if !o.Force {
				return Opened{}, &HeldError{Path: path, Holders: u.holders}
			}
			op.ForcedPast = u.holders
		}
	}
	if o.LowLatency {
		if lt := SetLowLatency(path); lt.Path != "" {
			op.LatencyTimer = &lt
		}
	}
	return op, nil
}

// OpenAfterCheck opens a port that Check has passed, at settings s: for a
// caller that opens one port at several settings in turn (auto-detect).
// go.bug.st/serial adds Windows' \\.\ prefix itself, so COM10 and above
// open.
func OpenAfterCheck(path string, s Settings) (io.ReadWriteCloser, error) {
	p, err := serial.Open(path, s.mode())
	if err != nil {
		var pe *serial.PortError
		if errors.As(err, &pe) {
			switch pe.Code() {
			case serial.PortNotFound:
				return nil, fmt.Errorf("%w: %s", ErrMissing, path)
			case serial.PortBusy:
				return nil, fmt.Errorf("%w: %s", ErrBusy, path)
			case serial.PermissionDenied:
				return nil, fmt.Errorf("%w: %s", ErrPermission, path)
			case serial.InvalidSerialPort:
				return nil, fmt.Errorf("%w: %s", ErrNotSerial, path)
			}
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrMissing, path)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%w: %s", ErrPermission, path)
		}
		if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
			return nil, fmt.Errorf("%w: %s is a directory", ErrNotSerial, path)
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return p, nil
}

// notSerialPath reports a path that exists and cannot be a serial device
// (a regular file or a directory), without opening it: the holder check
// would otherwise list every program that has it open.
func notSerialPath(path string) error {
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

// Hint is the next step, in a technician's words, for an error of Check or
// Open that reads the same whatever is plugged in: the port busy, no
// permission. ok is false for the errors whose next step depends on the
// device behind the port (an RS-485 adapter, a modem): ErrMissing,
// ErrNotSerial, *HeldError and the rest; the caller words those.
func Hint(err error) (hint string, ok bool) {
	switch {
	case errors.Is(err, ErrBusy):
		return "the port is open in another program: close it, or find it with 'fuser -v' on the device", true
	case errors.Is(err, ErrPermission):
		return "no permission on the serial device: add your user to the dialout group ('sudo usermod -aG dialout $USER', then log in again) or run as root", true
	}
	return "", false
}
