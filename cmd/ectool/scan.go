package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/modbus"
)

// ScanOptions are the inputs of `ectool scan`.
type ScanOptions struct {
	App *App

	serial     serialFlags
	IDs        string
	Expect     string
	Probe      string
	Thorough   bool
	Timeout    time.Duration
	Retries    int
	Listen     time.Duration
	Confirm    int
	IDRegister string
	AutoDetect bool
	// TalkOverMaster is scan's own flag, not the serial group's: every
	// command that opens a port shares --force, only those that send
	// read-only requests may talk over a live master.
	TalkOverMaster bool
	AutoTimeout    bool // --timeout auto

	// Scan is what the flags say, filled in before run.
	Scan modbus.ScanOptions
	// Open, when set, replaces opening the target (tests).
	Open func() (modbus.Port, error)
}

// NewCmdScan builds `ectool scan` and its `sniff` subcommand.
func NewCmdScan(app *App) *cobra.Command {
	return newCmdScan(app, scanRun)
}

func newCmdScan(app *App, runF func(context.Context, *ScanOptions) error) *cobra.Command {
	opts := &ScanOptions{App: app}
	cmd := &cobra.Command{
		Use:   "scan TARGET",
		Short: "Find every Modbus device on an RS-485 bus or behind a TCP gateway, and prove address collisions",
		Long: `Scan probes every address of a bus and tells, for each one that answers, whether a
single device is there or two devices share the address.

TARGET is rtu:///dev/ttyUSB0 (or a bare device path, or COM12), tcp://host:502
(unit ids behind a Modbus TCP gateway; exception 0x0B means absent, 0x0A path
unavailable) or rtuovertcp://host:port (a transparent serial server).

It does no harm to a live bus: it refuses a port another process holds (unless
--force; a bridge such as socat, which holds the other end of a pseudo-terminal,
is not another user), listens for --listen before talking and stops at once if it
hears another master (unless --talk-over-master), strips an adapter's echo, and
never sends a write or a broadcast.

Each address gets one FC 03 read of register 0 (--probe); any answer, an exception
included, means present. Found addresses are then asked for their identity (FC 0x11,
FC 0x2B/0x0E) and polled --confirm times. Evidence of a collision: a second answer or
trailing bytes after a reply, CRC errors concentrated on one address, identity or
--id-register that differs between polls, values or latencies alternating between
two groups. Replies that come after --timeout are attributed by address and CRC and
count as present ("late reply from 17 after 140 ms: try --timeout 300ms"). --timeout auto
(serial lines) waits as the line and first answers say, longer where evidence says:
about 3 times faster than 100ms over 1-247 on a quiet line, slower on a noisy one. It
is not the default: with any wait, a meter whose answer begins just after it goes
unheard, and auto's short wait puts that band where meters answer (add --expect, and
a missing meter fails the scan).

Checks: bus.open, bus.listen, bus.sweep, bus.crc (serial), bus.gateway (tcp),
bus.unit<N> per address and, with --expect, bus.expected (see docs/checks.md).
Exit 0 when every device is ok; 1 on a collision, a suspect address, another master
(a warning with --talk-over-master), no device at all or an expected address that
stays silent; 2 on bad flags; 3 when the port is missing, busy or held.`,
		Example: `  ectool scan /dev/ttyUSB0
  ectool scan rtu:///dev/ttyUSB0 --baud 19200 --parity E --ids 1-32
  ectool scan COM12 --auto-detect --expect 1-12
  ectool scan tcp://192.168.1.50:502 --ids 1-10 --timeout 500ms
  ectool scan rtuovertcp://10.0.0.7:4001 -o json | jq '.details.devices[] | select(.verdict != "ok")'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.complete(cmd, args[0]); err != nil {
				return err
			}
			return runF(cmd.Context(), opts)
		},
	}
	addSerialFlags(cmd, &opts.serial)
	addAutoTimeoutFlag(cmd, &opts.Timeout, &opts.AutoTimeout, 0, "time to wait for each reply (default 100ms on serial, 1s on tcp), or auto on a serial line: a short wait learned from the line and the first answers, and a long one where a late answer or unexplained bytes show it is needed")
	fs := cmd.Flags()
	fs.StringVar(&opts.IDs, "ids", "1-247", "unit ids to probe: lists and ranges (1-10,17); never 0, never 248-255")
	addExpectFlag(cmd, &opts.Expect)
	fs.StringVar(&opts.Probe, "probe", "fc03", "request that asks each address: fc03, fc04, fc01, fc02 or fc11, optionally with a register: a wire address (fc03:4000) or a Modicon reference of the same table (fc04:30001)")
	fs.BoolVar(&opts.Thorough, "thorough", false, "re-probe silent addresses with FC 04 and FC 0x11")
	fs.Var(wholeNumber{&opts.Retries, "a number of retries from 0 to 10"}, "retries", "re-send a probe that got no answer this many times")
	opts.Confirm = 5
	addListenFlag(cmd, &opts.Listen, 3*time.Second, "3s (0 for none)")
	fs.Var(wholeNumber{&opts.Confirm, "a number of polls from 0 to 1000"}, "confirm", "polls of each found address to look for a collision (0: none)")
	fs.StringVar(&opts.IDRegister, "id-register", "", "register with a serial number: a wire address in holding registers (16, 0x10) or a Modicon reference (40017, 30017, 464513); confirm polls read two registers there, so two meters show as two serial numbers")
	fs.BoolVar(&opts.AutoDetect, "auto-detect", false, "find the baud rate and parity first: listen at each candidate, then probe a few addresses")
	fs.BoolVar(&opts.TalkOverMaster, "talk-over-master", false, "keep scanning when another master is heard on the bus (a warning, not a stop); its polls and ectool's then collide now and then")
	cmd.AddCommand(NewCmdScanSniff(app))
	return cmd
}

// complete validates the flags (exit 2, before any I/O) and fills opts.Scan.
func (opts *ScanOptions) complete(cmd *cobra.Command, target string) error {
	t, err := modbus.ParseTarget(target)
	if err != nil {
		return usageError("%v", err)
	}
	ser, err := opts.serial.settings()
	if err != nil {
		return err
	}
	ids, err := modbus.ParseIDs(opts.IDs)
	if err != nil {
		return usageError("--ids: %v", err)
	}
	probe, err := modbus.ParseProbe(opts.Probe)
	if err != nil {
		return usageError("--probe: %v", err)
	}
	if opts.Timeout < 0 || (opts.Timeout > 0 && opts.Timeout < time.Millisecond) {
		return usageError("--timeout %s: want a duration such as 100ms", opts.Timeout)
	}
	if opts.Retries < 0 || opts.Retries > 10 {
		return usageError("--retries %d: want 0 to 10", opts.Retries)
	}
	if opts.Listen < 0 {
		return usageError("--listen %s: want 0 or a positive duration", opts.Listen)
	}
	if opts.Confirm < 0 || opts.Confirm > 1000 {
		return usageError("--confirm %d: want 0 to 1000 polls", opts.Confirm)
	}
	idReg, idTable := -1, modbus.TableUnset
	if opts.IDRegister != "" {
		r, err := modbus.ParseRegister(opts.IDRegister, modbus.TableUnset)
		if err != nil {
			return usageError("--id-register: %v", err)
		}
		if r.Table.Bits() {
			return usageError("--id-register %s is a %s: a serial number sits in holding or input registers (40001..., 30001..., or a wire address)", opts.IDRegister, r.Table.Noun())
		}
		idReg, idTable = int(r.Address), r.Table
	}
	if opts.AutoTimeout && t.Transport == modbus.TransportTCP {
		return usageError("--timeout auto needs a serial line (rtu:// or rtuovertcp://), where ectool hears every byte: behind a Modbus TCP gateway %s it does not; give a duration (default 1s)", t)
	}
	if opts.AutoDetect && t.Transport != modbus.TransportRTU {
		return usageError("--auto-detect needs a serial port (rtu:// or a device path): %s has no baud rate to find", t)
	}
	if opts.TalkOverMaster && t.Transport == modbus.TransportTCP {
		return usageError("--talk-over-master is for an RS-485 line (rtu:// or rtuovertcp://): behind a Modbus TCP gateway %s, other masters are not heard", t)
	}
	if opts.AutoDetect && (cmd.Flags().Changed("baud") || cmd.Flags().Changed("parity")) {
		return usageError("--auto-detect finds --baud and --parity: give one or the other")
	}
	listen := opts.Listen
	if listen == 0 {
		listen = -1 // the domain's "not at all"
	}
	confirm := opts.Confirm
	if confirm == 0 {
		confirm = -1
	}
	opts.Scan = modbus.ScanOptions{
		Target: t, Serial: ser, IDs: ids, Probe: probe, Thorough: opts.Thorough,
		Timeout: opts.Timeout, AutoTimeout: opts.AutoTimeout, Retries: opts.Retries, Listen: listen, Confirm: confirm,
		IDRegister: idReg, IDTable: idTable, Force: opts.serial.Force, TalkOverMaster: opts.TalkOverMaster, Now: opts.App.Now, Open: opts.Open,
	}
	opts.Scan.Expect, err = parseExpect(opts.Expect, ids)
	return err
}

func scanRun(ctx context.Context, opts *ScanOptions) error {
	app := opts.App
	if ctx == nil {
		ctx = context.Background()
	}
	o := opts.Scan
	rep := report.New("scan", o.Target.String(), app.Now)
	talk := app.IO.ErrTTY && !app.JSON()
	var detect *modbus.DetectResult
	if opts.AutoDetect {
		if talk {
			app.Infof("auto-detect: listening and probing at each baud rate and parity...")
		}
		d, err := modbus.AutoDetect(ctx, modbus.DetectOptions{Target: o.Target, IDs: o.IDs, Force: o.Force, Now: o.Now, Open: opts.openAt(), Probe: o.Probe})
		detect = d
		if err != nil {
			res := &modbus.Result{Target: o.Target.String(), Settings: modbus.Settings{Transport: string(o.Target.Transport), Expect: opts.Expect}}
			res.Report(rep, err)
			rep.Finish()
			if rerr := app.renderReport(rep); rerr != nil {
				return rerr
			}
			return reportExit(rep, err, false)
		}
		rep.Add(d.Check())
		if !d.Found {
			rep.SetDetail("autodetect", d)
			rep.Finish()
			if err := app.renderReport(rep); err != nil {
				return err
			}
			return reported(rep.ExitCode(false))
		}
		o.Serial = d.Settings
		if talk {
			app.Infof("auto-detect: %s (%s confidence)", d.Settings, d.Confidence)
		}
	}
	if talk {
		o.Progress = progressPrinter(app.IO.ErrOut, o.Listen)
	}
	res, err := modbus.Scan(ctx, o)
	if talk {
		fmt.Fprint(app.IO.ErrOut, "\r\033[K")
	}
	res.Report(rep, err)
	if detect != nil {
		rep.SetDetail("autodetect", detect)
	}
	rep.Finish()
	if !app.JSON() && len(res.Devices) > 0 {
		writeDeviceTable(app.IO.Out, res.Devices)
	}
	if rerr := app.renderReport(rep); rerr != nil {
		return rerr
	}
	return reportExit(rep, err, false)
}

// openAt is the test hook for auto-detect (nil outside tests).
func (opts *ScanOptions) openAt() func(modbus.SerialSettings) (modbus.Port, error) {
	if opts.Open == nil {
		return nil
	}
	return func(modbus.SerialSettings) (modbus.Port, error) { return opts.Open() }
}

// progressPrinter redraws one status line on stderr.
func progressPrinter(w io.Writer, listen time.Duration) func(modbus.Progress) {
	return func(p modbus.Progress) {
		switch p.Phase {
		case "listen":
			fmt.Fprintf(w, "\r\033[Klistening %s before talking...", listen)
		case "sweep":
			fmt.Fprintf(w, "\r\033[Kaddress %d/%d, %d found, about %s left", p.Done, p.Total, p.Found, p.ETA.Round(time.Second))
		case "confirm":
			fmt.Fprintf(w, "\r\033[Kconfirming found addresses: %d/%d", p.Done, p.Total)
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// ScanSniffOptions are the inputs of `ectool scan sniff`.
type ScanSniffOptions struct {
	App        *App
	serial     serialFlags
	Duration   time.Duration
	MaxCRCRate float64
	Expect     string
	Sniff      modbus.SniffOptions
	Open       func() (modbus.Port, error)
}

// NewCmdScanSniff builds `ectool scan sniff`.
func NewCmdScanSniff(app *App) *cobra.Command {
	return newCmdScanSniff(app, scanSniffRun)
}

func newCmdScanSniff(app *App, runF func(context.Context, *ScanSniffOptions) error) *cobra.Command {
	opts := &ScanSniffOptions{App: app}
	cmd := &cobra.Command{
		Use:   "sniff TARGET",
		Short: "Listen only: decode the existing master's Modbus traffic on a bus",
		Long: `Sniff never transmits. On an adapter of your own on the bus (not the gateway's port:
the holder check refuses a port another process holds), it decodes the polling
master's request/response pairs and lists, per address: function codes, exception
replies, latencies, CRC errors and double answers.

TARGET is rtu:///dev/ttyUSB0 (a bare path or COM12) or rtuovertcp://host:port.

A polling master is expected here. An address it polls that never answers (a dead
or mis-addressed meter) is verdict no_answer, a warning, as are requests left
unanswered now and then and CRC errors that no verdict explains. Exit 1 only on
double answers, more than --max-crc-rate percent of frames failing the CRC, or an
--expect address that never answers the master; silence is a warning (exit 0).`,
		Example: `  ectool scan sniff /dev/ttyUSB1 --duration 30s
  ectool scan sniff rtu:///dev/ttyUSB1 --baud 19200 --parity E -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := modbus.ParseTarget(args[0])
			if err != nil {
				return usageError("%v", err)
			}
			if t.Transport == modbus.TransportTCP {
				return usageError("sniff listens to RTU bytes: use rtu:// or rtuovertcp://, not %s (a Modbus TCP gateway shows only its own exchanges)", t)
			}
			ser, err := opts.serial.settings()
			if err != nil {
				return err
			}
			if opts.Duration <= 0 {
				return usageError("--duration %s: want a positive duration such as 30s", opts.Duration)
			}
			if opts.MaxCRCRate <= 0 || opts.MaxCRCRate > 100 {
				return usageError("--max-crc-rate %g: want a percentage above 0 and up to 100", opts.MaxCRCRate)
			}
			opts.Sniff = modbus.SniffOptions{Target: t, Serial: ser, Duration: opts.Duration, MaxCRCRate: opts.MaxCRCRate / 100,
				Force: opts.serial.Force, Now: app.Now, Open: opts.Open}
			if opts.Sniff.Expect, err = parseExpect(opts.Expect, nil); err != nil {
				return err
			}
			return runF(cmd.Context(), opts)
		},
	}
	addSerialFlags(cmd, &opts.serial)
	fs := cmd.Flags()
	opts.Duration = 30 * time.Second
	fs.Var(wordedDuration{&opts.Duration, "30s or 5m"}, "duration", "how long to listen")
	fs.Float64Var(&opts.MaxCRCRate, "max-crc-rate", 5, "percentage of frames with a bad CRC above which sniff fails")
	addExpectFlag(cmd, &opts.Expect)
	return cmd
}

func scanSniffRun(ctx context.Context, opts *ScanSniffOptions) error {
	app := opts.App
	if ctx == nil {
		ctx = context.Background()
	}
	o := opts.Sniff
	talk := app.IO.ErrTTY && !app.JSON()
	if talk {
		o.Progress = func(frames int, elapsed time.Duration) {
			fmt.Fprintf(app.IO.ErrOut, "\r\033[Klistening: %d frames, %s of %s", frames, elapsed.Round(time.Second), o.Duration)
		}
	}
	rep := report.New("scan sniff", o.Target.String(), app.Now)
	res, err := modbus.Sniff(ctx, o)
	if talk {
		fmt.Fprint(app.IO.ErrOut, "\r\033[K")
	}
	res.Report(rep, err)
	rep.Finish()
	if !app.JSON() && len(res.Devices) > 0 {
		tw := tabwriter.NewWriter(app.IO.Out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "UNIT\tVERDICT\tREQ\tRESP\tNO RESP\tEXC\tCRC\tDOUBLE\tLATENCY p50\tFUNCTIONS")
		for _, d := range res.Devices {
			lat := "-"
			if d.LatencyMS != nil {
				lat = fmt.Sprintf("%.1f ms", d.LatencyMS.P50)
			}
			exc := 0
			for _, n := range d.Exceptions {
				exc += n
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", d.UnitID, d.Verdict, d.Requests, d.Responses, d.NoResponse, exc, d.CRCErrors, d.DoubleAnswers, lat, strings.Join(d.Functions, ","))
		}
		tw.Flush()
		fmt.Fprintln(app.IO.Out)
	}
	if rerr := app.renderReport(rep); rerr != nil {
		return rerr
	}
	return reportExit(rep, err, false)
}
