package modbus

import (
	"errors"
	"fmt"
	"strings"
)

// Holder is another process that has a serial port open or locked: a
// gateway's poller, ModemManager, a forgotten minicom.
type Holder struct {
	PID     int    `json:"pid"`
	Command string `json:"command"`
	// How is "open file" (found in /proc/PID/fd) or "lock file" (a UUCP
	// lock in /run/lock or /var/lock naming the PID).
	How string `json:"how"`
}

func (h Holder) String() string {
	if h.Command == "" {
		return fmt.Sprintf("PID %d (%s)", h.PID, h.How)
	}
	return fmt.Sprintf("%s (PID %d, %s)", h.Command, h.PID, h.How)
}

// ErrPortHeld is returned when another process holds the port.
var ErrPortHeld = errors.New("serial port held by another process")

// HeldError names the processes holding a port.
type HeldError struct {
	Path    string
	Holders []Holder
}

func (e *HeldError) Error() string {
	names := make([]string, len(e.Holders))
	for i, h := range e.Holders {
		names[i] = h.String()
	}
	return fmt.Sprintf("%s is in use by %s", e.Path, strings.Join(names, ", "))
}

// Is makes errors.Is(err, ErrPortHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrPortHeld }

// CheckHolders returns a *HeldError when another process holds the port
// (see FindHolders), nil otherwise or where the check is not supported. A
// path that cannot be a serial device (a file, a directory) is ErrNotSerial
// first: its holders are beside the point.
func CheckHolders(path string) error {
	if err := NotSerialPath(path); err != nil {
		return err
	}
	hs, err := FindHolders(path)
	if err != nil || len(hs) == 0 {
		return nil
	}
	return &HeldError{Path: path, Holders: hs}
}

// LatencyTimer is what SetLowLatency found and did.
type LatencyTimer struct {
	// Path is the sysfs file ("" when the adapter has none).
	Path   string `json:"path,omitempty"`
	Before int    `json:"before_ms"`
	After  int    `json:"after_ms"`
	Err    string `json:"error,omitempty"`
}
