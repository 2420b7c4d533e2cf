package modbus

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// decodeGolden: registers as read, beside what each order makes of them.
// The values were computed by pymodbus 3.0.0's BinaryPayloadDecoder
// (byteorder/wordorder Big/Little for ABCD, CDAB, BADC, DCBA); the peer
// test (peers_value_test.go) asks it again at run time for every type.
var decodeGolden = []struct {
	name  string
	regs  []uint16
	typ   Type
	scale float64
	want  map[Order]string
}{
	{"230.1 V as f32", []uint16{0x4366, 0x199A}, F32, 1, map[Order]string{ABCD: "230.1", CDAB: "1.5950449e-23", BADC: "2.3092602e+23", DCBA: "-3.1722265e-23"}},
	{"12345.6 kWh as f32", []uint16{0x4640, 0xE666}, F32, 1, map[Order]string{ABCD: "12345.6", CDAB: "-2.7186004e+23", BADC: "3.1000304", DCBA: "5.4366496e+23"}},
	{"12345 as u32", []uint16{0x0000, 0x3039}, U32, 1, map[Order]string{ABCD: "12345", CDAB: "809041920", BADC: "14640", DCBA: "959447040"}},
	{"EM340 230.0 V as s32 x0.1", []uint16{0x08FC, 0x0000}, S32, 0.1, map[Order]string{ABCD: "15073280", CDAB: "230", BADC: "-6658457.6", DCBA: "6452"}},
	{"-2 as s32", []uint16{0xFFFF, 0xFFFE}, S32, 1, map[Order]string{ABCD: "-2", CDAB: "-65537", BADC: "-257", DCBA: "-16777217"}},
	{"230.1 as f64", []uint16{0x406C, 0xC333, 0x3333, 0x3333}, F64, 1, map[Order]string{ABCD: "230.1", CDAB: "4.667263544827239e-62", BADC: "2.7272243046682543e+213", DCBA: "4.66726146655858e-62"}},
	{"u64 byte positions", []uint16{0x0102, 0x0304, 0x0506, 0x0708}, U64, 1, map[Order]string{ABCD: "72623859790382856", CDAB: "506660481457717506", BADC: "144401074084972551", DCBA: "578437695752307201"}},
	{"s16 minimum", []uint16{0x8000}, S16, 1, map[Order]string{ABCD: "-32768", CDAB: "-32768", BADC: "128", DCBA: "128"}},
	{"u16 0x0102", []uint16{0x0102}, U16, 1, map[Order]string{ABCD: "258", CDAB: "258", BADC: "513", DCBA: "513"}},
	{"u16 x0.01 frequency", []uint16{4999}, U16, 0.01, map[Order]string{ABCD: "49.99"}},
	{"s16 x0.001 power factor", []uint16{0xFC4A}, S16, 0.001, map[Order]string{ABCD: "-0.95"}},
	{"u32 x10", []uint16{0, 7}, U32, 10, map[Order]string{ABCD: "70"}},
	{"0 x0.1", []uint16{0, 0}, S32, 0.1, map[Order]string{ABCD: "0", DCBA: "0"}},
	{"string, high byte first", []uint16{0x5344, 0x4D36, 0x3330, 0x0000}, String, 1, map[Order]string{ABCD: "SDM630", BADC: "DS6M03"}},
	{"bits", []uint16{0x002A}, Bits, 1, map[Order]string{ABCD: "0000 0000 0010 1010", BADC: "0010 1010 0000 0000"}},
	{"NaN marker", []uint16{0x7FC0, 0x0000}, F32, 1, map[Order]string{ABCD: "NaN", BADC: "-3.984375"}},
}

func TestDecodeEveryTypeInEveryOrder(t *testing.T) {
	for _, g := range decodeGolden {
		for o, want := range g.want {
			d, err := Decode(g.regs, g.typ, o, g.scale)
			if err != nil || d.Text != want {
				t.Errorf("%s in %s: %q, %v; want %q", g.name, o, d.Text, err, want)
			}
		}
	}
	if _, err := Decode([]uint16{1}, F32, ABCD, 1); !errors.Is(err, ErrValue) {
		t.Errorf("f32 from one register: %v", err)
	}
	if d, _ := Decode([]uint16{0x0000, 0x4366}, F32, ABCD, 1); !d.Denormal {
		t.Errorf("0x00004366 is a denormal f32")
	}
}

// Every value a write encodes decodes back to itself, in every order.
func TestParseValueRoundTrips(t *testing.T) {
	cases := []struct {
		text  string
		typ   Type
		scale float64
		back  string
		regs  []uint16 // in ABCD
	}{
		{"230.5", S32, 0.1, "230.5", []uint16{0, 2305}},
		{"-0.95", S16, 0.001, "-0.95", []uint16{0xFC4A}},
		{"49.99", U16, 0.01, "49.99", []uint16{4999}},
		{"65535", U16, 1, "65535", []uint16{0xFFFF}},
		{"0xFFFF", S16, 1, "-1", []uint16{0xFFFF}},
		{"-2", S32, 1, "-2", []uint16{0xFFFF, 0xFFFE}},
		{"1e3", U32, 1, "1000", []uint16{0, 1000}},
		{"12345.6", U32, 0.1, "12345.6", []uint16{0x0001, 0xE240}},
		{"230.1", F32, 1, "230.1", []uint16{0x4366, 0x199A}},
		{"230.1", F64, 1, "230.1", []uint16{0x406C, 0xC333, 0x3333, 0x3333}},
		{"18446744073709551615", U64, 1, "18446744073709551615", []uint16{0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF}},
		{"-9223372036854775808", S64, 1, "-9223372036854775808", []uint16{0x8000, 0, 0, 0}},
		{"SDM630", String, 1, "SDM630", []uint16{0x5344, 0x4D36, 0x3330}},
		{"0b101010", Bits, 1, "0000 0000 0010 1010", []uint16{0x002A}},
		{"1,2,3", U16, 1, "", []uint16{1, 2, 3}},
	}
	for _, c := range cases {
		for _, o := range Orders {
			regs, err := ParseValue(c.text, c.typ, o, c.scale, 0)
			if err != nil {
				t.Errorf("%s as %s %s: %v", c.text, c.typ, o, err)
				continue
			}
			if o == ABCD && !slices.Equal(regs, c.regs) {
				t.Errorf("%s as %s: % 04X, want % 04X", c.text, c.typ, regs, c.regs)
			}
			if c.back == "" {
				continue
			}
			d, err := Decode(regs, c.typ, o, c.scale)
			if err != nil || d.Text != c.back {
				t.Errorf("%s as %s %s decodes to %q, %v", c.text, c.typ, o, d.Text, err)
			}
		}
	}
	if regs, err := ParseValue("EM", String, ABCD, 1, 4); err != nil || !slices.Equal(regs, []uint16{0x454D, 0, 0, 0}) {
		t.Errorf("a string padded to 4 registers: % 04X, %v", regs, err)
	}
}

func TestParseValueRefusesWhatARegisterCannotHold(t *testing.T) {
	for _, c := range []struct {
		text  string
		typ   Type
		scale float64
		why   string
	}{
		{"65536", U16, 1, "0 to 65535"},
		{"-1", U32, 1, "0 to 4294967295"},
		{"32768", S16, 1, "-32768 to 32767"},
		{"230.55", S32, 0.1, "not a whole number"},
		{"1.5", U16, 1, "not a whole number"},
		{"0x10000", U16, 1, "0x0 to 0xFFFF"},
		{"0x10", U16, 0.1, "drop --scale"},
		{"NaN", F32, 1, "finite"},
		{"inf", F64, 1, "finite"},
		{"1e39", F32, 1, "32-bit float"},
		{"1e9999", U32, 1, "exponent"},
		{"1/3", U16, 1, "whole number"},
		{"abc", S16, 1, "whole number"},
		{"", U16, 1, "empty"},
		{"1,,2", U16, 1, "empty"},
		{"Zähler", String, 1, "ASCII"},
		{"TOOLONG", String, 2, "do not fit"},
		{"102", Bits, 1, "binary digits"},
		{"10101010101010101", Bits, 1, "whole registers"},
	} {
		_, err := ParseValue(c.text, c.typ, ABCD, c.scale, 2)
		if c.typ != String {
			_, err = ParseValue(c.text, c.typ, ABCD, c.scale, 0)
		}
		if !errors.Is(err, ErrValue) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("ParseValue(%q, %s, scale %g) = %v; want an error saying %q", c.text, c.typ, c.scale, err, c.why)
		}
	}
	if got, err := ParseCoils("1, off,TRUE,0"); err != nil || !slices.Equal(got, []bool{true, false, true, false}) {
		t.Errorf("ParseCoils = %v, %v", got, err)
	}
	if _, err := ParseCoils("2"); !errors.Is(err, ErrValue) {
		t.Errorf("coil value 2 accepted")
	}
}

func TestParseTypeAndOrder(t *testing.T) {
	for in, want := range map[string]Type{"float": F32, "INT32": S32, "double": F64, "u16": U16, "ascii": String} {
		if got, err := ParseType(in); err != nil || got != want {
			t.Errorf("ParseType(%q) = %v, %v", in, got, err)
		}
	}
	for in, want := range map[string]Order{"abcd": ABCD, "CDAB": CDAB, "Auto": OrderAuto} {
		if got, err := ParseOrder(in); err != nil || got != want {
			t.Errorf("ParseOrder(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseOrder("big"); err == nil {
		t.Errorf("ParseOrder(big) accepted")
	}
	if _, err := ParseType("f16"); err == nil {
		t.Errorf("ParseType(f16) accepted")
	}
}

func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"230.5", "-1", "0xFFFF", "1e3", "1,2,3", "SDM630", "0b1010", "NaN", "1e999999", "12345.6", "-0.95", ""} {
		f.Add(s, uint8(0), uint8(0), uint8(0))
	}
	scales := []float64{1, 0.1, 0.01, 0.001, 10}
	f.Fuzz(func(t *testing.T, text string, ti, oi, si uint8) {
		typ := Types[int(ti)%len(Types)]
		o := Orders[int(oi)%len(Orders)]
		scale := scales[int(si)%len(scales)]
		regs, err := ParseValue(text, typ, o, scale, 0)
		if err != nil {
			if !errors.Is(err, ErrValue) {
				t.Fatalf("error %v does not wrap ErrValue", err)
			}
			return
		}
		if len(regs) == 0 || len(regs) > MaxWriteRegisters {
			t.Fatalf("%q as %s: %d registers", text, typ, len(regs))
		}
		n := typ.Registers()
		if n == 0 {
			n = len(regs)
		}
		if len(regs)%n != 0 {
			t.Fatalf("%q as %s: %d registers, not whole values", text, typ, len(regs))
		}
		// Each value said back parses to the same registers: integers are
		// exact at every scale, floats at scale 1.
		for i := 0; i < len(regs); i += n {
			d, err := Decode(regs[i:i+n], typ, o, scale)
			if err != nil {
				t.Fatalf("%q as %s %s: decode %v", text, typ, o, err)
			}
			if typ.Float() && scale != 1 || typ == String {
				continue
			}
			again, err := ParseValue(d.Text, typ, o, scale, n)
			if err != nil || !slices.Equal(again, regs[i:i+n]) {
				t.Fatalf("%q as %s %s scale %g: % 04X says %q, which parses to % 04X, %v", text, typ, o, scale, regs[i:i+n], d.Text, again, err)
			}
			if typ.Float() && math.IsNaN(d.Number) {
				t.Fatalf("%q wrote a NaN", text)
			}
		}
	})
}

// EncodeNumber (what the lab's meters serve) decodes back to the value,
// rounded to the type's resolution at the scale.
func TestEncodeNumberRoundTrips(t *testing.T) {
	for _, c := range []struct {
		v     float64
		typ   Type
		scale float64
		back  string
	}{
		{230.04, S32, 0.1, "230"},
		{230.06, S32, 0.1, "230.1"},
		{-0.95, S16, 0.001, "-0.95"},
		{12345.678, U32, 0.01, "12345.68"},
		{1873001, S64, 1, "1873001"},
		{230.1, F32, 1, "230.1"},
		{12345.6, F64, 0.001, "12345.6"},
	} {
		for _, o := range Orders {
			regs, err := EncodeNumber(c.v, c.typ, o, c.scale)
			if err != nil {
				t.Fatalf("%g as %s %s: %v", c.v, c.typ, o, err)
			}
			if d, _ := Decode(regs, c.typ, o, c.scale); d.Text != c.back {
				t.Errorf("%g as %s %s x%g: %s, want %s", c.v, c.typ, o, c.scale, d.Text, c.back)
			}
		}
	}
	for _, c := range []struct {
		v   float64
		typ Type
	}{{70000, U16}, {-1, U32}, {math.NaN(), F32}, {1e39, F32}, {1, String}} {
		if _, err := EncodeNumber(c.v, c.typ, ABCD, 1); !errors.Is(err, ErrValue) {
			t.Errorf("%g as %s: %v, want ErrValue", c.v, c.typ, err)
		}
	}
}

// FuzzParseCoils: --value for coils is 1/0 (on/off, true/false), a comma
// list that fits one write, or an error wrapping ErrValue.
func FuzzParseCoils(f *testing.F) {
	for _, s := range []string{"1", "0", "on,off,true,false", " 1 , 0 ", "", "2", "1,,0", strings.Repeat("1,", 1968) + "1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		coils, err := ParseCoils(s)
		if err != nil {
			if !errors.Is(err, ErrValue) {
				t.Fatalf("error %v does not wrap ErrValue", err)
			}
			return
		}
		if len(coils) == 0 || len(coils) > MaxWriteCoils || len(coils) != strings.Count(s, ",")+1 {
			t.Fatalf("%q: %d coils", s, len(coils))
		}
	})
}
