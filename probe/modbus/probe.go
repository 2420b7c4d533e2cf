package modbus

import (
	"fmt"
	"strconv"
	"strings"
)

// ProbeSpec is the request that asks an address whether a device is there.
// Any answer, an exception included, means present.
type ProbeSpec struct {
	Function byte
	Address  uint16
}

// DefaultProbe reads holding register 0: every meter answers it, with the
// value or with an exception.
var DefaultProbe = ProbeSpec{Function: FuncReadHoldingRegisters}

// ParseProbe reads "fc03" (the default), "fc04", "fc01", "fc02", "fc11", or
// a read function with a register: "fc03:4000". Write function codes are
// refused: a scan never changes a device.
func ParseProbe(s string) (ProbeSpec, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	fcPart, addrPart, hasAddr := strings.Cut(s, ":")
	fcPart = strings.TrimPrefix(fcPart, "fc")
	fc, err := strconv.ParseUint(fcPart, 16, 8)
	if err != nil {
		return ProbeSpec{}, fmt.Errorf("probe %q: use fc03, fc04, fc01, fc02 or fc11, optionally with a register (fc03:4000)", s)
	}
	p := ProbeSpec{Function: byte(fc)}
	switch p.Function {
	case FuncReadCoils, FuncReadDiscreteInputs, FuncReadHoldingRegisters, FuncReadInputRegisters:
	case FuncReportServerID:
		if hasAddr {
			return ProbeSpec{}, fmt.Errorf("probe %q: fc11 takes no register", s)
		}
	default:
		return ProbeSpec{}, fmt.Errorf("probe %q: only read function codes 01-04 and 11 may probe (a scan never writes)", s)
	}
	if hasAddr {
		a, err := strconv.ParseUint(addrPart, 0, 16)
		if err != nil {
			return ProbeSpec{}, fmt.Errorf("probe %q: register %q is not a number 0-65535", s, addrPart)
		}
		p.Address = uint16(a)
	}
	return p, nil
}

func (p ProbeSpec) String() string {
	if p.Function == FuncReportServerID {
		return "fc11"
	}
	return fmt.Sprintf("fc%02x:%d", p.Function, p.Address)
}

// PDU is the probe request.
func (p ProbeSpec) PDU() PDU {
	if p.Function == FuncReportServerID {
		return ReportServerIDRequest()
	}
	return ReadRequest{Function: p.Function, Address: p.Address, Quantity: 1}.PDU()
}
