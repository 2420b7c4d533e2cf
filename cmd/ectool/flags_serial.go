package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ecdata/ectool/probe/serialport"
)

// serialFlags: the serial line's settings and the right to open a port
// another process holds.
type serialFlags struct {
	Baud     int
	Parity   string
	StopBits int
	DataBits int
	Force    bool
}

// addSerialFlags adds --baud, --parity, --stop-bits, --data-bits and
// --force: the one constructor for serial settings, shared by every command
// that opens a serial port. The baud rate defaults to 9600, the factory
// setting of meters on a bus.
func addSerialFlags(cmd *cobra.Command, f *serialFlags) { addSerialFlagsBaud(cmd, f, 9600) }

// addSerialFlagsBaud is addSerialFlags with the command's own default baud
// rate (115200 for modems).
func addSerialFlagsBaud(cmd *cobra.Command, f *serialFlags, baud int) {
	f.Baud, f.StopBits, f.DataBits = baud, 1, 8
	addGroup(cmd, "serial", func(fs *pflag.FlagSet) {
		fs.Var(wholeNumber{&f.Baud, "a baud rate such as 9600 or 115200"}, "baud", "serial baud rate")
		_ = fs.SetAnnotation("baud", perCommandDefault, []string{"true"})
		fs.StringVar(&f.Parity, "parity", "N", "serial parity: N, E or O (none, even, odd)")
		fs.Var(wholeNumber{&f.StopBits, "1 or 2"}, "stop-bits", "serial stop bits: 1 or 2")
		fs.Var(wholeNumber{&f.DataBits, "8 (7 for odd adapters)"}, "data-bits", "serial data bits: 8 (7 for odd adapters)")
		fs.BoolVar(&f.Force, "force", false, "open a serial port another process holds (breaks that process's traffic); switches off no other safety")
	})
}

// settings validates the flags (a usage error naming the flag, before any I/O).
func (f *serialFlags) settings() (serialport.Settings, error) {
	parity := strings.ToUpper(f.Parity)
	switch parity {
	case "NONE":
		parity = "N"
	case "EVEN":
		parity = "E"
	case "ODD":
		parity = "O"
	}
	s := serialport.Settings{Baud: f.Baud, DataBits: f.DataBits, Parity: parity, StopBits: f.StopBits}
	switch {
	case s.Baud < 50 || s.Baud > 4000000:
		return s, usageError("--baud %d: want a baud rate from 50 to 4000000, such as 9600 or 19200", f.Baud)
	case s.Parity != "N" && s.Parity != "E" && s.Parity != "O":
		return s, usageError("--parity %q: use N, E or O (none, even, odd)", f.Parity)
	case s.StopBits != 1 && s.StopBits != 2:
		return s, usageError("--stop-bits %d: use 1 or 2", f.StopBits)
	case s.DataBits != 7 && s.DataBits != 8:
		return s, usageError("--data-bits %d: Modbus RTU uses 8 (7 only for odd adapters)", f.DataBits)
	}
	if err := s.Validate(); err != nil {
		return s, usageError("%v", err)
	}
	return s, nil
}

// wholeNumber is an int flag whose parse error says what it wants instead
// of strconv's words.
type wholeNumber struct {
	p    *int
	want string
}

func (w wholeNumber) String() string {
	if w.p == nil {
		return "0"
	}
	return strconv.Itoa(*w.p)
}

func (w wholeNumber) Set(v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("want %s", w.want)
	}
	*w.p = n
	return nil
}

func (w wholeNumber) Type() string { return "int" }

// wordedDuration is a duration flag whose parse error gives an example
// instead of Go's "time: invalid duration".
type wordedDuration struct {
	p       *time.Duration
	example string
}

func (d wordedDuration) String() string {
	if d.p == nil {
		return "0s"
	}
	return d.p.String()
}

func (d wordedDuration) Set(v string) error {
	x, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("want a duration with its unit, such as %s", d.example)
	}
	*d.p = x
	return nil
}

func (d wordedDuration) Type() string { return "duration" }
