package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/probe/modbus"
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
// that opens a serial port.
func addSerialFlags(cmd *cobra.Command, f *serialFlags) {
	fs := cmd.Flags()
	fs.IntVar(&f.Baud, "baud", 9600, "serial baud rate")
	fs.StringVar(&f.Parity, "parity", "N", "serial parity: N, E or O")
	fs.IntVar(&f.StopBits, "stop-bits", 1, "serial stop bits: 1 or 2")
	fs.IntVar(&f.DataBits, "data-bits", 8, "serial data bits: 8 (7 for odd adapters)")
	fs.BoolVar(&f.Force, "force", false, "open a serial port another process holds (breaks that process's traffic)")
}

// settings validates the flags (a usage error, before any I/O).
func (f *serialFlags) settings() (modbus.SerialSettings, error) {
	s := modbus.SerialSettings{Baud: f.Baud, DataBits: f.DataBits, Parity: strings.ToUpper(f.Parity), StopBits: f.StopBits}
	if err := s.Validate(); err != nil {
		return s, usageError("%v", err)
	}
	return s, nil
}
