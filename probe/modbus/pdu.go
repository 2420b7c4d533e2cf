package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Function codes whose framing the codec knows. scan sends only the read
// functions, 0x11 and 0x2B/0x0E; the writes 0x05, 0x06, 0x0F and 0x10 have
// builders and parsers (pdu_write.go) for a deliberate write; the others are
// framed so the sniffer can follow another master's traffic.
const (
	FuncReadCoils              byte = 0x01
	FuncReadDiscreteInputs     byte = 0x02
	FuncReadHoldingRegisters   byte = 0x03
	FuncReadInputRegisters     byte = 0x04
	FuncWriteSingleCoil        byte = 0x05
	FuncWriteSingleRegister    byte = 0x06
	FuncReadExceptionStatus    byte = 0x07
	FuncDiagnostics            byte = 0x08
	FuncGetCommEventCounter    byte = 0x0B
	FuncGetCommEventLog        byte = 0x0C
	FuncWriteMultipleCoils     byte = 0x0F
	FuncWriteMultipleRegisters byte = 0x10
	FuncReportServerID         byte = 0x11
	FuncReadFileRecord         byte = 0x14
	FuncWriteFileRecord        byte = 0x15
	FuncMaskWriteRegister      byte = 0x16
	FuncReadWriteMultiple      byte = 0x17
	FuncReadFIFOQueue          byte = 0x18
	FuncEncapsulatedInterface  byte = 0x2B

	// MEIReadDeviceID is the MEI type of Read Device Identification (0x2B/0x0E).
	MEIReadDeviceID byte = 0x0E
)

// MaxPDU is the largest PDU the protocol allows (256-byte RTU frame minus
// address and CRC).
const MaxPDU = 253

// IsWrite reports whether fc changes state in a device. A scan never sends
// one.
func IsWrite(fc byte) bool {
	switch fc {
	case FuncWriteSingleCoil, FuncWriteSingleRegister, FuncWriteMultipleCoils,
		FuncWriteMultipleRegisters, FuncWriteFileRecord, FuncMaskWriteRegister,
		FuncReadWriteMultiple, FuncDiagnostics:
		return true
	}
	return false
}

// ExceptionCode is the code of an exception response.
type ExceptionCode byte

// Exception codes from the Modbus application protocol specification.
const (
	ExIllegalFunction         ExceptionCode = 0x01
	ExIllegalDataAddress      ExceptionCode = 0x02
	ExIllegalDataValue        ExceptionCode = 0x03
	ExServerDeviceFailure     ExceptionCode = 0x04
	ExAcknowledge             ExceptionCode = 0x05
	ExServerDeviceBusy        ExceptionCode = 0x06
	ExMemoryParityError       ExceptionCode = 0x08
	ExGatewayPathUnavailable  ExceptionCode = 0x0A
	ExGatewayTargetNoResponse ExceptionCode = 0x0B
)

func (c ExceptionCode) String() string {
	switch c {
	case ExIllegalFunction:
		return "illegal function"
	case ExIllegalDataAddress:
		return "illegal data address"
	case ExIllegalDataValue:
		return "illegal data value"
	case ExServerDeviceFailure:
		return "server device failure"
	case ExAcknowledge:
		return "acknowledge"
	case ExServerDeviceBusy:
		return "server device busy"
	case ExMemoryParityError:
		return "memory parity error"
	case ExGatewayPathUnavailable:
		return "gateway path unavailable"
	case ExGatewayTargetNoResponse:
		return "gateway target device failed to respond"
	}
	return fmt.Sprintf("exception 0x%02X", byte(c))
}

// Direction says whether bytes travel from the master (Request) or from a
// server (Response). Modbus frames do not carry it, and a request and a
// response with the same function code have different lengths, so a splitter
// must be told which to expect or try both (Either).
type Direction uint8

// Directions. Either tries Request and Response.
const (
	Request  Direction = 1
	Response Direction = 2
	Either             = Request | Response
)

func (d Direction) String() string {
	switch d {
	case Request:
		return "request"
	case Response:
		return "response"
	case Either:
		return "either"
	}
	return "none"
}

// Errors of the codec. Use errors.Is: the returned errors wrap these with
// the detail.
var (
	// ErrIncomplete means more bytes are needed to know or hold the whole PDU.
	ErrIncomplete = errors.New("modbus: incomplete")
	// ErrUnknownFunction means the function code's framing is unknown, so
	// its length cannot be derived from the bytes.
	ErrUnknownFunction = errors.New("modbus: unknown function code")
	// ErrMalformed means the bytes cannot be a valid PDU (bad byte count,
	// length over 253, wrong function for the parser).
	ErrMalformed = errors.New("modbus: malformed PDU")
	// ErrCRC means an RTU frame's CRC does not match its content.
	ErrCRC = errors.New("modbus: CRC mismatch")

	errBadDirection = errors.New("modbus: direction must be Request or Response")
)

// PDU is a Modbus protocol data unit: a function code and its data. It is the
// same in RTU and MBAP framing.
type PDU struct {
	Function byte
	Data     []byte
}

// Bytes is the PDU as sent: function code then data.
func (p PDU) Bytes() []byte {
	return append([]byte{p.Function}, p.Data...)
}

// AppendTo appends the PDU's bytes to b.
func (p PDU) AppendTo(b []byte) []byte {
	return append(append(b, p.Function), p.Data...)
}

// IsException reports whether p is an exception response (function code
// with the high bit set).
func (p PDU) IsException() bool { return p.Function&0x80 != 0 }

// Exception returns the exception code of an exception response (0 when p is
// not one or has no code byte).
func (p PDU) Exception() ExceptionCode {
	if !p.IsException() || len(p.Data) < 1 {
		return 0
	}
	return ExceptionCode(p.Data[0])
}

// BaseFunction is the function code without the exception bit.
func (p PDU) BaseFunction() byte { return p.Function &^ 0x80 }

// PDUFromBytes splits raw bytes (function code first) into a PDU. The data
// slice aliases b.
func PDUFromBytes(b []byte) (PDU, error) {
	if len(b) == 0 {
		return PDU{}, fmt.Errorf("%w: empty PDU", ErrMalformed)
	}
	return PDU{Function: b[0], Data: b[1:]}, nil
}

// PDULen returns the length of the PDU that b starts with (function code
// first), derived from the function code and, where the protocol has one,
// the byte count, never from timing. dir must be Request or Response.
// It returns ErrIncomplete when b is too short to tell, ErrUnknownFunction
// when the function code's framing is unknown, ErrMalformed when the
// declared length is impossible.
func PDULen(b []byte, dir Direction) (int, error) {
	n, err := pduLen(b, dir)
	switch {
	case err == nil, errors.Is(err, ErrIncomplete):
		return n, err
	case errors.Is(err, errBadDirection):
		return 0, fmt.Errorf("modbus: PDULen needs Request or Response, not %v", dir)
	}
	return 0, fmt.Errorf("%w: %v with function code 0x%02X", err, dir, b[0])
}

// pduLen is PDULen without error detail: the splitter calls it for every
// byte offset of a noisy line, where formatting errors would dominate.
func pduLen(b []byte, dir Direction) (int, error) {
	if len(b) == 0 {
		return 0, ErrIncomplete
	}
	fc := b[0]
	need := func(i int) (int, bool) { // value of b[i] when present
		if len(b) <= i {
			return 0, false
		}
		return int(b[i]), true
	}
	var n int
	switch dir {
	case Request:
		switch fc {
		case 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, FuncDiagnostics:
			n = 5
		case FuncReadExceptionStatus, FuncGetCommEventCounter, FuncGetCommEventLog, FuncReportServerID:
			n = 1
		case FuncWriteMultipleCoils, FuncWriteMultipleRegisters:
			bc, ok := need(5)
			if !ok {
				return 0, ErrIncomplete
			}
			n = 6 + bc
		case FuncReadFileRecord, FuncWriteFileRecord:
			bc, ok := need(1)
			if !ok {
				return 0, ErrIncomplete
			}
			n = 2 + bc
		case FuncMaskWriteRegister:
			n = 7
		case FuncReadWriteMultiple:
			bc, ok := need(9)
			if !ok {
				return 0, ErrIncomplete
			}
			n = 10 + bc
		case FuncReadFIFOQueue:
			n = 3
		case FuncEncapsulatedInterface:
			mei, ok := need(1)
			if !ok {
				return 0, ErrIncomplete
			}
			if byte(mei) != MEIReadDeviceID {
				return 0, ErrUnknownFunction
			}
			n = 4
		default:
			if fc&0x80 != 0 {
				return 0, ErrMalformed
			}
			return 0, ErrUnknownFunction
		}
	case Response:
		if fc&0x80 != 0 {
			n = 2
			break
		}
		switch fc {
		case 0x01, 0x02, 0x03, 0x04, FuncGetCommEventLog, FuncReportServerID,
			FuncReadFileRecord, FuncWriteFileRecord, FuncReadWriteMultiple:
			bc, ok := need(1)
			if !ok {
				return 0, ErrIncomplete
			}
			n = 2 + bc
		case 0x05, 0x06, FuncDiagnostics, FuncGetCommEventCounter,
			FuncWriteMultipleCoils, FuncWriteMultipleRegisters:
			n = 5
		case FuncReadExceptionStatus:
			n = 2
		case FuncMaskWriteRegister:
			n = 7
		case FuncReadFIFOQueue:
			if len(b) < 3 {
				return 0, ErrIncomplete
			}
			n = 3 + int(binary.BigEndian.Uint16(b[1:3]))
		case FuncEncapsulatedInterface:
			return deviceIDLen(b)
		default:
			return 0, ErrUnknownFunction
		}
	default:
		return 0, errBadDirection
	}
	if n > MaxPDU {
		return 0, ErrMalformed
	}
	return n, nil
}

// deviceIDLen walks a Read Device Identification response's object list.
func deviceIDLen(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, ErrIncomplete
	}
	if b[1] != MEIReadDeviceID {
		return 0, ErrUnknownFunction
	}
	if len(b) < 7 {
		return 0, ErrIncomplete
	}
	n := 7
	for range int(b[6]) {
		if len(b) < n+2 {
			return 0, ErrIncomplete
		}
		n += 2 + int(b[n+1])
		if n > MaxPDU {
			return 0, ErrMalformed
		}
	}
	return n, nil
}

// ReadRequest is a read of coils, discrete inputs, holding or input
// registers (function 0x01-0x04).
type ReadRequest struct {
	Function byte
	Address  uint16
	Quantity uint16
}

// PDU encodes the request.
func (r ReadRequest) PDU() PDU {
	d := make([]byte, 4)
	binary.BigEndian.PutUint16(d[0:], r.Address)
	binary.BigEndian.PutUint16(d[2:], r.Quantity)
	return PDU{Function: r.Function, Data: d}
}

// maxQuantity is the protocol's limit per read function.
func maxQuantity(fc byte) uint16 {
	if fc == FuncReadCoils || fc == FuncReadDiscreteInputs {
		return MaxReadBits
	}
	return MaxReadRegisters
}

// ParseReadRequest decodes a 0x01-0x04 request and checks its quantity
// against the protocol's limits (a server answers ExIllegalDataValue when
// this fails).
func ParseReadRequest(p PDU) (ReadRequest, error) {
	if p.Function < FuncReadCoils || p.Function > FuncReadInputRegisters {
		return ReadRequest{}, fmt.Errorf("%w: function 0x%02X is not a read", ErrMalformed, p.Function)
	}
	if len(p.Data) != 4 {
		return ReadRequest{}, fmt.Errorf("%w: read request has %d data bytes, want 4", ErrMalformed, len(p.Data))
	}
	r := ReadRequest{Function: p.Function, Address: binary.BigEndian.Uint16(p.Data), Quantity: binary.BigEndian.Uint16(p.Data[2:])}
	if r.Quantity == 0 || r.Quantity > maxQuantity(p.Function) {
		return r, fmt.Errorf("%w: quantity %d out of 1..%d", ErrMalformed, r.Quantity, maxQuantity(p.Function))
	}
	return r, nil
}

// ExpectedResponseLen is the PDU length of a successful answer to req, or 0
// when it depends on the server (0x11, 0x2B). The scanner uses it to know how
// long to keep listening for a second answer. Writes are answered with
// their echo or an address and quantity: 5 bytes.
func ExpectedResponseLen(req PDU) int {
	switch req.Function {
	case FuncReadCoils, FuncReadDiscreteInputs:
		if r, err := ParseReadRequest(req); err == nil {
			return 2 + int(r.Quantity+7)/8
		}
	case FuncReadHoldingRegisters, FuncReadInputRegisters:
		if r, err := ParseReadRequest(req); err == nil {
			return 2 + 2*int(r.Quantity)
		}
	case FuncWriteSingleCoil, FuncWriteSingleRegister, FuncWriteMultipleCoils, FuncWriteMultipleRegisters:
		return 5
	}
	return 0
}

// RegistersResponse encodes a successful 0x03/0x04 answer.
func RegistersResponse(fc byte, regs []uint16) PDU {
	d := make([]byte, 1+2*len(regs))
	d[0] = byte(2 * len(regs))
	for i, r := range regs {
		binary.BigEndian.PutUint16(d[1+2*i:], r)
	}
	return PDU{Function: fc, Data: d}
}

// ParseRegisters decodes a 0x03/0x04 answer.
func ParseRegisters(p PDU) ([]uint16, error) {
	if p.Function != FuncReadHoldingRegisters && p.Function != FuncReadInputRegisters {
		return nil, fmt.Errorf("%w: function 0x%02X is not a register read", ErrMalformed, p.Function)
	}
	if len(p.Data) < 1 || int(p.Data[0]) != len(p.Data)-1 || p.Data[0]%2 != 0 {
		return nil, fmt.Errorf("%w: register answer byte count does not match its data", ErrMalformed)
	}
	regs := make([]uint16, p.Data[0]/2)
	for i := range regs {
		regs[i] = binary.BigEndian.Uint16(p.Data[1+2*i:])
	}
	return regs, nil
}

// BitsResponse encodes a successful 0x01/0x02 answer.
func BitsResponse(fc byte, bits []bool) PDU {
	d := make([]byte, 1+(len(bits)+7)/8)
	d[0] = byte(len(d) - 1)
	for i, b := range bits {
		if b {
			d[1+i/8] |= 1 << (i % 8)
		}
	}
	return PDU{Function: fc, Data: d}
}

// ParseBits decodes a 0x01/0x02 answer to a read of quantity bits.
func ParseBits(p PDU, quantity int) ([]bool, error) {
	if p.Function != FuncReadCoils && p.Function != FuncReadDiscreteInputs {
		return nil, fmt.Errorf("%w: function 0x%02X is not a bit read", ErrMalformed, p.Function)
	}
	if len(p.Data) < 1 || int(p.Data[0]) != len(p.Data)-1 || int(p.Data[0]) != (quantity+7)/8 {
		return nil, fmt.Errorf("%w: bit answer byte count does not match %d bits", ErrMalformed, quantity)
	}
	bits := make([]bool, quantity)
	for i := range bits {
		bits[i] = p.Data[1+i/8]&(1<<(i%8)) != 0
	}
	return bits, nil
}

// ExceptionResponse encodes an exception answer to function fc.
func ExceptionResponse(fc byte, code ExceptionCode) PDU {
	return PDU{Function: fc | 0x80, Data: []byte{byte(code)}}
}

// ReportServerIDRequest is the 0x11 request (no data).
func ReportServerIDRequest() PDU { return PDU{Function: FuncReportServerID} }

// ServerIDResponse encodes a 0x11 answer. Its content (server id, run
// indicator 0x00/0xFF, additional data) is device specific, so the codec
// carries it as opaque bytes.
func ServerIDResponse(data []byte) PDU {
	return PDU{Function: FuncReportServerID, Data: append([]byte{byte(len(data))}, data...)}
}

// ParseServerID returns the device-specific bytes of a 0x11 answer.
func ParseServerID(p PDU) ([]byte, error) {
	if p.Function != FuncReportServerID {
		return nil, fmt.Errorf("%w: function 0x%02X is not Report Server ID", ErrMalformed, p.Function)
	}
	if len(p.Data) < 1 || int(p.Data[0]) != len(p.Data)-1 {
		return nil, fmt.Errorf("%w: Report Server ID byte count does not match its data", ErrMalformed)
	}
	return p.Data[1:], nil
}

// Read Device Identification access codes and the basic object ids.
const (
	DeviceIDBasic    byte = 0x01 // stream access: objects 0x00-0x02
	DeviceIDRegular  byte = 0x02 // stream access: objects 0x00-0x06
	DeviceIDExtended byte = 0x03 // stream access: objects 0x00-0xFF
	DeviceIDSpecific byte = 0x04 // one object

	ObjVendorName         byte = 0x00
	ObjProductCode        byte = 0x01
	ObjMajorMinorRevision byte = 0x02
	ObjVendorURL          byte = 0x03
	ObjProductName        byte = 0x04
	ObjModelName          byte = 0x05
	ObjUserAppName        byte = 0x06
)

// ReadDeviceIDRequest is a 0x2B/0x0E request for access code and first object.
func ReadDeviceIDRequest(code, object byte) PDU {
	return PDU{Function: FuncEncapsulatedInterface, Data: []byte{MEIReadDeviceID, code, object}}
}

// ParseReadDeviceIDRequest decodes a 0x2B/0x0E request.
func ParseReadDeviceIDRequest(p PDU) (code, object byte, err error) {
	if p.Function != FuncEncapsulatedInterface || len(p.Data) != 3 || p.Data[0] != MEIReadDeviceID {
		return 0, 0, fmt.Errorf("%w: not a Read Device Identification request", ErrMalformed)
	}
	return p.Data[1], p.Data[2], nil
}

// DeviceIDObject is one object of a device identification.
type DeviceIDObject struct {
	ID    byte
	Value []byte
}

// DeviceID is a Read Device Identification answer.
type DeviceID struct {
	ReadCode    byte
	Conformity  byte
	MoreFollows bool
	NextObject  byte
	Objects     []DeviceIDObject
}

// PDU encodes the answer.
func (d DeviceID) PDU() PDU {
	data := []byte{MEIReadDeviceID, d.ReadCode, d.Conformity, 0, d.NextObject, byte(len(d.Objects))}
	if d.MoreFollows {
		data[3] = 0xFF
	}
	for _, o := range d.Objects {
		data = append(data, o.ID, byte(len(o.Value)))
		data = append(data, o.Value...)
	}
	return PDU{Function: FuncEncapsulatedInterface, Data: data}
}

// ParseDeviceID decodes a 0x2B/0x0E answer.
func ParseDeviceID(p PDU) (DeviceID, error) {
	n, err := PDULen(p.Bytes(), Response)
	if err != nil {
		return DeviceID{}, err
	}
	if p.Function != FuncEncapsulatedInterface || n != 1+len(p.Data) {
		return DeviceID{}, fmt.Errorf("%w: not a Read Device Identification answer of consistent length", ErrMalformed)
	}
	d := DeviceID{ReadCode: p.Data[1], Conformity: p.Data[2], MoreFollows: p.Data[3] == 0xFF, NextObject: p.Data[4]}
	i := 6
	for range int(p.Data[5]) {
		l := int(p.Data[i+1])
		d.Objects = append(d.Objects, DeviceIDObject{ID: p.Data[i], Value: p.Data[i+2 : i+2+l]})
		i += 2 + l
	}
	return d, nil
}

// Object returns the value of object id as text ("" when absent).
func (d DeviceID) Object(id byte) string {
	for _, o := range d.Objects {
		if o.ID == id {
			return string(o.Value)
		}
	}
	return ""
}
