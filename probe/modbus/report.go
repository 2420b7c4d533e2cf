package modbus

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/serialport"
)

// Check IDs emitted by scan (listed in docs/checks.md).
const (
	CheckOpen     = "bus.open"
	CheckListen   = "bus.listen"
	CheckSweep    = "bus.sweep"
	CheckCRC      = "bus.crc"
	CheckGateway  = "bus.gateway"
	CheckDetect   = "bus.autodetect"
	CheckSniff    = "bus.sniff"
	checkUnitStem = "bus.unit"
)

// UnitCheckID is the check ID of one address: bus.unit17.
func UnitCheckID(unit int) string { return fmt.Sprintf("%s%d", checkUnitStem, unit) }

// OpenFailure classifies an error of Scan for the report and the exit code:
// cannotRun is true for errors that mean ectool could not run (exit 3: port
// missing, busy, held, permission, I/O), false for an unreachable TCP
// target (exit 1: a problem found).
func OpenFailure(err error) (hint string, cannotRun bool) {
	if hint, ok := serialport.Hint(err); ok {
		return hint, true
	}
	switch {
	case errors.Is(err, serialport.ErrHeld):
		return "another program uses the port: stop it (a gateway poller, ModemManager: 'systemctl stop ModemManager'), or pass --force to open it anyway, which breaks that program's traffic", true
	case errors.Is(err, serialport.ErrMissing):
		return "the serial device does not exist: check the adapter is plugged in ('ls /dev/ttyUSB* /dev/ttyACM*', Device Manager on Windows) and the name", true
	case errors.Is(err, serialport.ErrNotSerial):
		return "that path is not a serial device: give the adapter's port ('ls /dev/ttyUSB* /dev/ttyACM* /dev/serial/by-id/', COM3 on Windows)", true
	}
	var te *TargetError
	errors.As(err, &te)
	host := "HOST"
	if te != nil {
		if h, _, serr := net.SplitHostPort(te.Addr); serr == nil {
			host = h
		}
	}
	switch {
	case te != nil && te.Transport == TransportRTUOverTCP && errors.Is(err, ErrUnreachable):
		return fmt.Sprintf("nothing accepts connections there: check the serial server's address and the TCP port of its RS-485 port (its web page or manual; 4001 and 8899 are common), that it is powered and reachable from here ('ping %s'), and that the port is in TCP server mode (raw or transparent); many serial servers accept one client at a time, so a poller already connected keeps ectool out", host), false
	case errors.Is(err, ErrUnreachable):
		return fmt.Sprintf("nothing accepts connections there: check the address and port (502 is Modbus TCP's), that the gateway is powered and reachable from here ('ping %s'), and that its Modbus TCP server is enabled", host), false
	case te != nil && te.Transport == TransportRTUOverTCP:
		return "the serial server closed the connection mid-scan: another client may have taken its RS-485 port (many accept one at a time), or it restarted; check its status page, then scan again", true
	case te != nil:
		return fmt.Sprintf("the gateway closed the connection mid-scan and would not take a new one: check it is still up ('ping %s') and how many Modbus TCP clients it accepts, then scan again", host), true
	}
	if !errors.Is(err, ErrBusIO) {
		return "the serial port could not be opened: check the adapter and its driver ('dmesg' right after plugging it in; Device Manager on Windows), then try again", true
	}
	return "the serial adapter failed or vanished mid-scan (unplugged, a loose USB cable, a hub that reset): check it, then scan again", true
}

// Report builds the report of a scan. err is Scan's error (nil when it ran).
func (r *Result) Report(rep *report.Report, err error) {
	defer r.addExpected(rep, err) // last on every path below (expect.go)
	open := report.Check{ID: CheckOpen, Title: "open " + r.Target, Status: report.OK, Evidence: map[string]any{}}
	if r.Settings.Serial != nil {
		open.Evidence["serial"] = r.Settings.Serial.String()
	}
	if lt := r.Settings.LatencyTimer; lt != nil {
		open.Evidence["latency_timer"] = fmt.Sprintf("%d ms -> %d ms", lt.Before, lt.After)
		if lt.Err != "" {
			open.Status = report.Warning
			open.Hint = "the FTDI latency timer is " + fmt.Sprint(lt.Before) + " ms and " + lt.Err + ": run as root, or 'echo 1 > " + lt.Path + "'"
		}
	}
	r.Settings.openEvidence(open.Evidence)
	ranSweep := r.Sweep.Probed > 0 || r.Sweep.Total > 0
	if err != nil && !ranSweep {
		hint, _ := OpenFailure(err)
		open.Status = report.Failed
		open.Evidence["error"] = err.Error()
		var held *serialport.HeldError
		if errors.As(err, &held) {
			open.Evidence["held_by"] = serialport.Names(held.Holders)
		}
		open.Hint = hint
		rep.Add(open)
		for _, id := range []string{CheckListen, CheckSweep} {
			rep.Skip(id, checkTitle(id), CheckOpen+" failed")
		}
		r.details(rep)
		return
	}
	rep.Add(open)

	// Listen before talking.
	if r.Settings.Transport != string(TransportTCP) {
		if r.Settings.ListenMS == 0 {
			rep.Skip(CheckListen, checkTitle(CheckListen), "--listen 0")
		} else {
			rep.Add(r.listenCheck())
		}
	}

	// Another master heard before the first request: nothing was sent.
	if r.Stopped == "foreign_master" && r.Sweep.Probed == 0 {
		rep.Skip(CheckSweep, checkTitle(CheckSweep), CheckListen+" failed: another master is polling, ectool sent nothing")
		r.details(rep)
		return
	}

	rep.Add(r.sweepCheck(err))

	if r.Settings.Transport != string(TransportTCP) && err == nil {
		rep.Add(r.crcCheck())
	}
	if r.Settings.Transport == string(TransportTCP) {
		c := report.Check{ID: CheckGateway, Title: checkTitle(CheckGateway), Status: report.OK, Evidence: map[string]any{}}
		for _, kind := range []string{"gateway", "unit_id_ignored"} {
			if f := r.Finding(kind); f != nil {
				if f.Status == report.Failed || c.Status == report.OK {
					c.Status = f.Status
				}
				c.Hint = strings.TrimPrefix(c.Hint+"; "+f.Hint, "; ")
				c.Evidence[kind] = f.Message
			}
		}
		if err == nil {
			rep.Add(c)
		}
	}
	for _, d := range r.Devices {
		c := report.Check{ID: UnitCheckID(d.UnitID), Title: fmt.Sprintf("address %d: %s", d.UnitID, d.Verdict), Status: report.OK,
			Evidence: map[string]any{"verdict": string(d.Verdict), "responses": d.Responses, "polls": d.Polls, "found_by": d.FoundBy}}
		if len(d.Evidence) > 0 {
			c.Evidence["evidence"] = strings.Join(d.Evidence, "; ")
		}
		if d.Identity != nil {
			c.Evidence["identity"] = d.Identity.String()
		}
		switch d.Verdict {
		case VerdictOK:
			if d.Warning != "" {
				c.Status, c.Hint = report.Warning, d.Hint
			}
		default:
			c.Status, c.Hint = report.Failed, d.Hint
		}
		rep.Add(c)
	}
	r.details(rep)
}

// listenCheck is bus.listen: another master heard fails it (a warning
// with --talk-over-master), noise on the idle line warns.
func (r *Result) listenCheck() report.Check {
	c := report.Check{ID: CheckListen, Title: checkTitle(CheckListen), Status: report.OK, DurationMS: r.Bus.ListenedMS,
		Evidence: map[string]any{"listened_ms": r.Bus.ListenedMS, "noise_bytes": r.Bus.ListenNoiseBytes, "foreign_frames": len(r.Bus.ForeignFrames)}}
	if f := r.Finding("noise"); f != nil && f.Status != report.OK {
		c.Status, c.Hint = report.Warning, f.Hint
		c.Evidence["message"] = f.Message
	}
	if f := r.Finding("foreign_master"); f != nil {
		c.Status, c.Hint = f.Status, f.Hint
		c.Evidence["message"] = f.Message
		if len(r.Bus.ForeignFrames) > 0 {
			c.Evidence["first_foreign_frame"] = r.Bus.ForeignFrames[0].Raw
		}
	}
	return c
}

// sweepCheck is bus.sweep: every address probed, at least one device found.
func (r *Result) sweepCheck(err error) report.Check {
	sw := report.Check{ID: CheckSweep, Title: checkTitle(CheckSweep), Status: report.OK, DurationMS: r.Sweep.DurationMS + r.Sweep.ConfirmMS,
		Evidence: map[string]any{"probed": r.Sweep.Probed, "total": r.Sweep.Total, "found": len(r.Devices), "ids": r.Settings.IDs}}
	if r.Bus.Echo {
		sw.Evidence["echo"] = "the adapter echoes its own transmission (stripped)"
	}
	if r.Bus.HostStalls > 0 {
		// This computer did not run ectool for a while: timings across
		// those gaps were not taken as evidence.
		sw.Evidence["host_stalls"] = r.Bus.HostStalls
		sw.Evidence["host_stall_max_ms"] = r.Bus.HostStallMaxMS
	}
	if r.Settings.TimeoutAuto {
		r.autoEvidence(&sw)
	}
	switch {
	case r.Stopped == "foreign_master":
		sw.Status = report.Failed
		sw.Hint = "stopped: another master is polling this bus; " + r.Finding("foreign_master").Hint
		sw.Evidence["stopped"] = "foreign master"
	case r.Stopped == "interrupted":
		sw.Status = report.Warning
		sw.Evidence["stopped"] = "interrupted"
		sw.Hint = "the scan was interrupted before every address was probed"
	}
	if r.Bus.StrayAnswers > 0 {
		sw.Evidence["stray_answers"] = r.Bus.StrayAnswers
		if sw.Status == report.OK {
			sw.Status = report.Warning
			sw.Hint = fmt.Sprintf("%d valid answer(s) to no request ectool sent (first: %s): a device answering with another address than the one polled, or another master whose requests were garbled", r.Bus.StrayAnswers, r.Bus.StrayFrames[0].Raw)
		}
	}
	if n := r.Bus.NoiseOnlyIDs; len(n) > 0 {
		ids := make([]byte, len(n))
		for i, id := range n {
			ids[i] = byte(id)
		}
		sw.Evidence["noise_only"] = idsString(ids)
		if sw.Status == report.OK {
			sw.Status = report.Warning
			sw.Hint = fmt.Sprintf("bytes at %s, where nothing answered validly nor began a frame with that address, were taken for the line's noise (they came in under half the windows; a device answers on cue): check the termination (120 ohm at both ends only), the bias resistors, the shield and the distance from power cables, then scan again", idsString(ids))
		}
	}
	if f := r.Finding("no_device"); f != nil {
		sw.Status, sw.Hint = report.Failed, f.Hint
		sw.Evidence["message"] = f.Message
	}
	if err != nil {
		hint, _ := OpenFailure(err)
		sw.Status, sw.Hint = report.Failed, hint
		sw.Evidence["error"] = err.Error()
	}
	return sw
}

// crcCheck is bus.crc. Its status agrees with its evidence: frames with a
// bad CRC at an address whose own check failed (two devices answering at
// once garble each other: "explained_by": "collision at 17") leave it ok;
// any other (at a healthy address, while listening, between exchanges)
// makes it a warning that counts them, where they were, and what to check.
// The settings finding (every address garbled) overrides both.
func (r *Result) crcCheck() report.Check {
	c := report.Check{ID: CheckCRC, Title: checkTitle(CheckCRC), Status: report.OK,
		Evidence: map[string]any{"crc_errors": r.Bus.CRCErrors, "noise_bytes": r.Bus.NoiseBytes}}
	units := make([]int, 0, len(r.Bus.CRCErrorsByUnit))
	for u := range r.Bus.CRCErrorsByUnit {
		units = append(units, u)
	}
	sort.Ints(units)
	var at, explained, loose []string
	unexplained := r.Bus.CRCErrorsElsewhere
	for _, u := range units {
		n := r.Bus.CRCErrorsByUnit[u]
		at = append(at, fmt.Sprintf("%d (%d)", u, n))
		if d := r.Device(u); d != nil && d.Verdict != VerdictOK {
			explained = append(explained, fmt.Sprintf("%s at %d", d.Verdict, u))
			continue
		}
		unexplained += n
		loose = append(loose, fmt.Sprintf("%d at address %d", n, u))
	}
	if n := r.Bus.CRCErrorsElsewhere; n > 0 {
		c.Evidence["crc_errors_elsewhere"] = n
		loose = append(loose, fmt.Sprintf("%d where no answer was due", n))
	}
	if len(at) > 0 {
		c.Evidence["crc_errors_at"] = strings.Join(at, ", ")
	}
	if len(explained) > 0 {
		c.Evidence["explained_by"] = strings.Join(explained, ", ")
	}
	if unexplained > 0 {
		c.Evidence["unexplained"] = unexplained
		c.Status = report.Warning
		c.Hint = fmt.Sprintf("%d frame(s) failed the CRC that no verdict explains (%s): noise on the line (termination: 120 ohm at both ends only, bias resistors, shield, distance from power cables) or a device at other serial settings; scan again to see whether they come back", unexplained, strings.Join(loose, ", "))
	}
	if f := r.Finding("settings"); f != nil {
		c.Status, c.Hint = f.Status, f.Hint
		c.Evidence["message"] = f.Message
		for k, v := range f.Evidence {
			c.Evidence[k] = v
		}
	}
	return c
}

// openEvidence adds to bus.open's evidence who else had the port: the
// bridge at the other end of a PTY, the holders --force opened it past.
func (s Settings) openEvidence(ev map[string]any) {
	if s.Forced {
		ev["forced"] = true
	}
	if len(s.ForcedPast) > 0 {
		ev["forced_past"] = serialport.Names(s.ForcedPast)
	}
	if len(s.Bridges) > 0 {
		ev["bridge"] = serialport.BridgeNames(s.Bridges)
	}
}

func (r *Result) details(rep *report.Report) {
	rep.SetDetail("devices", r.Devices)
	rep.SetDetail("bus", r.Bus)
	rep.SetDetail("settings", r.Settings)
	rep.SetDetail("sweep", r.Sweep)
	rep.SetDetail("findings", r.Findings)
	if r.Stopped != "" {
		rep.SetDetail("stopped", r.Stopped)
	}
}

func checkTitle(id string) string {
	switch id {
	case CheckListen:
		return "listen before talking: no other master, no noise"
	case CheckSweep:
		return "probe every address"
	case CheckCRC:
		return "replies pass the CRC (serial settings match the bus)"
	case CheckGateway:
		return "gateway routes unit ids to the bus"
	}
	return id
}

// autoEvidence adds --timeout auto's account to bus.sweep: the waits it
// chose, the addresses asked again with the long wait, and a warning for
// windows that held bytes no answer explained (those addresses are not
// reported silent).
func (r *Result) autoEvidence(sw *report.Check) {
	sw.Evidence["timeout"] = "auto"
	sw.Evidence["wait_ms"] = r.Sweep.WaitMS
	sw.Evidence["long_wait_ms"] = r.Sweep.LongWaitMS
	if r.Sweep.Reprobed != "" {
		sw.Evidence["reprobed"] = r.Sweep.Reprobed
	}
	if r.Sweep.Unexplained != "" {
		sw.Evidence["unexplained"] = r.Sweep.Unexplained
		sw.Status = report.Warning
		sw.Hint = unexplainedHint(r.Sweep.Unexplained, time.Duration(r.Sweep.LongWaitMS*float64(time.Millisecond)))
	}
}
