package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/lab"
	labmodem "github.com/ecdata/ectool/lab/modem"
)

// The lab's simulated cellular modem in `ectool lab` and `ectool lab tour`:
// its flags and its endpoints in the text output. (Its tour step is in
// package lab/tour.)

// labModemFlags choose the modem scenario.
type labModemFlags struct {
	Scenario string
	Dialect  string
	Quirks   []string
	NoModem  bool
}

func addLabModemFlags(cmd *cobra.Command, f *labModemFlags) {
	fs := cmd.Flags()
	var names []string
	for _, s := range labmodem.Scenarios() {
		names = append(names, s.Name)
	}
	fs.StringVar(&f.Scenario, "modem-scenario", labmodem.DefaultScenario, "simulated modem scenario: "+strings.Join(names, ", "))
	fs.StringVar(&f.Dialect, "modem-dialect", "generic", "vendor the simulated modem answers as: "+strings.Join(labmodem.Dialects, ", "))
	fs.StringSliceVar(&f.Quirks, "modem-quirks", nil, "how the simulated modem talks, comma separated: echo (echo on), urc (codes amid answers), slow (late answers in pieces)")
	fs.BoolVar(&f.NoModem, "no-modem", false, "do not start the simulated modem")
}

func (f labModemFlags) config() lab.ModemConfig {
	return lab.ModemConfig{Disabled: f.NoModem, Scenario: f.Scenario, Dialect: f.Dialect, Quirks: f.Quirks}
}

// labModemHelp describes the modem and its scenarios for `ectool lab --help`.
func labModemHelp() string {
	var b strings.Builder
	b.WriteString(`
The simulated cellular modem answers AT commands on a raw TCP port (BASE+20
with --port-base) and, on Linux and macOS, on a PTY linked as "modem" in the
lab directory, which 'ectool probe modem --port' opens like a USB modem's
ttyUSB port. It logs every command it hears (modem.log in the lab directory).
--modem-scenario chooses what is wrong:
`)
	for _, s := range labmodem.Scenarios() {
		fmt.Fprintf(&b, "  %-20s %s\n", s.Name, s.Description)
	}
	b.WriteString(`--modem-dialect makes it answer as a Quectel, Sierra Wireless, u-blox or Telit
module, whose standard commands partly fail so their own must stand in.
`)
	return b.String()
}

// writeModemEndpointsText prints the modem's endpoints for a person.
func writeModemEndpointsText(w io.Writer, ep *lab.Endpoints) {
	m := ep.Modem
	if m == nil {
		return
	}
	quirks := ""
	if len(m.Quirks) > 0 {
		quirks = ", quirks " + strings.Join(m.Quirks, ",")
	}
	fmt.Fprintf(w, "\ncellular modem (%s dialect%s), scenario %s\n", m.Dialect, quirks, m.Scenario)
	fmt.Fprintf(w, "  %s\n", m.Description)
	fmt.Fprintf(w, "  %-6s %s\n", "at tcp", m.TCP)
	switch {
	case m.PTY != "":
		fmt.Fprintf(w, "  %-6s %s   (link %s)\n", "serial", m.PTY, m.PTYLink)
	case m.PTYUnavailable != "":
		fmt.Fprintf(w, "  %-6s none: %s\n", "serial", m.PTYUnavailable)
	}
	fmt.Fprintf(w, "  apn    '%s' on the modem; the site expects '%s'\n", m.APN, m.ExpectedAPN)
	fmt.Fprintf(w, "  sim    ICCID %s, PIN in %s\n", m.ICCID, m.PINFile)
	fmt.Fprintf(w, "  log    %s (every command the modem hears)\n", m.LogFile)
	fmt.Fprintln(w, "  try")
	fmt.Fprintf(w, "    ectool probe modem --port %s --apn %s\n", m.TCP, m.ExpectedAPN)
	if m.PTY != "" {
		fmt.Fprintf(w, "    ectool probe modem --port %s --apn %s", m.PTYLink, m.ExpectedAPN)
		if m.Scenario == "pin-locked" {
			fmt.Fprintf(w, " --pin-file %s", m.PINFile)
		}
		fmt.Fprintln(w)
	}
}
