package modbus

import (
	"encoding/binary"
	"fmt"
)

// Protocol limits of the write functions (Modbus application protocol
// v1.1b3, sections 6.11 and 6.12): what fits one PDU.
const (
	MaxWriteCoils     = 0x07B0 // FC 0x0F
	MaxWriteRegisters = 0x007B // FC 0x10
	MaxReadRegisters  = 125    // FC 0x03, 0x04
	MaxReadBits       = 2000   // FC 0x01, 0x02
)

// coilOn and coilOff are FC 0x05's only legal values.
const (
	coilOn  uint16 = 0xFF00
	coilOff uint16 = 0x0000
)

// WriteSingleCoil is an FC 0x05 request; a server answers with the same
// PDU.
type WriteSingleCoil struct {
	Address uint16
	On      bool
}

// PDU encodes the request (and its echo).
func (w WriteSingleCoil) PDU() PDU {
	v := coilOff
	if w.On {
		v = coilOn
	}
	return PDU{Function: FuncWriteSingleCoil, Data: be16s(w.Address, v)}
}

// ParseWriteSingleCoil decodes an FC 0x05 request or its echo. A value
// other than 0xFF00 or 0x0000 is malformed (a server answers exception
// 0x03).
func ParseWriteSingleCoil(p PDU) (WriteSingleCoil, error) {
	a, v, err := twoWords(p, FuncWriteSingleCoil)
	if err != nil {
		return WriteSingleCoil{}, err
	}
	if v != coilOn && v != coilOff {
		return WriteSingleCoil{}, fmt.Errorf("%w: coil value 0x%04X is neither 0xFF00 (on) nor 0x0000 (off)", ErrMalformed, v)
	}
	return WriteSingleCoil{Address: a, On: v == coilOn}, nil
}

// WriteSingleRegister is an FC 0x06 request; a server answers with the
// same PDU.
type WriteSingleRegister struct {
	Address, Value uint16
}

// PDU encodes the request (and its echo).
func (w WriteSingleRegister) PDU() PDU {
	return PDU{Function: FuncWriteSingleRegister, Data: be16s(w.Address, w.Value)}
}

// ParseWriteSingleRegister decodes an FC 0x06 request or its echo.
func ParseWriteSingleRegister(p PDU) (WriteSingleRegister, error) {
	a, v, err := twoWords(p, FuncWriteSingleRegister)
	return WriteSingleRegister{Address: a, Value: v}, err
}

// WriteMultipleCoils is an FC 0x0F request.
type WriteMultipleCoils struct {
	Address uint16
	Values  []bool
}

// PDU encodes the request: address, quantity, byte count, the coils packed
// LSB first.
func (w WriteMultipleCoils) PDU() PDU {
	packed := BitsResponse(FuncWriteMultipleCoils, w.Values).Data // byte count, then bits
	return PDU{Function: FuncWriteMultipleCoils, Data: append(be16s(w.Address, uint16(len(w.Values))), packed...)}
}

// ParseWriteMultipleCoils decodes an FC 0x0F request and checks its
// quantity and byte count.
func ParseWriteMultipleCoils(p PDU) (WriteMultipleCoils, error) {
	a, n, data, err := multiHeader(p, FuncWriteMultipleCoils, MaxWriteCoils, func(n int) int { return (n + 7) / 8 })
	if err != nil {
		return WriteMultipleCoils{}, err
	}
	w := WriteMultipleCoils{Address: a, Values: make([]bool, n)}
	for i := range w.Values {
		w.Values[i] = data[i/8]&(1<<(i%8)) != 0
	}
	return w, nil
}

// WriteMultipleRegisters is an FC 0x10 request.
type WriteMultipleRegisters struct {
	Address uint16
	Values  []uint16
}

// PDU encodes the request: address, quantity, byte count, the registers.
func (w WriteMultipleRegisters) PDU() PDU {
	d := append(be16s(w.Address, uint16(len(w.Values))), byte(2*len(w.Values)))
	for _, v := range w.Values {
		d = binary.BigEndian.AppendUint16(d, v)
	}
	return PDU{Function: FuncWriteMultipleRegisters, Data: d}
}

// ParseWriteMultipleRegisters decodes an FC 0x10 request and checks its
// quantity and byte count.
func ParseWriteMultipleRegisters(p PDU) (WriteMultipleRegisters, error) {
	a, n, data, err := multiHeader(p, FuncWriteMultipleRegisters, MaxWriteRegisters, func(n int) int { return 2 * n })
	if err != nil {
		return WriteMultipleRegisters{}, err
	}
	w := WriteMultipleRegisters{Address: a, Values: make([]uint16, n)}
	for i := range w.Values {
		w.Values[i] = binary.BigEndian.Uint16(data[2*i:])
	}
	return w, nil
}

// WriteAck is a server's answer to FC 0x0F or 0x10: the address and
// quantity written.
type WriteAck struct {
	Function byte
	Address  uint16
	Quantity uint16
}

// PDU encodes the answer.
func (a WriteAck) PDU() PDU {
	return PDU{Function: a.Function, Data: be16s(a.Address, a.Quantity)}
}

// ParseWriteAck decodes an answer to FC 0x0F or 0x10.
func ParseWriteAck(p PDU) (WriteAck, error) {
	if p.Function != FuncWriteMultipleCoils && p.Function != FuncWriteMultipleRegisters {
		return WriteAck{}, fmt.Errorf("%w: function 0x%02X is not a multiple write", ErrMalformed, p.Function)
	}
	a, q, err := twoWords(p, p.Function)
	return WriteAck{Function: p.Function, Address: a, Quantity: q}, err
}

// CheckWriteAnswer reports whether answer is the one a server owes to the
// write request req: the echo of FC 0x05/0x06, the address and quantity of
// FC 0x0F/0x10. An exception answer is returned as an *ExceptionError.
func CheckWriteAnswer(req, answer PDU) error {
	if answer.IsException() && answer.BaseFunction() == req.Function {
		return &ExceptionError{Function: req.Function, Code: answer.Exception()}
	}
	if answer.Function != req.Function {
		return fmt.Errorf("%w: answer to function 0x%02X has function 0x%02X", ErrMalformed, req.Function, answer.Function)
	}
	switch req.Function {
	case FuncWriteSingleCoil, FuncWriteSingleRegister:
		if string(answer.Data) != string(req.Data) {
			return fmt.Errorf("%w: the echo % X differs from the request % X", ErrMalformed, answer.Data, req.Data)
		}
		return nil
	case FuncWriteMultipleCoils, FuncWriteMultipleRegisters:
		ack, err := ParseWriteAck(answer)
		if err != nil {
			return err
		}
		if len(req.Data) < 4 || ack.Address != binary.BigEndian.Uint16(req.Data) || ack.Quantity != binary.BigEndian.Uint16(req.Data[2:]) {
			return fmt.Errorf("%w: the answer acknowledges %d at %d, not what was sent", ErrMalformed, ack.Quantity, ack.Address)
		}
		return nil
	}
	return fmt.Errorf("%w: function 0x%02X is not a write", ErrMalformed, req.Function)
}

// ExceptionError is a server's exception answer to a request.
type ExceptionError struct {
	Function byte
	Code     ExceptionCode
}

func (e *ExceptionError) Error() string {
	return fmt.Sprintf("exception 0x%02X (%s) to function 0x%02X", byte(e.Code), e.Code, e.Function)
}

func be16s(a, b uint16) []byte {
	d := make([]byte, 4, 5)
	binary.BigEndian.PutUint16(d, a)
	binary.BigEndian.PutUint16(d[2:], b)
	return d
}

// twoWords decodes a PDU of function fc whose data is two 16-bit words.
func twoWords(p PDU, fc byte) (uint16, uint16, error) {
	if p.Function != fc {
		return 0, 0, fmt.Errorf("%w: function 0x%02X, want 0x%02X", ErrMalformed, p.Function, fc)
	}
	if len(p.Data) != 4 {
		return 0, 0, fmt.Errorf("%w: function 0x%02X with %d data bytes, want 4", ErrMalformed, fc, len(p.Data))
	}
	return binary.BigEndian.Uint16(p.Data), binary.BigEndian.Uint16(p.Data[2:]), nil
}

// multiHeader checks an FC 0x0F/0x10 request: quantity within 1..limit,
// byte count as the quantity needs (size), and exactly that many bytes.
func multiHeader(p PDU, fc byte, limit int, size func(int) int) (addr uint16, n int, data []byte, err error) {
	if p.Function != fc {
		return 0, 0, nil, fmt.Errorf("%w: function 0x%02X, want 0x%02X", ErrMalformed, p.Function, fc)
	}
	if len(p.Data) < 5 {
		return 0, 0, nil, fmt.Errorf("%w: function 0x%02X with %d data bytes, want at least 5", ErrMalformed, fc, len(p.Data))
	}
	addr, n = binary.BigEndian.Uint16(p.Data), int(binary.BigEndian.Uint16(p.Data[2:]))
	if n < 1 || n > limit {
		return 0, 0, nil, fmt.Errorf("%w: quantity %d out of 1..%d", ErrMalformed, n, limit)
	}
	if bc := int(p.Data[4]); bc != size(n) || len(p.Data) != 5+bc {
		return 0, 0, nil, fmt.Errorf("%w: byte count %d for %d values with %d bytes following", ErrMalformed, bc, n, len(p.Data)-5)
	}
	return addr, n, p.Data[5:], nil
}
