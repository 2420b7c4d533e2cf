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
// a read function with a register in ParseRegister's notation: "fc03:4000"
// (wire address 4000), "fc04:30001" (input register 0). A Modicon
// reference must name the function's own table. Write function codes are
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
		r, err := ParseRegister(addrPart, TableOfFunction(p.Function))
		if err != nil {
			return ProbeSpec{}, fmt.Errorf("probe %q: %w", s, err)
		}
		p.Address = r.Address
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
