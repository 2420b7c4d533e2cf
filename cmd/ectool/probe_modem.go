package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/diag/exitcode"
	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/modem"
)

// ProbeModemOptions are the inputs of `ectool probe modem`.
type ProbeModemOptions struct {
	App *App

	serial  serialFlags
	Port    string
	APN     string
	PINFile string
	MMCLI   bool
	Timeout time.Duration

	// Probe is what the flags say, filled in before run (the port itself
	// is opened by run).
	Probe modem.Options
	// Open, when set, replaces opening the port (tests).
	Open func() (io.ReadWriteCloser, error)
}

// NewCmdProbeModem builds `ectool probe modem`.
func NewCmdProbeModem(app *App) *cobra.Command {
	return newCmdProbeModem(app, probeModemRun)
}

func newCmdProbeModem(app *App, runF func(context.Context, *ProbeModemOptions) error) *cobra.Command {
	opts := &ProbeModemOptions{App: app}
	cmd := &cobra.Command{
		Use:   "modem --port PORT [--apn EXPECTED] [--pin-file FILE]",
		Short: "Check a cellular modem over its AT port: SIM, signal, registration, operator, and whether the APN gives an IP address",
		Long: `Probe modem asks the modem, in order: does the AT port answer, is the SIM there
and unlocked, what does the radio measure, is the modem registered for data, on
which operator, and does a data context (PDP) have an IP address. It names the
first trap, as in "registered (home, LTE), signal -71 dBm good, but PDP context
1 with APN 'internet' has no IP address: the APN is probably wrong (expected
'm2m.example')".

PORT is the modem's AT port: a serial device (/dev/ttyUSB2, /dev/serial/by-id/...,
COM5) or tcp://host:port (a raw AT port: a serial server's, the lab's). USB
modems expose several ports; the AT one is often ttyUSB2 (Quectel) or ttyUSB3
(Sierra). --baud defaults to 115200 (USB modems ignore it).

It changes nothing: it sends queries, AT, ATE0 and AT+CMEE=2 (echo and error
mode are put back afterwards), never AT&W, +CGDCONT=, +COPS=, +CFUN= or
+CGACT=. With --pin-file and a SIM asking for its PIN, the PIN is sent once:
a refused PIN is never retried (three wrong ones block the SIM until its PUK),
the attempts left are reported where the modem tells, and the PIN is shown
nowhere. Where a standard command fails, the vendor's own answers (Quectel
AT+QCCID/AT+QCSQ, Sierra AT!ICCID?/AT!GSTATUS?, u-blox AT+UCGED?, Telit
AT#CCID/AT#RFSTS); the evidence names the command that answered.

A port held by another process (ModemManager, a gateway's dialer) is refused
unless --force: stop ModemManager, or set the udev property ID_MM_PORT_IGNORE
on the port, or use --mmcli, which reads 'mmcli -m any -J' (and the SIM and
bearer it points to) instead of talking AT.

--timeout bounds each AT command (each mmcli call with --mmcli); a modem that
leaves two commands in a row unanswered is declared mute and not waited on.

Checks: modem.port, modem.sim, modem.signal, modem.registration,
modem.operator, modem.pdp (see docs/checks.md); the raw answers are in each
check's evidence, the whole transcript in details.modem.transcript.
Exit 0 when every check is ok; 1 when one failed (no answer to AT, PIN refused,
not registered, no IP address); 2 on bad flags or a missing --pin-file; 3 when
the port is missing, held by another process or not a serial device, or
mmcli finds no modem.`,
		Example: `  ectool probe modem --port /dev/ttyUSB2 --apn m2m.example
  ectool probe modem --port /dev/ttyUSB2 --pin-file /etc/gateway/sim-pin
  ectool probe modem --port tcp://10.0.0.7:4001 -o json | jq .details.verdict
  ectool probe modem --mmcli --apn m2m.example`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.complete(); err != nil {
				return err
			}
			return runF(cmd.Context(), opts)
		},
	}
	addSerialFlagsBaud(cmd, &opts.serial, 115200)
	addTimeoutFlag(cmd, &opts.Timeout, modem.DefaultTimeout, "time to wait for each AT command's answer (each mmcli call with --mmcli)")
	fs := cmd.Flags()
	fs.StringVar(&opts.Port, "port", "", "the modem's AT port: /dev/ttyUSB2, COM5 or tcp://host:port (optional with --mmcli)")
	fs.StringVar(&opts.APN, "apn", "", "the APN the SIM needs (from the operator): compared with the data context's")
	fs.StringVar(&opts.PINFile, "pin-file", "", "file holding the SIM's PIN, sent once if the SIM asks for it (never retried, never shown)")
	fs.BoolVar(&opts.MMCLI, "mmcli", false, "ask ModemManager (mmcli -m any -J) instead of talking AT to the port")
	return cmd
}

// complete validates the flags (exit 2, before any I/O) and fills
// opts.Probe.
func (opts *ProbeModemOptions) complete() error {
	if opts.Port == "" && !opts.MMCLI {
		return usageError("--port is required: the modem's AT port (/dev/ttyUSB2, COM5 or tcp://host:port), or --mmcli to ask ModemManager")
	}
	if opts.Port != "" {
		if err := checkModemPort(opts.Port); err != nil {
			return err
		}
	}
	if _, err := opts.serial.settings(); err != nil {
		return err
	}
	if opts.Timeout <= 0 {
		return usageError("--timeout %s: want a positive duration such as 3s", opts.Timeout)
	}
	if strings.ContainsAny(opts.APN, " \t\r\n\",") {
		return usageError("--apn %q: an APN has no spaces, quotes or commas (such as m2m.example)", opts.APN)
	}
	pin := ""
	if opts.PINFile != "" {
		if opts.MMCLI {
			return usageError("--pin-file works over AT only: mmcli would take the PIN on its command line, where every user can read it; drop --mmcli, or unlock the SIM in the gateway's connection settings")
		}
		var err error
		if pin, err = readPIN(opts.PINFile); err != nil {
			return err
		}
	}
	opts.Probe = modem.Options{Target: opts.Port, Timeout: opts.Timeout, ExpectedAPN: opts.APN, PIN: pin, Now: opts.App.Now}
	return nil
}

// checkModemPort accepts a device path, COMn, or tcp://host:port.
func checkModemPort(port string) error {
	rest, isTCP := strings.CutPrefix(port, "tcp://")
	if !isTCP {
		if i := strings.Index(port, "://"); i > 0 {
			return usageError("--port %q: use a serial device (/dev/ttyUSB2, COM5) or tcp://host:port, not %s://", port, port[:i])
		}
		return nil
	}
	host, p, err := net.SplitHostPort(rest)
	n, perr := strconv.Atoi(p)
	if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return usageError("--port %q: want tcp://host:port with a port from 1 to 65535, such as tcp://10.0.0.7:4001", port)
	}
	return nil
}

// readPIN reads a PIN file: 4 to 8 digits, spaces around them ignored. The
// PIN itself never appears in an error.
func readPIN(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", inputFileError("--pin-file", path, err)
	}
	pin := strings.TrimSpace(string(b))
	if len(pin) < 4 || len(pin) > 8 || strings.Trim(pin, "0123456789") != "" {
		return "", usageError("--pin-file %s does not hold a PIN (4 to 8 digits, nothing else)", path)
	}
	return pin, nil
}

func probeModemRun(ctx context.Context, opts *ProbeModemOptions) error {
	app := opts.App
	if ctx == nil {
		ctx = context.Background()
	}
	o := opts.Probe
	target := o.Target
	if opts.MMCLI && target == "" {
		target = "mmcli -m any"
	}
	rep := report.New("probe modem", target, app.Now)
	var res *modem.Result
	if opts.MMCLI {
		res = modem.ProbeMMCLI(ctx, o)
	} else {
		port, how, err := opts.open()
		if err != nil {
			modem.ReportOpenFailure(rep, o.Target, err)
			rep.Finish()
			if rerr := app.renderReport(rep); rerr != nil {
				return rerr
			}
			return reportExit(rep, err, false)
		}
		o.Port, o.PortEvidence = port, how
		res = modem.Probe(ctx, o)
		port.Close()
	}
	res.Report(rep)
	rep.Finish()
	for _, e := range res.Transcript {
		app.Debugf("> %s  < %s %s", e.Command, e.Answer, e.Error)
	}
	if !app.JSON() {
		fmt.Fprintf(app.IO.Out, "verdict: %s\n\n", res.Verdict)
	}
	if err := app.renderReport(rep); err != nil {
		return err
	}
	return reportExit(rep, res.Err, false)
}

// open opens the AT port. Whatever keeps it closed (a holder, a missing
// device, nothing listening at a tcp:// address) means the probe could not
// run: exit 3.
func (opts *ProbeModemOptions) open() (io.ReadWriteCloser, map[string]any, error) {
	if opts.Open != nil {
		p, err := opts.Open()
		return p, nil, exitcode.Wrap(exitcode.KindCannotRun, err)
	}
	ser, _ := opts.serial.settings()
	p, how, err := modem.OpenPort(opts.Port, ser, opts.serial.Force, opts.Timeout)
	return p, how, exitcode.Wrap(exitcode.KindCannotRun, err)
}
