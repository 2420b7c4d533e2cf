package modbus

import (
	"errors"
	"strings"
	"testing"
)

func TestEveryProfileIsValid(t *testing.T) {
	ps, err := Profiles()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
		if p.Verified == nil || *p.Verified {
			t.Errorf("%s: verified is %v; a profile stays unverified until someone checks it against a real meter (and then says how in its source)", p.Name, p.Verified)
		}
		for _, q := range p.Quantities {
			if q.Reg().Table.ReadFunction() != q.Function {
				t.Errorf("%s %s: register %s is not read with function %d", p.Name, q.ID, q.Reg(), q.Function)
			}
		}
	}
	// The lab's meters (lab/bus) serve these; at most two more besides.
	if got := strings.Join(names, " "); got != "em340 iem3255 sdm120 sdm630" {
		t.Errorf("profiles %s", got)
	}
}

func TestProfilesAreFoundByNameAndIdentity(t *testing.T) {
	if p, err := ProfileByName("SDM630"); err != nil || p.Name != "sdm630" {
		t.Fatalf("ProfileByName(SDM630) = %v, %v", p, err)
	}
	if _, err := ProfileByName("sdm999"); !errors.Is(err, ErrNoProfile) || !strings.Contains(err.Error(), "em340") {
		t.Fatalf("unknown meter: %v", err)
	}
	for _, c := range []struct{ vendor, product, want string }{
		{"Eastron", "SDM630", "sdm630"},
		{"EASTRON", "SDM120-Modbus", "sdm120"},
		{"Carlo Gavazzi", "EM340", "em340"},
		{"Schneider Electric", "iEM3255", "iem3255"},
		{"Eastron", "SDM72", ""},
		{"ecdata lab", "EM-3", ""},
	} {
		p := ProfileFor(c.vendor, c.product)
		if got := ""; p != nil {
			got = p.Name
			if got != c.want {
				t.Errorf("%s %s: %s, want %q", c.vendor, c.product, got, c.want)
			}
		} else if c.want != "" {
			t.Errorf("%s %s: no profile, want %s", c.vendor, c.product, c.want)
		}
	}
	p, _ := ProfileByName("em340")
	e := p.Quantity("energy_import").Expect()
	if !e.Counter || !e.HasRange || e.Documented != CDAB || p.Quantity("voltage_l1").Expect().Counter {
		t.Errorf("expectations %+v", e)
	}
}

const goodProfile = `name: test
title: Test meter
vendor: Test
match: {vendor: [Test], product: [T1]}
source: {title: T1 manual, version: "1.0", section: "3.1"}
verified: false
serial: {register: "40017", function: 3, count: 2, type: u32, order: ABCD}
quantities:
  - {id: voltage, name: Voltage, register: "30001", function: 4, count: 2, type: f32, order: ABCD, scale: 1, unit: V, range: [0, 500]}
  - {id: energy_import, name: Energy, register: "0x0010", function: 4, count: 4, type: u64, order: CDAB, scale: 0.001, unit: kWh, range: [0, 1e9]}
`

// Each broken profile is refused with the rule it breaks.
func TestProfileValidationRefusesEachBrokenRule(t *testing.T) {
	if _, err := ParseProfile("test", []byte(goodProfile)); err != nil {
		t.Fatalf("the good profile: %v", err)
	}
	edit := func(old, new string) string {
		if !strings.Contains(goodProfile, old) {
			t.Fatalf("no %q in the good profile", old)
		}
		return strings.Replace(goodProfile, old, new, 1)
	}
	for _, c := range []struct{ name, yaml, why string }{
		{"unknown key", edit("verified: false", "verified: false\nchecked: yes"), "field checked not found"},
		{"no verified", edit("verified: false\n", ""), "verified is required"},
		{"no source version", edit(`version: "1.0", `, ""), "source needs"},
		{"name not the file's", edit("name: test", "name: other"), "file's name"},
		{"f32 in one register", edit("count: 2, type: f32", "count: 1, type: f32"), "count 1 registers, but f32 takes 2"},
		{"u64 in two registers", edit("count: 4, type: u64", "count: 2, type: u64"), "but u64 takes 4"},
		{"holding reference read with 04", edit(`register: "30001"`, `register: "40001"`), "a holding register, not an input register"},
		{"function 06", edit(`"30001", function: 4`, `"30001", function: 6`), "read with 3 or 4"},
		{"overlap", edit(`register: "0x0010"`, `register: "0x0001"`), "voltage and energy_import share 30002"},
		{"serial overlaps nothing across tables", edit(`register: "40017"`, `register: "40001"`), ""},
		{"unit not in the list", edit("unit: V,", "unit: Volt,"), "unit \"Volt\""},
		{"unit of another quantity", edit("unit: V,", "unit: kWh,"), "does not measure voltage"},
		{"unknown quantity", edit("id: voltage,", "id: voltage_l4,"), "unknown id"},
		{"duplicate quantity", edit("id: energy_import,", "id: voltage,"), "appears twice"},
		{"scale 0", edit("scale: 1,", "scale: 0,"), "scale 0"},
		{"range reversed", edit("range: [0, 500]", "range: [500, 0]"), "range [500 0]"},
		{"no range", edit(", range: [0, 500]", ""), "range []"},
		{"bad order", edit("order: CDAB", "order: CBAD"), "order \"CBAD\""},
		{"word order on 16 bits", edit("count: 2, type: f32, order: ABCD", "count: 1, type: s16, order: CDAB"), "no word order"},
		{"string quantity", edit("count: 2, type: f32", "count: 2, type: string"), "a quantity is a number"},
		{"serial as a float", edit("count: 2, type: u32", "count: 2, type: f32"), "serial number is u32"},
	} {
		_, err := ParseProfile("test", []byte(c.yaml))
		switch {
		case c.why == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.why != "" && (err == nil || !strings.Contains(err.Error(), c.why)):
			t.Errorf("%s: %v; want an error saying %q", c.name, err, c.why)
		}
	}
}
