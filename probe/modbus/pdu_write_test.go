package modbus

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// Write PDUs beside the values they encode, as mochi-mqtt's packet tables
// hold raw bytes next to the decoded packet. Bytes from the Modbus
// application protocol specification's examples where it has one.
var writeGolden = []struct {
	name  string
	pdu   string
	value any
}{
	{"coil 0xAC on", "05 00 AC FF 00", WriteSingleCoil{Address: 0xAC, On: true}},
	{"coil 0 off", "05 00 00 00 00", WriteSingleCoil{}},
	{"register 1 = 3", "06 00 01 00 03", WriteSingleRegister{Address: 1, Value: 3}},
	{"register 0xFFFF = 0xFFFF", "06 FF FF FF FF", WriteSingleRegister{Address: 0xFFFF, Value: 0xFFFF}},
	{"10 coils at 0x13", "0F 00 13 00 0A 02 CD 01", WriteMultipleCoils{Address: 0x13, Values: []bool{true, false, true, true, false, false, true, true, true, false}}},
	{"one coil", "0F 00 00 00 01 01 01", WriteMultipleCoils{Values: []bool{true}}},
	{"2 registers at 1", "10 00 01 00 02 04 00 0A 01 02", WriteMultipleRegisters{Address: 1, Values: []uint16{0x000A, 0x0102}}},
	{"float 230.0 at 0 (FC 16 only meters)", "10 00 00 00 02 04 43 66 00 00", WriteMultipleRegisters{Values: []uint16{0x4366, 0}}},
	{"ack of 10 coils", "0F 00 13 00 0A", WriteAck{Function: 0x0F, Address: 0x13, Quantity: 10}},
	{"ack of 2 registers", "10 00 01 00 02", WriteAck{Function: 0x10, Address: 1, Quantity: 2}},
}

type pduEncoder interface{ PDU() PDU }

func parseWrite(p PDU, like any) (any, error) {
	switch like.(type) {
	case WriteSingleCoil:
		return ParseWriteSingleCoil(p)
	case WriteSingleRegister:
		return ParseWriteSingleRegister(p)
	case WriteMultipleCoils:
		return ParseWriteMultipleCoils(p)
	case WriteMultipleRegisters:
		return ParseWriteMultipleRegisters(p)
	}
	return ParseWriteAck(p)
}

func TestWritePDUsGolden(t *testing.T) {
	for _, g := range writeGolden {
		t.Run(g.name, func(t *testing.T) {
			raw := hx(t, g.pdu)
			if got := g.value.(pduEncoder).PDU().Bytes(); !bytes.Equal(got, raw) {
				t.Fatalf("encode = % X, want % X", got, raw)
			}
			p, _ := PDUFromBytes(raw)
			back, err := parseWrite(p, g.value)
			if err != nil || !reflect.DeepEqual(back, g.value) {
				t.Fatalf("parse = %+v, %v; want %+v", back, err, g.value)
			}
			dir := Request
			if _, ack := g.value.(WriteAck); ack {
				dir = Response
			}
			if n, err := PDULen(raw, dir); err != nil || n != len(raw) {
				t.Fatalf("PDULen = %d, %v; want %d", n, err, len(raw))
			}
		})
	}
}

var writeMalformed = []struct {
	name string
	pdu  string
	like any
}{
	{"coil value 0x0001", "05 00 AC 00 01", WriteSingleCoil{}},
	{"coil value 0xFFFF", "05 00 AC FF FF", WriteSingleCoil{}},
	{"single register, 3 data bytes", "06 00 01 00", WriteSingleRegister{}},
	{"single register as coil", "06 00 01 FF 00", WriteSingleCoil{}},
	{"coils quantity 0", "0F 00 00 00 00 00", WriteMultipleCoils{}},
	{"coils quantity 1969", "0F 00 00 07 B1 F7", WriteMultipleCoils{}},
	{"coils byte count one short", "0F 00 13 00 0A 01 CD", WriteMultipleCoils{}},
	{"coils byte count beyond data", "0F 00 13 00 0A 02 CD", WriteMultipleCoils{}},
	{"registers quantity 124", "10 00 00 00 7C F8", WriteMultipleRegisters{}},
	{"registers byte count odd", "10 00 01 00 02 03 00 0A 01", WriteMultipleRegisters{}},
	{"registers count/bytes disagree", "10 00 01 00 01 04 00 0A 01 02", WriteMultipleRegisters{}},
	{"registers header only", "10 00 01 00 02", WriteMultipleRegisters{}},
	{"ack of a read", "03 00 01 00 02", WriteAck{}},
	{"ack cut", "10 00 01 00", WriteAck{}},
}

func TestWritePDUsMalformed(t *testing.T) {
	for _, m := range writeMalformed {
		p, _ := PDUFromBytes(hx(t, m.pdu))
		if _, err := parseWrite(p, m.like); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", m.name, err)
		}
	}
}

func TestCheckWriteAnswer(t *testing.T) {
	reg := WriteSingleRegister{Address: 1, Value: 3}.PDU()
	multi := WriteMultipleRegisters{Address: 1, Values: []uint16{10, 258}}.PDU()
	cases := []struct {
		name        string
		req, answer PDU
		ok          bool
		exception   ExceptionCode
	}{
		{"echo", reg, reg, true, 0},
		{"echo of another value", reg, WriteSingleRegister{Address: 1, Value: 4}.PDU(), false, 0},
		{"ack", multi, WriteAck{Function: 0x10, Address: 1, Quantity: 2}.PDU(), true, 0},
		{"ack of another quantity", multi, WriteAck{Function: 0x10, Address: 1, Quantity: 1}.PDU(), false, 0},
		{"exception", multi, ExceptionResponse(0x10, ExIllegalDataAddress), false, ExIllegalDataAddress},
		{"answer of another function", reg, RegistersResponse(3, []uint16{3}), false, 0},
	}
	for _, c := range cases {
		err := CheckWriteAnswer(c.req, c.answer)
		var ex *ExceptionError
		switch {
		case c.ok && err != nil, !c.ok && err == nil:
			t.Errorf("%s: %v", c.name, err)
		case c.exception != 0 && (!errors.As(err, &ex) || ex.Code != c.exception):
			t.Errorf("%s: %v, want exception %v", c.name, err, c.exception)
		}
	}
	if ExpectedResponseLen(multi) != 5 || ExpectedResponseLen(reg) != 5 {
		t.Errorf("a write's answer is 5 bytes")
	}
}

func FuzzWritePDUParsers(f *testing.F) {
	for _, g := range writeGolden {
		f.Add(hx(f, g.pdu))
	}
	for _, m := range writeMalformed {
		f.Add(hx(f, m.pdu))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := PDUFromBytes(b)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to bytes that parse to the same
		// value (the same bytes but for FC 0F's padding bits, which the
		// specification wants zero and servers ignore).
		check := func(v pduEncoder, err error) {
			if err != nil {
				return
			}
			again := v.PDU()
			if back, err := parseWrite(again, v); err != nil || !reflect.DeepEqual(back, v) {
				t.Fatalf("% X parses to %+v, which encodes to % X and parses to %+v, %v", b, v, again.Bytes(), back, err)
			}
			if len(again.Bytes()) != len(b) || (p.Function != FuncWriteMultipleCoils && !bytes.Equal(again.Bytes(), b)) {
				t.Fatalf("% X parses to %+v, which encodes to % X", b, v, again.Bytes())
			}
		}
		check(ParseWriteSingleCoil(p))
		check(ParseWriteSingleRegister(p))
		check(ParseWriteMultipleCoils(p))
		check(ParseWriteMultipleRegisters(p))
		check(ParseWriteAck(p))
		_ = CheckWriteAnswer(p, p)
	})
}
