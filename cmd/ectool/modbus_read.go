package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/modbus"
)

// ModbusReadOptions are the inputs of `ectool modbus read`.
type ModbusReadOptions struct {
	App            *App
	bus            busFlags
	value          valueFlags
	Unit           string
	TalkOverMaster bool

	Read modbus.ReadOptions
	// Open, when set, replaces opening the target (tests).
	Open func() (modbus.Port, error)
}

// NewCmdModbusRead builds `ectool modbus read`.
func NewCmdModbusRead(app *App) *cobra.Command {
	return newCmdModbusRead(app, modbusReadRun)
}

func newCmdModbusRead(app *App, runF func(context.Context, *ModbusReadOptions) error) *cobra.Command {
	opts := &ModbusReadOptions{App: app}
	cmd := &cobra.Command{
		Use:   "read TARGET --unit N (--reg REG | --meter NAME)",
		Short: "Read registers or a meter's named quantities, with the byte order found",
		Long: `Read reads one unit: registers from --reg, or every quantity of a meter profile
(--meter, or the profile matching the meter's own identification, FC 0x2B).

--reg takes a Modicon reference, which picks the table and counts from 1 (30001-39999
input, 40001-49999 holding, six digits up to 465536, 00001 coils, 10001 discrete
inputs), or the 0-based address on the wire (16, 0x10) in --table (default holding).
The output says both forms back, so nobody guesses the off-by-one.

--order auto (the default for 32- and 64-bit types) decodes in all four byte orders
and keeps those whose values are finite, not denormal and within the quantity's
range (the profile's, else 1e9); one survivor is used, several are "cannot tell"
(a warning, all shown), never a guess; -v shows every order weighed and why each
was dropped. With a profile every quantity is read and one order decided for the
meter, which says when it contradicts its manual.

It listens --listen first and stops if another master polls the bus, unless
--talk-over-master. Checks: bus.open, bus.listen, modbus.identify, modbus.read,
modbus.order. Exit 0 when read (a "cannot tell" is a warning); 1 on an exception,
a timeout or another master; 2 on bad flags; 3 when the port is missing or held.`,
		Example: `  ectool modbus read /dev/ttyUSB0 --unit 2 --meter sdm630
  ectool modbus read /dev/ttyUSB0 --unit 2 --reg 30001 --type f32 --count 3
  ectool modbus read tcp://10.0.0.5:502 --unit 1 --reg 0x0034 --table input --type s32 --order CDAB --scale 0.1
  ectool modbus read rtuovertcp://10.0.0.7:4001 --unit 3 -o json | jq '.details.values[]'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.complete(cmd, args[0]); err != nil {
				return err
			}
			return runF(cmd.Context(), opts)
		},
	}
	addBusFlags(cmd, &opts.bus)
	addUnitFlag(cmd, &opts.Unit, "unit id of the meter (exactly one)")
	addValueFlags(cmd, &opts.value, "first register: 40001 (Modicon), 16 or 0x10 (wire address in --table)")
	cmd.Flags().BoolVar(&opts.TalkOverMaster, "talk-over-master", false, "read even when another master is heard on the bus (a warning, not a stop); its polls and ectool's then collide now and then")
	return cmd
}

// complete validates the flags (exit 2, before any I/O) and fills opts.Read.
func (opts *ModbusReadOptions) complete(cmd *cobra.Command, target string) error {
	c, err := opts.bus.client(opts.App, target)
	if err != nil {
		return err
	}
	units, err := parseUnits(opts.Unit, true, false)
	if err != nil {
		return err
	}
	v, err := opts.value.resolve(cmd)
	if err != nil {
		return err
	}
	if opts.TalkOverMaster && c.Target.Transport == modbus.TransportTCP {
		return usageError("--talk-over-master is for an RS-485 line: behind a Modbus TCP gateway %s, other masters are not heard", c.Target)
	}
	if v.Reg == nil && (cmd.Flags().Changed("type") || cmd.Flags().Changed("count") || cmd.Flags().Changed("table")) {
		return usageError("--type, --count and --table describe --reg: give the register, or read the whole meter with --meter alone")
	}
	c.TalkOverMaster, c.Open = opts.TalkOverMaster, opts.Open
	opts.Read = modbus.ReadOptions{Client: c, Unit: units[0], Reg: v.Reg, Count: opts.value.Count, Type: v.Type, Order: v.Order,
		Scale: opts.value.Scale, Profile: v.Profile}
	// --meter with --reg: a quantity starting there lends its type and
	// scale unless the flags say otherwise.
	if v.Profile != nil && v.Reg != nil {
		if q := v.Profile.QuantityAt(*v.Reg); q != nil {
			if v.Type == "" {
				opts.Read.Type = q.Type
			}
			if !cmd.Flags().Changed("scale") {
				opts.Read.Scale = q.Scale
			}
		}
	}
	return nil
}

func modbusReadRun(ctx context.Context, opts *ModbusReadOptions) error {
	app := opts.App
	if ctx == nil {
		ctx = context.Background()
	}
	o := opts.Read
	rep := report.New("modbus read", o.Client.Target.String(), app.Now)
	res, err := modbus.Read(ctx, o)
	res.Report(rep, o.Client.Target, err)
	rep.Finish()
	if !app.JSON() && len(res.Values) > 0 {
		writeValues(app.IO.Out, res, app.Verbose)
	}
	if rerr := app.renderReport(rep); rerr != nil {
		return rerr
	}
	return reportExit(rep, err, false)
}

// writeValues prints the values as a table: by name with a profile, by
// register otherwise, both register forms and the raw words beside each;
// with -v every byte order --order auto weighed, under its value.
func writeValues(w io.Writer, res *modbus.ReadResult, verbose bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if res.Profile != "" {
		fmt.Fprintf(tw, "QUANTITY\tVALUE\tREGISTER\tRAW\tORDER\n")
	} else {
		fmt.Fprintf(tw, "REFERENCE\tREGISTER\tRAW\tVALUE\tORDER\n")
	}
	for _, v := range res.Values {
		order := string(v.Order)
		if v.OrderAuto != nil {
			order += " (auto)"
		}
		val := v.String()
		if v.Outcome != modbus.OutcomeOK {
			val = string(v.Outcome)
		}
		if res.Profile != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Name, val, v.Register, v.RawHex, order)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Reference, v.Register, v.RawHex, val, order)
		}
		if verbose && v.OrderAuto != nil {
			for _, c := range v.OrderAuto.Candidates {
				why := "plausible"
				if !c.Plausible {
					why = c.Reason
				}
				fmt.Fprintf(tw, "\t  %s %s\t\t%s\t\n", c.Order, c.Value, why)
			}
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
}
