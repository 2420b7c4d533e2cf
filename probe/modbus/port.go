package modbus

import (
	"io"
	"net"
	"time"

	"github.com/ecdata/ectool/probe/serialport"
)

// Port is a byte stream to an RTU bus: a serial port or a TCP connection to a
// transparent serial server. Read blocks until bytes arrive or the port is
// closed; Close unblocks it.
type Port interface {
	io.ReadWriteCloser
}

// SerialSettings are the bus's serial line: the one type of every command
// that opens a serial port (package serialport), named here because every
// Modbus option and result carries one.
type SerialSettings = serialport.Settings

// DefaultSerial is 9600 8N1, the common factory setting of meters.
var DefaultSerial = serialport.Default

// DialRTUOverTCP connects to a transparent serial server.
func DialRTUOverTCP(addr string, timeout time.Duration) (Port, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return c, nil
}
