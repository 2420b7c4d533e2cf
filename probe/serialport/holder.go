package serialport

import (
	"errors"
	"fmt"
	"strings"
)

// Holder is another process that has a serial port open or locked: a
// gateway's poller, ModemManager, a forgotten minicom; or, when Bridge is
// set, the process at the other end of a pseudo-terminal.
type Holder struct {
	PID     int    `json:"pid"`
	Command string `json:"command"`
	// How is "open file" (found in /proc/PID/fd), "lock file ..." (a UUCP
	// lock in /run/lock or /var/lock naming the PID), or for a bridge
	// "pty master" (with "and slave" when it keeps the slave open too).
	How string `json:"how"`
	// Bridge marks the process that holds the master side of the
	// pseudo-terminal the port is: a socat bridge to a serial server, a
	// ser2net-style tool, a simulator. It is the other end of the wire, not
	// a program competing for the port, even when it keeps the slave open.
	Bridge bool `json:"bridge,omitempty"`
}

func (h Holder) String() string {
	if h.Command == "" {
		return fmt.Sprintf("PID %d (%s)", h.PID, h.How)
	}
	return fmt.Sprintf("%s (PID %d, %s)", h.Command, h.PID, h.How)
}

// OtherEnd describes a bridge for a person: `socat (pid 1234) holds the
// other end`.
func (h Holder) OtherEnd() string {
	name := h.Command
	if name == "" {
		name = "a process"
	}
	return fmt.Sprintf("%s (pid %d) holds the other end", name, h.PID)
}

// use is who else uses a serial port.
type use struct {
	// holders compete for the port: opening it beside them steals their
	// bytes and garbles their requests.
	holders []Holder
	// bridges hold the master side of the pseudo-terminal the port is.
	bridges []Holder
}

// split sorts holders into competitors and bridges.
func split(hs []Holder) use {
	var u use
	for _, h := range hs {
		if h.Bridge {
			u.bridges = append(u.bridges, h)
		} else {
			u.holders = append(u.holders, h)
		}
	}
	return u
}

// ErrHeld is returned (in a *HeldError) when another process holds the
// port.
var ErrHeld = errors.New("serial port held by another process")

// HeldError names the processes holding a port.
type HeldError struct {
	Path    string
	Holders []Holder
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is in use by %s", e.Path, Names(e.Holders))
}

// Is makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// Names renders holders for a report: "sleep (PID 42, open file), ...".
func Names(hs []Holder) string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.String()
	}
	return strings.Join(names, ", ")
}

// BridgeNames renders the bridges of a port for a report: "socat (pid
// 1234) holds the other end".
func BridgeNames(hs []Holder) string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.OtherEnd()
	}
	return strings.Join(names, ", ")
}

// LatencyTimer is what SetLowLatency found and did.
type LatencyTimer struct {
	// Path is the sysfs file ("" when the adapter has none).
	Path   string `json:"path,omitempty"`
	Before int    `json:"before_ms"`
	After  int    `json:"after_ms"`
	Err    string `json:"error,omitempty"`
}
