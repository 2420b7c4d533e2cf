package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/lab"
	"github.com/ecdata/ectool/lab/bus"
)

// The lab's simulated RS-485 bus in `ectool lab` and `ectool lab tour`:
// its flags and its endpoints in the text output. (Its tour steps are in
// package lab/tour.)

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
