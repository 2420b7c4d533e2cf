package main

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/modbus"
)

// ModbusWriteOptions are the inputs of `ectool modbus write`.
type ModbusWriteOptions struct {
	App       *App
	bus       busFlags
	value     valueFlags
	Unit      string
	Value     string
	FC        string
	Broadcast bool
	Yes       bool

	Write modbus.WriteOptions
	Open  func() (modbus.Port, error)
}

// NewCmdModbusWrite builds `ectool modbus write`.
func NewCmdModbusWrite(app *App) *cobra.Command {
	return newCmdModbusWrite(app, modbusWriteRun)
}

func newCmdModbusWrite(app *App, runF func(context.Context, *ModbusWriteOptions) error) *cobra.Command {
	opts := &ModbusWriteOptions{App: app}
	cmd := &cobra.Command{
		Use:   "write TARGET --unit N --reg REG --value V",
		Short: "Write a register (or coils) and read it back",
		Long: `Write sends one value with FC 06 (FC 16 for several registers, or --fc 16 for meters
that accept nothing else, as Eastron's), FC 05/15 for coils, then reads the register
back and fails when the value did not take.

--value is read as --type (default u16) in --order, divided by --scale: with --type
s32 --scale 0.1, "230.5" writes 2305; a comma list writes consecutive values; 0x hex
is the raw content. A 32- or 64-bit value needs its order: --order, or --meter.

It asks first on a terminal; elsewhere it needs --yes and never waits for input.
It listens first and never writes after hearing another master. Unit 0 (broadcast)
needs --broadcast, and a broadcast cannot be read back.

Checks: bus.open, bus.listen, modbus.write, modbus.readback. Exit 0 when written and
read back; 1 on an exception, a timeout, a failed read-back or another master;
2 on bad flags, a write without --yes off a terminal, unit 0 without --broadcast;
3 when the port is missing or held.`,
		Example: `  ectool modbus write /dev/ttyUSB0 --unit 1 --reg 40021 --value 15
  ectool modbus write /dev/ttyUSB0 --unit 2 --reg 40003 --value 30 --type f32 --order ABCD --fc 16 --yes
  ectool modbus write tcp://10.0.0.5:502 --unit 0 --broadcast --reg 40021 --value 1 --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.complete(cmd, args[0]); err != nil {
				return err
			}
			return runF(cmd.Context(), opts)
		},
	}
	addBusFlags(cmd, &opts.bus)
	addUnitFlag(cmd, &opts.Unit, "unit id of the meter (exactly one; 0 with --broadcast)")
	addValueFlags(cmd, &opts.value, "register to write: 40001 (Modicon), 16 or 0x10 (wire address in --table)")
	fs := cmd.Flags()
	fs.StringVar(&opts.Value, "value", "", "value to write, read as --type (a comma list for consecutive values; 1/0 or on/off for coils)")
	fs.StringVar(&opts.FC, "fc", "", "function code: 06 or 16 for registers, 05 or 15 for coils (default: the single write for one value)")
	fs.BoolVar(&opts.Broadcast, "broadcast", false, "allow unit 0: every device on the bus takes the write, none answers, nothing is read back")
	fs.BoolVar(&opts.Yes, "yes", false, "write without asking (needed when stdin is not a terminal)")
	return cmd
}

// complete validates everything before any I/O (exit 2).
func (opts *ModbusWriteOptions) complete(cmd *cobra.Command, target string) error {
	c, err := opts.bus.client(opts.App, target)
	if err != nil {
		return err
	}
	units, err := parseUnits(opts.Unit, true, true)
	if err != nil {
		return err
	}
	if units[0] == 0 && !opts.Broadcast {
		return usageError("--unit 0 is broadcast: every device on the bus would take the write; pass --broadcast to mean it")
	}
	v, err := opts.value.resolve(cmd)
	switch {
	case err != nil:
		return err
	case v.Reg == nil:
		return usageError("--reg is required: the register to write (40001, or a wire address with --table)")
	case opts.Value == "":
		return usageError("--value is required: what to write, read as --type (default u16)")
	case !v.Reg.Table.Writable():
		return usageError("--reg %s is a %s: inputs are read-only by the protocol; a setting lives in a holding register (4xxxx) or a coil", opts.value.Reg, v.Reg.Table.Noun())
	}
	c.Open = opts.Open
	w := modbus.WriteOptions{Client: c, Unit: units[0], Reg: *v.Reg, Broadcast: opts.Broadcast, Value: opts.Value}
	if err := opts.encode(cmd, v, &w); err != nil {
		return err
	}
	if w.Function, err = opts.function(*v.Reg, max(len(w.Registers), len(w.Coils))); err != nil {
		return err
	}
	if !opts.Yes && !(opts.App.IO.InTTY && opts.App.IO.ErrTTY) {
		return usageError("a write needs --yes when ectool cannot ask (stdin is not a terminal): it changes a device")
	}
	opts.Write = w
	return nil
}

// encode reads --value into registers or coils.
func (opts *ModbusWriteOptions) encode(cmd *cobra.Command, v resolved, w *modbus.WriteOptions) error {
	if v.Reg.Table == modbus.TableCoil {
		coils, err := modbus.ParseCoils(opts.Value)
		if err != nil {
			return usageError("--value: %v", err)
		}
		w.Coils = coils
		return nil
	}
	typ, order, scale := v.Type, v.Order, opts.value.Scale
	if q := profileQuantity(v); q != nil {
		if typ == "" {
			typ = q.Type
		}
		if order == modbus.OrderAuto {
			order = q.Order
		}
		if !cmd.Flags().Changed("scale") {
			scale = q.Scale
		}
	}
	if typ == "" {
		typ = modbus.U16
	}
	if order == modbus.OrderAuto {
		if typ.Wide() {
			return usageError("--type %s spans registers: give their order (--order ABCD, CDAB, BADC or DCBA; 'ectool modbus read --order auto' finds it) or the meter (--meter)", typ)
		}
		order = modbus.ABCD
	}
	count := 0
	if cmd.Flags().Changed("count") {
		count = opts.value.Count
	}
	regs, err := modbus.ParseValue(opts.Value, typ, order, scale, count)
	if err != nil {
		return usageError("--value: %v", err)
	}
	w.Registers = regs
	return nil
}

func profileQuantity(v resolved) *modbus.Quantity {
	if v.Profile == nil || v.Reg == nil {
		return nil
	}
	return v.Profile.QuantityAt(*v.Reg)
}

// function reads --fc against the table and the number of values.
func (opts *ModbusWriteOptions) function(reg modbus.Register, n int) (byte, error) {
	if opts.FC == "" {
		return modbus.WriteFunction(reg.Table, n, 0), nil
	}
	fc, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(opts.FC), "fc"), 10, 8)
	want := map[modbus.Table]string{modbus.TableCoil: "05 or 15", modbus.TableHolding: "06 or 16"}[reg.Table]
	switch {
	case err != nil:
		return 0, usageError("--fc %q: give 06 or 16 for registers, 05 or 15 for coils", opts.FC)
	case modbus.TableOfFunction(byte(fc)) != reg.Table || !modbus.IsWrite(byte(fc)):
		return 0, usageError("--fc %s does not write a %s: use %s", opts.FC, reg.Table.Noun(), want)
	case (fc == 5 || fc == 6) && n > 1:
		return 0, usageError("--fc %s writes one value, and --value holds %d: use --fc %d", opts.FC, n, map[uint64]int{5: 15, 6: 16}[fc])
	}
	return byte(fc), nil
}

func modbusWriteRun(ctx context.Context, opts *ModbusWriteOptions) error {
	app := opts.App
	if ctx == nil {
		ctx = context.Background()
	}
	o := opts.Write
	if !opts.Yes {
		if ok, err := confirmWrite(app, o); err != nil || !ok {
			return err
		}
	}
	rep := report.New("modbus write", o.Client.Target.String(), app.Now)
	res, err := modbus.Write(ctx, o)
	res.Report(rep, o.Client.Target, err)
	rep.Finish()
	if rerr := app.renderReport(rep); rerr != nil {
		return rerr
	}
	return reportExit(rep, err, false)
}

// confirmWrite asks the person at the terminal.
func confirmWrite(app *App, o modbus.WriteOptions) (bool, error) {
	who := fmt.Sprintf("unit %d", o.Unit)
	if o.Unit == 0 {
		who = "EVERY device (broadcast, unit 0)"
	}
	words := modbus.HexWords(o.Registers)
	if o.Reg.Table == modbus.TableCoil {
		words = fmt.Sprint(o.Coils)
	}
	fc := modbus.WriteFunction(o.Reg.Table, max(len(o.Registers), len(o.Coils)), o.Function)
	fmt.Fprintf(app.IO.ErrOut, "Write %s (%s) with FC %02d to %s (%s %d) of %s on %s? [y/N] ", o.Value, words, fc, o.Reg.Reference(), o.Reg.Table.Noun(), o.Reg.Address, who, o.Client.Target)
	line, _ := bufio.NewReader(app.IO.In).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, problem("", "not written: the write was not confirmed")
}
