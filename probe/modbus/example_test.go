package modbus_test

import (
	"fmt"

	"github.com/ecdata/ectool/probe/modbus"
)

// The bus targets a technician types: a serial port (bare, rtu://, or a
// Windows COM port), Modbus TCP (port 502 by default) and RTU frames over
// TCP (a transparent serial server).
func ExampleParseTarget() {
	for _, s := range []string{"/dev/ttyUSB0", "rtu:///dev/ttyUSB1", "COM12", "tcp://192.0.2.7", "rtuovertcp://192.0.2.8:4001"} {
		t, err := modbus.ParseTarget(s)
		if err != nil {
			fmt.Println(s, "error:", err)
			continue
		}
		fmt.Printf("%-28s %-10s serial=%-5v %s\n", s, t.Transport, t.Serial(), t)
	}
	// Output:
	// /dev/ttyUSB0                 rtu        serial=true  rtu:///dev/ttyUSB0
	// rtu:///dev/ttyUSB1           rtu        serial=true  rtu:///dev/ttyUSB1
	// COM12                        rtu        serial=true  rtu://COM12
	// tcp://192.0.2.7              tcp        serial=false tcp://192.0.2.7:502
	// rtuovertcp://192.0.2.8:4001  rtuovertcp serial=true  rtuovertcp://192.0.2.8:4001
}

// A target it cannot read says why, worded for the person who typed it.
func ExampleParseTarget_error() {
	_, err := modbus.ParseTarget("rtuovertcp://192.0.2.8")
	fmt.Println(err)
	// Output: bad bus target: "rtuovertcp://192.0.2.8" needs a port (serial servers have no standard one)
}
