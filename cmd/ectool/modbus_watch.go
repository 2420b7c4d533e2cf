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

// ModbusWatchOptions are the inputs of `ectool modbus watch`.
type ModbusWatchOptions struct {
	App            *App
	bus            busFlags
	value          valueFlags
	Unit           string
	Every          time.Duration
	Duration       time.Duration
	Polls          int
	MaxErrorRate   float64
	TalkOverMaster bool

	Watch modbus.WatchOptions
	Open  func() (modbus.Port, error)
}

// NewCmdModbusWatch builds `ectool modbus watch`.
func NewCmdModbusWatch(app *App) *cobra.Command {
	return newCmdModbusWatch(app, modbusWatchRun)
}

func newCmdModbusWatch(app *App, runF func(context.Context, *ModbusWatchOptions) error) *cobra.Command {
	opts := &ModbusWatchOptions{App: app}
	cmd := &cobra.Command{
		Use:   "watch TARGET --unit 1,2,17 (--reg REG[,REG...] | --meter NAME)",
		Short: "Poll devices, print each change, count each device's errors over time",
		Long: `Watch polls every --reg (or every quantity of --meter) of every --unit each --every,
prints a line when a value changes, and keeps per device: polls, answers, timeouts,
CRC errors, exceptions and latency p50/p99. It ends after --duration or --polls
rounds (or Ctrl-C) with a report: a check watch.unit<N> per device, failed when more
than --max-error-rate percent of its polls failed. --count N reads N consecutive values
of --type from each --reg in one request, as read does; each value has its own line.
Requests follow each other after the line's t3.5 of silence (--every 0: back to back).

This is the bus soak that finds a bad termination or a star topology: errors that
come and go, which one scan cannot see. -o json writes JSON Lines: one line per
change, then the report.

It listens --listen first and stops if another master polls the bus, unless
--talk-over-master. Exit 0 when every device stayed under its error rate; 1 when
one did not, or another master was heard; 2 on bad flags; 3 when the port is
missing or held.`,
		Example: `  ectool modbus watch /dev/ttyUSB0 --unit 1,2,3 --reg 40001 --duration 10m
  ectool modbus watch /dev/ttyUSB0 --unit 2 --meter sdm630 --every 5s
  ectool modbus watch rtuovertcp://10.0.0.7:4001 --unit 1-8 --reg 30001 --polls 600 --every 0 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.complete(cmd, args[0]); err != nil {
				return err
			}
			return runF(cmd.Context(), opts)
		},
	}
	addBusFlags(cmd, &opts.bus)
	addUnitFlag(cmd, &opts.Unit, "unit ids to watch: lists and ranges (1,2,17 or 1-3)")
	addValueFlags(cmd, &opts.value, "registers to watch, a comma list: 40001 (Modicon), 16 or 0x10 (wire address in --table)")
	fs := cmd.Flags()
	opts.Every = time.Second
	fs.Var(wordedDuration{&opts.Every, "1s (0: back to back)"}, "every", "time from one round of polls to the next (0: back to back)")
	fs.Var(wordedDuration{&opts.Duration, "30s or 10m"}, "duration", "stop after this long (0: no limit)")
	fs.Var(wholeNumber{&opts.Polls, "a number of rounds"}, "polls", "stop after this many rounds (0: no limit)")
	fs.Float64Var(&opts.MaxErrorRate, "max-error-rate", 1, "percentage of a device's polls that may fail before its check fails")
	fs.BoolVar(&opts.TalkOverMaster, "talk-over-master", false, "read even when another master is heard on the bus (a warning, not a stop); its polls and ectool's then collide now and then")
	return cmd
}

// complete validates the flags (exit 2, before any I/O) and fills opts.Watch.
func (opts *ModbusWatchOptions) complete(cmd *cobra.Command, target string) error {
	c, err := opts.bus.client(opts.App, target)
	if err != nil {
		return err
	}
	units, err := parseUnits(opts.Unit, false, false)
	if err != nil {
		return err
	}
	regs := opts.value.Reg
	opts.value.Reg = "" // resolve reads the list below, one at a time
	v, err := opts.value.resolve(cmd)
	opts.value.Reg = regs
	switch {
	case err != nil:
		return err
	case opts.Every < 0 || opts.Duration < 0 || opts.Polls < 0:
		return usageError("--every, --duration and --polls take 0 or more")
	case opts.MaxErrorRate < 0 || opts.MaxErrorRate > 100:
		return usageError("--max-error-rate %g: want a percentage from 0 to 100", opts.MaxErrorRate)
	case regs == "" && v.Profile == nil:
		return usageError("give the registers to watch (--reg 40001,40003) or the meter (--meter NAME)")
	case opts.TalkOverMaster && c.Target.Transport == modbus.TransportTCP:
		return usageError("--talk-over-master is for an RS-485 line: behind a Modbus TCP gateway %s, other masters are not heard", c.Target)
	}
	items, err := opts.items(regs, v)
	if err != nil {
		return err
	}
	c.TalkOverMaster, c.Open = opts.TalkOverMaster, opts.Open
	opts.Watch = modbus.WatchOptions{Client: c, Units: units, Items: items, Every: opts.Every, Duration: opts.Duration,
		Polls: opts.Polls, MaxErrorRate: opts.MaxErrorRate / 100}
	return nil
}

// items are the values to poll: each --reg as --type, or the profile's
// quantities.
func (opts *ModbusWatchOptions) items(regs string, v resolved) ([]modbus.WatchItem, error) {
	var out []modbus.WatchItem
	if regs == "" {
		for _, q := range v.Profile.Quantities {
			out = append(out, modbus.WatchItemOf(q))
		}
		return out, nil
	}
	table := modbus.TableUnset
	if opts.value.Table != "" {
		table, _ = modbus.ParseTable(opts.value.Table)
	}
	for _, s := range strings.Split(regs, ",") {
		r, err := modbus.ParseRegister(s, table)
		if err != nil {
			return nil, usageError("--reg: %v", err)
		}
		if r.Table.Bits() {
			return nil, usageError("--reg %s is a %s: watch reads registers (holding or input)", s, r.Table.Noun())
		}
		it := modbus.WatchItem{Reg: r, Count: opts.value.Count, Type: v.Type, Order: v.Order, Scale: opts.value.Scale}
		if q := profileQuantity(resolved{Profile: v.Profile, Reg: &r}); q != nil {
			it = modbus.WatchItemOf(*q)
		}
		if it.Type == "" {
			it.Type = modbus.U16
		}
		if w := it.Type.Registers(); w > 0 && it.ID == "" {
			// --count of a numeric type is values read in one request, as in read.
			it.Values = opts.value.Count
			if w*it.Values > 125 {
				return nil, usageError("--count %d of %s is %d registers: one request reads at most 125", it.Values, it.Type, w*it.Values)
			}
		}
		out = append(out, it)
	}
	return out, nil
}

func modbusWatchRun(ctx context.Context, opts *ModbusWatchOptions) error {
	app := opts.App
	if ctx == nil {
		ctx = context.Background()
	}
	o := opts.Watch
	out := app.newStream()
	defer out.Close()
	o.OnChange = func(c modbus.Change) {
		if app.JSON() {
			_ = out.Record(c)
			return
		}
		_ = out.Line(changeLine(c))
	}
	if !app.JSON() {
		writeWatchItems(app.IO.ErrOut, o.Items)
	}
	rep := report.New("modbus watch", o.Client.Target.String(), app.Now)
	res, err := modbus.Watch(ctx, o)
	res.Report(rep, o.Client.Target, err)
	rep.Finish()
	// The report is the stream's last line (JSON), or follows the changes.
	if werr := out.Close(); werr != nil {
		return writeErr(werr)
	}
	if !app.JSON() && len(res.Units) > 0 {
		writeWatchTable(app.IO.Out, res.Units)
	}
	if rerr := app.renderReport(rep); rerr != nil {
		return rerr
	}
	return reportExit(rep, err, false)
}

// writeWatchItems says each watched register back in both forms before
// the change lines, which name only the reference: a --reg 16 shows as
// 40017 there.
func writeWatchItems(w io.Writer, items []modbus.WatchItem) {
	for _, it := range items {
		what := string(it.Type)
		if it.Name != "" {
			what = it.Name + ", " + what
		}
		if it.Values > 1 {
			last, _ := it.Reg.Add(it.Values*it.Type.Registers() - 1)
			what = fmt.Sprintf("%d × %s to %s", it.Values, what, last.Reference())
		}
		fmt.Fprintf(w, "watching %s: %s\n", registerWords(it.Reg), what)
	}
}

// changeLine is one change for a person: time, unit, register, value.
func changeLine(c modbus.Change) string {
	what := c.Reference
	if c.Name != "" {
		what += " " + c.Name
	}
	v := c.Value
	if c.Unit != "" {
		v += " " + c.Unit
	}
	if c.Previous != nil {
		v += " (was " + *c.Previous + ")"
	}
	return fmt.Sprintf("%s  unit %d  %s  %s", c.Time, c.UnitID, what, v)
}

func writeWatchTable(w io.Writer, units []modbus.UnitStats) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "UNIT\tPOLLS\tANSWERS\tTIMEOUT\tCRC\tEXC\tERRORS\tLATENCY p50\tp99")
	for _, u := range units {
		p50, p99 := "-", "-"
		if u.LatencyMS != nil {
			p50, p99 = fmt.Sprintf("%.1f ms", u.LatencyMS.P50), fmt.Sprintf("%.1f ms", u.LatencyMS.P99)
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%.1f %%\t%s\t%s\n", u.UnitID, u.Polls, u.Answers, u.Timeouts, u.CRCErrors, u.Exceptions, u.ErrorRate, p50, p99)
	}
	tw.Flush()
	fmt.Fprintln(w)
}
