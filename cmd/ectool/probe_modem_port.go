package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/modbus"
	"github.com/ecdata/ectool/probe/modem"
)

// errModemUnreachable is a tcp:// AT port nothing accepts connections on.
var errModemUnreachable = errors.New("nothing accepts connections there")

// openSerialPort opens a serial device by the rules every command follows:
// the holder check (another process holding the port is refused unless
// force; the process holding a PTY's master is the other end of the wire,
// a bridge, not a holder), then the port itself. It returns who else uses
// the port, for the evidence. Today the rules live in probe/modbus; once
// they move to their own package (issue 7), re-point this function and
// nothing else.
var openSerialPort = func(path string, s modbus.SerialSettings, force bool) (io.ReadWriteCloser, modbus.PortUse, error) {
	use, err := modbus.CheckHolders(path)
	if err != nil && (!force || !errors.Is(err, modbus.ErrPortHeld)) {
		return nil, use, err
	}
	p, err := modbus.OpenSerial(path, s)
	return p, use, err
}

// openModemPort opens --port: a raw AT port over TCP or a serial device,
// and says how (a bridge at the other end, holders --force went past).
func openModemPort(port string, s modbus.SerialSettings, force bool, timeout time.Duration) (io.ReadWriteCloser, map[string]any, error) {
	if addr, ok := strings.CutPrefix(port, "tcp://"); ok {
		c, err := net.DialTimeout("tcp", addr, max(3*time.Second, timeout))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errModemUnreachable, err)
		}
		return c, nil, nil
	}
	p, use, err := openSerialPort(port, s, force)
	ev := map[string]any{"serial": s.String()}
	if len(use.Bridges) > 0 {
		ev["bridge"] = modbus.BridgeNames(use.Bridges)
	}
	if force && len(use.Holders) > 0 {
		names := make([]string, len(use.Holders))
		for i, h := range use.Holders {
			names[i] = h.String()
		}
		ev["forced_past"] = strings.Join(names, ", ")
	}
	return p, ev, err
}

// reportOpenFailure fills the report of a port that could not be opened:
// modem.port failed, naming the holder and the modem's fix, and every
// other check skipped.
func reportOpenFailure(rep *report.Report, port string, err error) {
	c := report.Check{ID: modem.CheckPort, Title: modem.CheckTitle(modem.CheckPort), Status: report.Failed,
		Evidence: map[string]any{"error": err.Error()}}
	var held *modbus.HeldError
	switch {
	case errors.As(err, &held):
		names := make([]string, len(held.Holders))
		mm := false
		for i, h := range held.Holders {
			names[i] = h.String()
			mm = mm || strings.Contains(strings.ToLower(h.Command), "modemmanager")
		}
		c.Evidence["held_by"] = strings.Join(names, ", ")
		c.Hint = fmt.Sprintf("%s holds the port: ", strings.Join(names, ", "))
		if mm {
			c.Hint += "stop ModemManager ('systemctl stop ModemManager'), or have it leave this port alone (a udev rule setting ENV{ID_MM_PORT_IGNORE}=\"1\" on it), or ask ModemManager instead with --mmcli; "
		} else {
			c.Hint += "stop that program (a gateway's dialer, pppd, a terminal); if it is ModemManager, set the udev property ID_MM_PORT_IGNORE on the port or use --mmcli; "
		}
		c.Hint += "--force opens the port anyway and may break that program's session"
	case errors.Is(err, errModemUnreachable):
		c.Hint = "nothing accepts connections at " + port + ": check the address, that the serial server is powered and its raw TCP mode is on"
	case errors.Is(err, modbus.ErrPortMissing):
		c.Hint = "the device does not exist: check the modem is plugged in and powered ('ls /dev/ttyUSB* /dev/ttyACM* /dev/serial/by-id/', 'lsusb'; COM ports in Device Manager on Windows) and the name"
	case errors.Is(err, modbus.ErrPortBusy):
		c.Hint = "the port is open in another program: close it, or find it with 'fuser -v' on the device"
	case errors.Is(err, modbus.ErrPortPermission):
		c.Hint = "no permission on the device: add your user to the dialout group ('sudo usermod -aG dialout $USER', then log in again) or run as root"
	case errors.Is(err, modbus.ErrNotSerial):
		c.Hint = "that path is not a serial device: give the modem's AT port ('ls /dev/serial/by-id/'; /dev/ttyUSB2 on most Quectel modems)"
	default:
		c.Hint = "the port cannot be opened: check the device and run again"
	}
	rep.Add(c)
	for _, id := range modem.CheckOrder[1:] {
		rep.Skip(id, modem.CheckTitle(id), modem.CheckPort+" failed")
	}
	rep.SetDetail("verdict", "the port "+port+" cannot be opened: "+c.Hint)
}
