package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/lab"
	"github.com/ecdata/ectool/lab/bus"
)

// The lab's simulated RS-485 bus in `ectool lab` and `ectool lab tour`:
// its flags, its endpoints in the text output and its tour steps.

func init() { tourSteps = append(tourSteps, busTourSteps...) }

// labBusFlags choose the bus scenario.
type labBusFlags struct {
	Scenario string
	Settings string
	NoBus    bool
}

func addLabBusFlags(cmd *cobra.Command, f *labBusFlags) {
	fs := cmd.Flags()
	var names []string
	for _, s := range bus.Scenarios() {
		names = append(names, s.Name)
	}
	fs.StringVar(&f.Scenario, "bus-scenario", "default", "simulated RS-485 bus scenario: "+strings.Join(names, ", "))
	fs.StringVar(&f.Settings, "bus-settings", "", "line settings of the simulated bus, like \"19200 8E1\" (default: the scenario's, 9600 8N1)")
	fs.BoolVar(&f.NoBus, "no-bus", false, "do not start the simulated RS-485 bus")
}

func (f labBusFlags) config() lab.BusConfig {
	return lab.BusConfig{Disabled: f.NoBus, Scenario: f.Scenario, Settings: f.Settings}
}

// labBusHelp describes the bus and its scenarios for `ectool lab --help`.
func labBusHelp() string {
	var b strings.Builder
	b.WriteString(`
The simulated RS-485 Modbus bus carries meters with registers and identity
(FC 0x11, 0x2B/0x0E) at honest wire timing. Scan it as a serial port (a PTY
on Linux and macOS, linked as rs485 in the lab directory; the simulator
garbles bytes when the port's baud or parity differ from the bus's, as a
real line does), through a transparent serial server (rtuovertcp://) or
behind a Modbus TCP gateway (tcp://, exception 0x0B for absent units).
With --port-base, rtuovertcp:// listens on BASE+10 and the gateway on
BASE+11. --bus-scenario chooses what is on the line:
`)
	for _, s := range bus.Scenarios() {
		fmt.Fprintf(&b, "  %-14s %s\n", s.Name, s.Description)
	}
	return b.String()
}

// writeBusEndpointsText prints the bus's endpoints for a person.
func writeBusEndpointsText(w io.Writer, ep *lab.Endpoints) {
	b := ep.Bus
	if b == nil {
		return
	}
	fmt.Fprintf(w, "\nRS-485 Modbus bus, scenario %s, %s\n", b.Scenario, b.Settings)
	fmt.Fprintf(w, "  %-10s %s\n", "modbus tcp", b.ModbusTCP)
	fmt.Fprintf(w, "  %-10s %s\n", "rtuovertcp", b.RTUOverTCP)
	switch {
	case b.PTY != "":
		fmt.Fprintf(w, "  %-10s %s   (link %s)\n", "serial", b.PTY, b.PTYLink)
	case b.PTYUnavailable != "":
		fmt.Fprintf(w, "  %-10s none: %s\n", "serial", b.PTYUnavailable)
	}
	for _, m := range b.Meters {
		note := ""
		if m.Note != "" {
			note = "; " + m.Note
		}
		var at []string
		for _, r := range m.SerialRegisters {
			if r.Map == "lab" {
				at = append(at, fmt.Sprintf("%s (%s %d, %s)", r.Reference, r.Table, r.Address, r.Type))
			} else {
				at = append(at, fmt.Sprintf("%s (%s %d, %s %s, the maker's register)", r.Reference, r.Table, r.Address, r.Type, r.Order))
			}
		}
		fmt.Fprintf(w, "  unit %3d  %s %s, S/N %d at %s, answers after %g ms%s\n", m.UnitID, m.Vendor, m.Product, m.Serial, strings.Join(at, " and "), m.LatencyMS, note)
	}
	for _, f := range b.Faults {
		fmt.Fprintf(w, "  fault: %s\n", f)
	}
	fmt.Fprintln(w, "  try")
	fmt.Fprintf(w, "    ectool scan %s\n", b.RTUOverTCP)
	fmt.Fprintf(w, "    ectool scan %s\n", b.ModbusTCP)
	if b.PTY != "" {
		fmt.Fprintf(w, "    ectool scan %s --baud %d --parity %s\n", b.PTYLink, b.Baud, b.Parity)
	}
}

// busScanIDs are the addresses the tour scans: enough to show the meters
// and the collision without a full 1-247 sweep.
const busScanIDs = "1-20"

var busTourSteps = []tourStep{
	{
		ID:    "tour.bus_scan",
		Title: "Scanning the RS-485 bus: every meter, and two at one address",
		Explain: "ectool scan probed each address on the simulated RS-485 line (through a transparent serial " +
			"server, rtuovertcp://) and polled every address that answered several times more. Meters 1, 2 and 3 " +
			"answer cleanly; at 17 two meters answer at once and their bytes overlap into frames with bad CRCs: " +
			"a collision, which mbpoll would report as an intermittent CRC error. Exit code 1.",
		Run: func(ctx context.Context, t *tour) stepResult {
			b := t.ep.Bus
			if b == nil {
				return stepResult{Skip: "the lab runs without its bus"}
			}
			r := t.ectool(ctx, "scan", b.RTUOverTCP, "--ids", busScanIDs, "--listen", "500ms")
			return judgeBusScan(r, b, true)
		},
	},
	{
		ID:    "tour.bus_gateway",
		Title: "The same bus behind a Modbus TCP gateway: the collision hides",
		Explain: "Through the gateway each unit id is one Modbus TCP request. The gateway forwards it to the line and " +
			"answers exception 0x0B (target device failed to respond) when no valid answer comes back: absent " +
			"addresses, and the collided address 17 too, since the gateway drops the garbled frames. Behind a " +
			"gateway a collision looks like a missing meter; scan the RS-485 side to see it.",
		Run: func(ctx context.Context, t *tour) stepResult {
			b := t.ep.Bus
			if b == nil {
				return stepResult{Skip: "the lab runs without its bus"}
			}
			r := t.ectool(ctx, "scan", b.ModbusTCP, "--ids", busScanIDs)
			return judgeBusScan(r, b, false)
		},
	},
	{
		ID:    "tour.bus_wrong_baud",
		Title: "A serial port at the wrong baud rate: a silent bus",
		Explain: "The scan opened the bus's PTY like a USB adapter, at 19200 baud on a 9600 baud line. The simulator " +
			"reads the port's settings and garbles the bytes as a real UART would: the meters cannot read the " +
			"requests, so nothing answers. A bus that is silent everywhere is wiring, termination or settings; " +
			"--auto-detect finds the baud rate and parity.",
		Run: func(ctx context.Context, t *tour) stepResult {
			b, skip := busPTY(t)
			if skip != "" {
				return stepResult{Skip: skip}
			}
			wrong := "19200"
			if b.Baud == 19200 {
				wrong = "9600"
			}
			r := t.ectool(ctx, "scan", b.PTYLink, "--baud", wrong, "--parity", b.Parity, "--ids", "1-3", "--listen", "200ms")
			if r.ExitCode != 1 {
				return stepResult{Problem: fmt.Sprintf("scan exited %d, want 1", r.ExitCode), Hint: "no meter can answer at the wrong baud rate"}
			}
			for _, m := range b.Meters {
				if scanRowSays(r.Stdout, m.UnitID, "ok") {
					return stepResult{Problem: fmt.Sprintf("meter %d answered cleanly at the wrong baud rate", m.UnitID)}
				}
			}
			if !strings.Contains(r.Stdout, "FAILED at bus.") {
				return stepResult{Problem: "the scan does not name a failed bus check", Evidence: map[string]any{"baud": wrong}}
			}
			return stepResult{Evidence: map[string]any{"baud": wrong, "bus_baud": b.Baud}}
		},
	},
	{
		ID:    "tour.bus_autodetect",
		Title: "--auto-detect: finding the baud rate and parity",
		Explain: "With --auto-detect the scan first listened at each candidate setting, then probed a few addresses at " +
			"each until valid answers came back, and said what it concluded and how sure it is. The simulator " +
			"garbled every wrong guess, so the setting found is the bus's.",
		Run: func(ctx context.Context, t *tour) stepResult {
			b, skip := busPTY(t)
			if skip != "" {
				return stepResult{Skip: skip}
			}
			r := t.ectool(ctx, "scan", b.PTYLink, "--auto-detect", "--ids", "1-3", "--listen", "200ms")
			ev := map[string]any{"bus_settings": b.Settings}
			if r.ExitCode != 0 && r.ExitCode != 1 {
				return stepResult{Problem: fmt.Sprintf("scan exited %d", r.ExitCode), Evidence: ev}
			}
			if !strings.Contains(r.Combined, b.Settings) {
				return stepResult{Problem: "the scan did not conclude " + b.Settings, Evidence: ev}
			}
			return stepResult{Evidence: ev}
		},
	},
}

// busPTY is the lab bus for the steps that open its PTY, or why they skip.
func busPTY(t *tour) (*lab.BusEndpoints, string) {
	switch b := t.ep.Bus; {
	case b == nil:
		return nil, "the lab runs without its bus"
	case b.PTY == "":
		return nil, "no PTY: " + b.PTYUnavailable
	default:
		return b, ""
	}
}

// judgeBusScan checks a tour scan against what the scenario put on the bus:
// every single meter found ok, and on the serial side the collision named.
func judgeBusScan(r *ran, b *lab.BusEndpoints, serialSide bool) stepResult {
	ev := map[string]any{"collided_unit_ids": b.Collided}
	if r.ExitCode < 0 || r.ExitCode > 1 {
		return stepResult{Problem: fmt.Sprintf("scan exited %d", r.ExitCode), Evidence: ev}
	}
	collided := map[int]bool{}
	for _, id := range b.Collided {
		collided[id] = true
	}
	for _, m := range b.Meters {
		if collided[m.UnitID] || m.UnitID > 20 {
			continue
		}
		if !scanRowSays(r.Stdout, m.UnitID, "ok") {
			return stepResult{Problem: fmt.Sprintf("the scan does not list meter %d as ok", m.UnitID), Evidence: ev}
		}
	}
	if serialSide && len(b.Collided) > 0 {
		if r.ExitCode != 1 {
			return stepResult{Problem: fmt.Sprintf("scan exited %d, want 1", r.ExitCode), Hint: fmt.Sprintf("two meters share address %d", b.Collided[0]), Evidence: ev}
		}
		if !scanRowSays(r.Stdout, b.Collided[0], "collision") {
			return stepResult{Problem: fmt.Sprintf("the scan does not name the collision at %d", b.Collided[0]), Evidence: ev}
		}
	}
	return stepResult{Evidence: ev}
}

// scanRowSays reports whether the scan's device table has a row for unit
// with that verdict ("17    collision  ...").
func scanRowSays(stdout string, unit int, verdict string) bool {
	for _, line := range strings.Split(stdout, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == strconv.Itoa(unit) && f[1] == verdict {
			return true
		}
	}
	return false
}
