package modbus

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// registerCases are the notation's golden table: what a technician types,
// the table given with it, and the register on the wire.
var registerCases = []struct {
	in    string
	table Table
	want  Register
	says  string
}{
	{"40001", TableUnset, Register{TableHolding, 0}, "40001 = holding register 0 (0x0000), FC 03"},
	{"49999", TableUnset, Register{TableHolding, 9998}, "49999 = holding register 9998 (0x270E), FC 03"},
	{"30001", TableUnset, Register{TableInput, 0}, "30001 = input register 0 (0x0000), FC 04"},
	{"30073", TableInput, Register{TableInput, 72}, "30073 = input register 72 (0x0048), FC 04"},
	{"00001", TableUnset, Register{TableCoil, 0}, "00001 = coil 0 (0x0000), FC 01"},
	{"10001", TableUnset, Register{TableDiscrete, 0}, "10001 = discrete input 0 (0x0000), FC 02"},
	{"400001", TableUnset, Register{TableHolding, 0}, "40001 = holding register 0 (0x0000), FC 03"},
	{"464513", TableUnset, Register{TableHolding, 0xFC00}, "464513 = holding register 64512 (0xFC00), FC 03"},
	{"465536", TableUnset, Register{TableHolding, 0xFFFF}, "465536 = holding register 65535 (0xFFFF), FC 03"},
	{"365536", TableUnset, Register{TableInput, 0xFFFF}, "365536 = input register 65535 (0xFFFF), FC 04"},
	{"010000", TableUnset, Register{TableCoil, 9999}, "010000 = coil 9999 (0x270F), FC 01"},
	{"0", TableUnset, Register{TableHolding, 0}, "40001 = holding register 0 (0x0000), FC 03"},
	{"16", TableUnset, Register{TableHolding, 16}, "40017 = holding register 16 (0x0010), FC 03"},
	{"0x10", TableUnset, Register{TableHolding, 16}, ""},
	{"0X00FF", TableInput, Register{TableInput, 255}, ""},
	{"4000", TableUnset, Register{TableHolding, 4000}, ""},
	{"9999", TableUnset, Register{TableHolding, 9999}, "410000 = holding register 9999 (0x270F), FC 03"},
	{" 72 ", TableInput, Register{TableInput, 72}, ""},
	{"5", TableCoil, Register{TableCoil, 5}, "00006 = coil 5 (0x0005), FC 01"},
	{"0xFFFF", TableDiscrete, Register{TableDiscrete, 0xFFFF}, "165536 = discrete input 65535 (0xFFFF), FC 02"},
	// five digits starting 2 or 5-9 name no Modicon table: wire addresses
	{"20001", TableUnset, Register{TableHolding, 20001}, ""},
	{"65535", TableUnset, Register{TableHolding, 65535}, ""},
	{"0016", TableUnset, Register{TableHolding, 16}, ""},
	// an explicit table that agrees is fine
	{"40001", TableHolding, Register{TableHolding, 0}, ""},
}

var registerErrors = []struct {
	in, why string
	table   Table
}{
	{"", "give a Modicon reference", TableUnset},
	{"abc", "give a Modicon reference", TableUnset},
	{"-1", "give a Modicon reference", TableUnset},
	{"40000", "count from 1", TableUnset},
	{"30000", "count from 1", TableUnset},
	{"400000", "count from 1", TableUnset},
	{"465537", "run from 400001 to 465536", TableUnset},
	{"30001", "an input register, not a holding register", TableHolding},
	{"40001", "holding register, not a coil", TableCoil},
	{"65536", "nor a wire address 0-65535", TableUnset},
	{"200001", "nor a wire address 0-65535", TableUnset},
	{"4000001", "nor a wire address", TableUnset},
	{"0x10000", "0x0000 to 0xFFFF", TableUnset},
	{"0x", "0x0000 to 0xFFFF", TableUnset},
	{"4e4", "give a Modicon reference", TableUnset},
}

func TestRegisterNotationSaysBothFormsBack(t *testing.T) {
	for _, c := range registerCases {
		r, err := ParseRegister(c.in, c.table)
		if err != nil || r != c.want {
			t.Errorf("ParseRegister(%q, %v) = %+v, %v; want %+v", c.in, c.table, r, err, c.want)
			continue
		}
		if c.says != "" && r.String() != c.says {
			t.Errorf("ParseRegister(%q).String() = %q, want %q", c.in, r.String(), c.says)
		}
	}
	for _, c := range registerErrors {
		_, err := ParseRegister(c.in, c.table)
		if !errors.Is(err, ErrBadRegister) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("ParseRegister(%q, %v) = %v; want an error saying %q", c.in, c.table, err, c.why)
		}
	}
}

func TestParseProbeTakesTheRegisterNotation(t *testing.T) {
	for in, want := range map[string]ProbeSpec{"fc04:30001": {4, 0}, "fc03:40017": {3, 16}, "fc03:464513": {3, 0xFC00}, "fc02:10001": {2, 0}, "fc03:20001": {3, 20001}} {
		if got, err := ParseProbe(in); err != nil || got != want {
			t.Errorf("ParseProbe(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"fc03:30001", "fc04:40001", "fc01:40001", "fc03:40000"} {
		if _, err := ParseProbe(bad); err == nil {
			t.Errorf("ParseProbe(%q) accepted a register of another table", bad)
		}
	}
}

func TestParseTable(t *testing.T) {
	for in, want := range map[string]Table{"holding": TableHolding, "Input": TableInput, "coils": TableCoil, "discrete-inputs": TableDiscrete, "discrete": TableDiscrete} {
		if got, err := ParseTable(in); err != nil || got != want {
			t.Errorf("ParseTable(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseTable("output"); err == nil {
		t.Error("ParseTable(output) accepted")
	}
	for _, tb := range Tables {
		if got, _ := ParseTable(tb.String()); got != tb || TableOfFunction(tb.ReadFunction()) != tb {
			t.Errorf("table %v does not round-trip", tb)
		}
	}
}

func FuzzParseRegister(f *testing.F) {
	for _, c := range registerCases {
		f.Add(c.in, uint8(c.table))
	}
	for _, c := range registerErrors {
		f.Add(c.in, uint8(c.table))
	}
	f.Fuzz(func(t *testing.T, s string, tb uint8) {
		table := Table(tb % 5)
		r, err := ParseRegister(s, table)
		if err != nil {
			if !errors.Is(err, ErrBadRegister) {
				t.Fatalf("error %v does not wrap ErrBadRegister", err)
			}
			return
		}
		if table != TableUnset && r.Table != table {
			t.Fatalf("ParseRegister(%q, %v) moved to table %v", s, table, r.Table)
		}
		// Both forms said back parse to the same register.
		back, err := ParseRegister(r.Reference(), TableUnset)
		if err != nil || back != r {
			t.Fatalf("reference %q of %+v parses to %+v, %v", r.Reference(), r, back, err)
		}
		hex, err := ParseRegister(fmt.Sprintf("0x%X", r.Address), r.Table)
		if err != nil || hex != r {
			t.Fatalf("hex form of %+v parses to %+v, %v", r, hex, err)
		}
		if !strings.HasPrefix(r.String(), r.Reference()+" = "+r.Table.Noun()) {
			t.Fatalf("String() = %q", r.String())
		}
	})
}
