package modem

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/serialport"
)

// ErrUnreachable is a tcp:// AT port nothing accepts connections on.
var ErrUnreachable = errors.New("nothing accepts connections there")

// OpenPort opens a modem's AT port: a raw AT port over TCP (tcp://host:port,
// a serial server or the lab) or a serial device, by the rules every command
// follows (package serialport: the holder check, force, a PTY's other end).
// The latency timer stays as it is: an AT dialogue does not time gaps. It
// returns the port and the evidence of modem.port: the line's settings, a
// bridge at the other end, the holders force opened past.
func OpenPort(port string, s serialport.Settings, force bool, timeout time.Duration) (io.ReadWriteCloser, map[string]any, error) {
	if addr, ok := strings.CutPrefix(port, "tcp://"); ok {
		c, err := net.DialTimeout("tcp", addr, max(3*time.Second, timeout))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
		}
		return c, nil, nil
	}
	p, op, err := serialport.Open(port, s, serialport.Options{Force: force})
	ev := map[string]any{"serial": s.String()}
	if len(op.Bridges) > 0 {
		ev["bridge"] = serialport.BridgeNames(op.Bridges)
	}
	if len(op.ForcedPast) > 0 {
		ev["forced_past"] = serialport.Names(op.ForcedPast)
	}
	return p, ev, err
}

// ReportOpenFailure fills the report of a port OpenPort could not open:
// modem.port failed, naming the holder and the modem's fix, and every
// other check skipped.
func ReportOpenFailure(rep *report.Report, port string, err error) {
	c := report.Check{ID: CheckPort, Title: CheckTitle(CheckPort), Status: report.Failed,
		Evidence: map[string]any{"error": err.Error()}}
	var held *serialport.HeldError
	hint, shared := serialport.Hint(err)
	switch {
	case shared:
		c.Hint = hint
	case errors.As(err, &held):
		c.Evidence["held_by"] = serialport.Names(held.Holders)
		c.Hint = heldHint(held.Holders)
	case errors.Is(err, ErrUnreachable):
		c.Hint = "nothing accepts connections at " + port + ": check the address, that the serial server is powered and its raw TCP mode is on"
	case errors.Is(err, serialport.ErrMissing):
		c.Hint = "the device does not exist: check the modem is plugged in and powered ('ls /dev/ttyUSB* /dev/ttyACM* /dev/serial/by-id/', 'lsusb'; COM ports in Device Manager on Windows) and the name"
	case errors.Is(err, serialport.ErrNotSerial):
		c.Hint = "that path is not a serial device: give the modem's AT port ('ls /dev/serial/by-id/'; /dev/ttyUSB2 on most Quectel modems)"
	default:
		c.Hint = "the port cannot be opened: check the device and run again"
	}
	rep.Add(c)
	for _, id := range CheckOrder[1:] {
		rep.Skip(id, CheckTitle(id), CheckPort+" failed")
	}
	rep.SetDetail("verdict", "the port "+port+" cannot be opened: "+c.Hint)
}

// heldHint names the holders and the way out; ModemManager, the usual
// holder of a modem's AT port, gets its own.
func heldHint(hs []serialport.Holder) string {
	mm := false
	for _, h := range hs {
		mm = mm || strings.Contains(strings.ToLower(h.Command), "modemmanager")
	}
	hint := serialport.Names(hs) + " holds the port: "
	if mm {
		hint += "stop ModemManager ('systemctl stop ModemManager'), or have it leave this port alone (a udev rule setting ENV{ID_MM_PORT_IGNORE}=\"1\" on it), or ask ModemManager instead with --mmcli; "
	} else {
		hint += "stop that program (a gateway's dialer, pppd, a terminal); if it is ModemManager, set the udev property ID_MM_PORT_IGNORE on the port or use --mmcli; "
	}
	return hint + "--force opens the port anyway and may break that program's session"
}
