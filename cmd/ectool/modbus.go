package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/probe/modbus"
)

// NewCmdModbus builds `ectool modbus` and its commands.
func NewCmdModbus(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "modbus",
		Short: "Read, write and watch a meter's registers, with meter profiles",
		Long: `Read a meter as a technician thinks about it: named quantities in units, the word
order found rather than guessed, both register forms said back (40001 = holding
register 0, FC 03), a write that reads back, and a watch that counts each
device's errors over time.

TARGET is as in scan: rtu:///dev/ttyUSB0 (or a bare path, or COM12), tcp://host:502
or rtuovertcp://host:port.`,
	}
	cmd.AddCommand(NewCmdModbusRead(app), NewCmdModbusWrite(app), NewCmdModbusWatch(app), NewCmdModbusProfiles(app))
	return cmd
}

// busFlags are what every modbus command needs to reach a bus: the serial
// group, the per-request timeout and listen-before-talk.
type busFlags struct {
	serial  serialFlags
	Timeout time.Duration
	Listen  time.Duration
}

func addBusFlags(cmd *cobra.Command, f *busFlags) {
	addSerialFlags(cmd, &f.serial)
	addTimeoutFlag(cmd, &f.Timeout, time.Second, "time to wait for each answer")
	addListenFlag(cmd, &f.Listen, time.Second, "1s (0 for none)")
}

// client validates the flags into client options (usage errors, before
// any I/O).
func (f *busFlags) client(app *App, target string) (modbus.ClientOptions, error) {
	t, err := modbus.ParseTarget(target)
	if err != nil {
		return modbus.ClientOptions{}, usageError("%v", err)
	}
	ser, err := f.serial.settings()
	if err != nil {
		return modbus.ClientOptions{}, err
	}
	if f.Timeout < time.Millisecond {
		return modbus.ClientOptions{}, usageError("--timeout %s: want a duration such as 500ms or 1s", f.Timeout)
	}
	if f.Listen < 0 {
		return modbus.ClientOptions{}, usageError("--listen %s: want 0 or a positive duration", f.Listen)
	}
	listen := f.Listen
	if listen == 0 {
		listen = -1 // the domain's "not at all"
	}
	return modbus.ClientOptions{Target: t, Serial: ser, Timeout: f.Timeout, Listen: listen, Force: f.serial.Force, Now: app.Now}, nil
}

// unitsFlag is --unit: the one list type of unit ids (1,2,17 or 1-3).
type unitsFlag struct{ s *string }

func (u unitsFlag) String() string {
	if u.s == nil {
		return ""
	}
	return *u.s
}
func (u unitsFlag) Set(v string) error { *u.s = strings.TrimSpace(v); return nil }
func (u unitsFlag) Type() string       { return "units" }

func addUnitFlag(cmd *cobra.Command, s *string, meaning string) {
	cmd.Flags().Var(unitsFlag{s}, "unit", meaning)
}

// parseUnits reads --unit; 0 (broadcast) only where allowed, alone.
func parseUnits(s string, one, broadcast bool) ([]byte, error) {
	if s == "" {
		return nil, usageError("--unit is required: the meter's unit id (1-247), as ectool scan found it")
	}
	if strings.TrimSpace(s) == "0" {
		if !broadcast {
			return nil, usageError("--unit 0 is broadcast: only a write may use it, with --broadcast")
		}
		return []byte{0}, nil
	}
	ids, err := modbus.ParseIDs(s)
	if err != nil {
		return nil, usageError("--unit: %v", err)
	}
	if one && len(ids) != 1 {
		return nil, usageError("--unit %s: this command takes exactly one unit id (watch takes a list)", s)
	}
	return ids, nil
}

// valueFlags choose how registers are read as values.
type valueFlags struct {
	Reg   string
	Table string
	Count int
	Type  string
	Order string
	Scale float64
	Meter string
}

func addValueFlags(cmd *cobra.Command, f *valueFlags, regMeaning string) {
	fs := cmd.Flags()
	fs.StringVar(&f.Reg, "reg", "", regMeaning)
	fs.StringVar(&f.Table, "table", "", "table of a plain register number: holding, input, coil or discrete (default holding; a Modicon reference names its own)")
	f.Count = 1
	fs.Var(wholeNumber{&f.Count, "a number of values from 1 to 125"}, "count", "how many values (registers for string and bits, coils for coils)")
	fs.StringVar(&f.Type, "type", "", "u16, s16, u32, s32, u64, s64, f32, f64, string or bits (default u16; the profile's with --meter)")
	fs.StringVar(&f.Order, "order", "auto", "byte order of 32- and 64-bit values: ABCD, CDAB, BADC, DCBA or auto (find the one giving plausible values)")
	fs.Float64Var(&f.Scale, "scale", 1, "multiply each value by this (0.1 for a register in tenths)")
	fs.StringVar(&f.Meter, "meter", "", "meter profile (ectool modbus profiles lists them): named quantities, their registers, types, scales and units")
}

// resolved is valueFlags checked.
type resolved struct {
	Reg     *modbus.Register
	Type    modbus.Type
	Order   modbus.Order
	Profile *modbus.Profile
}

func (f *valueFlags) resolve(cmd *cobra.Command) (resolved, error) {
	var r resolved
	table := modbus.TableUnset
	if f.Table != "" {
		t, err := modbus.ParseTable(f.Table)
		if err != nil {
			return r, usageError("--table: %v", err)
		}
		table = t
	}
	if f.Meter != "" {
		p, err := modbus.ProfileByName(f.Meter)
		if err != nil {
			return r, usageError("--meter: %v", err)
		}
		r.Profile = p
	}
	if f.Reg != "" {
		reg, err := modbus.ParseRegister(f.Reg, table)
		if err != nil {
			return r, usageError("--reg: %v", err)
		}
		r.Reg = &reg
	}
	if f.Type != "" {
		t, err := modbus.ParseType(f.Type)
		if err != nil {
			return r, usageError("--type: %v", err)
		}
		r.Type = t
	}
	o, err := modbus.ParseOrder(f.Order)
	if err != nil {
		return r, usageError("--order: %v", err)
	}
	r.Order = o
	switch {
	case f.Count < 1 || f.Count > 125:
		return r, usageError("--count %d: want 1 to 125", f.Count)
	case f.Scale == 0:
		return r, usageError("--scale 0 would read every value as 0: give the factor, such as 0.1")
	case r.Reg != nil && r.Reg.Table.Bits() && r.Type != "" && r.Type != modbus.Bits:
		return r, usageError("--type %s: a %s holds one bit; coils and discrete inputs read as bits", r.Type, r.Reg.Table.Noun())
	case r.Reg != nil && !r.Reg.Table.Bits() && r.Type.Registers()*f.Count > 125:
		return r, usageError("--count %d of %s is %d registers: one request reads at most 125", f.Count, r.Type, r.Type.Registers()*f.Count)
	}
	return r, nil
}

// registerWords says a register back in both forms for a person.
func registerWords(r modbus.Register) string {
	return fmt.Sprintf("%s (%s %d, FC %02d)", r.Reference(), r.Table.Noun(), r.Address, r.Table.ReadFunction())
}
