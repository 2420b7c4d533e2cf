package modbus

import (
	"math"
	"strings"
	"testing"
)

var (
	voltage = Expect{Min: 0, Max: 500, HasRange: true}
	energy  = Expect{Min: 0, Max: 1e9, HasRange: true, Counter: true}
)

// orderGolden is --order auto's golden table: registers as a meter sent
// them (one or more reads), what is known about the quantity, and what
// auto must conclude. Clear cases pick one order; ambiguous ones say
// "cannot tell" and never guess.
var orderGolden = []struct {
	name    string
	reads   [][]uint16
	typ     Type
	scale   float64
	expect  Expect
	verdict OrderVerdict
	order   Order
	alive   string // the plausible orders, in Orders' order
}{
	{"SDM630 230.1 V as sent (ABCD)", [][]uint16{{0x4366, 0x199A}}, F32, 1, Expect{}, OrderFound, ABCD, "ABCD"},
	{"230.1 V with its words swapped", [][]uint16{{0x199A, 0x4366}}, F32, 1, Expect{}, OrderFound, CDAB, "CDAB"},
	{"230.0 V: the swapped orders are denormal", [][]uint16{{0x4366, 0x0000}}, F32, 1, Expect{}, OrderFound, ABCD, "ABCD"},
	{"power factor 0.95: swapped it is 4e-8, no reading", [][]uint16{{0x3F73, 0x3333}}, F32, 1, Expect{Min: -1, Max: 1, HasRange: true}, OrderFound, ABCD, "ABCD"},
	{"230.1 as f64", [][]uint16{{0x406C, 0xC333, 0x3333, 0x3333}}, F64, 1, Expect{}, OrderFound, ABCD, "ABCD"},
	{"230.1 as f64, words reversed", [][]uint16{{0x3333, 0x3333, 0xC333, 0x406C}}, F64, 1, Expect{}, OrderFound, CDAB, "CDAB"},

	{"12345.6 kWh once: bytes swapped it is a plausible 3.1", [][]uint16{{0x4640, 0xE666}}, F32, 1, energy, OrderCannotTell, "", "ABCD BADC"},
	{"12345.6 then 12345.85 kWh: BADC runs backwards", [][]uint16{{0x4640, 0xE666}, {0x4640, 0xE765}}, F32, 1, energy, OrderFound, ABCD, "ABCD"},
	{"the same reads, not known to be a counter", [][]uint16{{0x4640, 0xE666}, {0x4640, 0xE765}}, F32, 1, Expect{}, OrderCannotTell, "", "ABCD BADC"},
	{"0 reads 0 in every order", [][]uint16{{0, 0}}, F32, 1, Expect{}, OrderAgree, "", "ABCD CDAB BADC DCBA"},
	{"u32 12345 without a profile", [][]uint16{{0x0000, 0x3039}}, U32, 1, Expect{}, OrderCannotTell, "", "ABCD CDAB BADC DCBA"},
	{"EM340 voltage s32 x0.1 without a profile", [][]uint16{{0x08FC, 0x0000}}, S32, 0.1, Expect{}, OrderCannotTell, "", "ABCD CDAB BADC DCBA"},
	{"EM340 voltage s32 x0.1 in the voltage range: one order", [][]uint16{{0x08FC, 0x0000}}, S32, 0.1, voltage, OrderFound, CDAB, "CDAB"},
	{"u32 all ones: beyond 1e9 in every order", [][]uint16{{0xFFFF, 0xFFFF}}, U32, 1, Expect{}, OrderNone, "", ""},

	{"EM340 as its manual says (CDAB)", [][]uint16{{0x08FC, 0x0000}}, S32, 0.1, Expect{Min: 0, Max: 500, HasRange: true, Documented: CDAB}, OrderDocumented, CDAB, "CDAB"},
	{"EM340 with its words swapped against the manual", [][]uint16{{0x0000, 0x08FC}}, S32, 0.1, Expect{Min: 0, Max: 500, HasRange: true, Documented: CDAB}, OrderDiffers, ABCD, "ABCD"},
	{"documented order plausible beside others", [][]uint16{{0x4640, 0xE666}}, F32, 1, Expect{Min: 0, Max: 1e9, HasRange: true, Documented: ABCD}, OrderDocumented, ABCD, "ABCD BADC"},

	// A meter's "not available" NaN: without a range, bytes swapped it
	// reads -3.98, which nothing rules out; a profile's range does.
	{"NaN marker without a profile", [][]uint16{{0x7FC0, 0x0000}}, F32, 1, Expect{}, OrderFound, BADC, "BADC"},
	{"NaN marker in the voltage range", [][]uint16{{0x7FC0, 0x0000}}, F32, 1, voltage, OrderNone, "", ""},
}

func TestOrderAutoGolden(t *testing.T) {
	for _, g := range orderGolden {
		t.Run(g.name, func(t *testing.T) {
			ch := ChooseOrder(g.reads, g.typ, g.scale, g.expect)
			var alive []string
			for _, c := range ch.Candidates {
				if c.Plausible {
					alive = append(alive, string(c.Order))
				} else if c.Reason == "" {
					t.Errorf("%s dropped without a reason", c.Order)
				}
			}
			if ch.Verdict != g.verdict || ch.Order != g.order || strings.Join(alive, " ") != g.alive {
				t.Fatalf("verdict %s order %q alive %v (%s); want %s %q %s", ch.Verdict, ch.Order, alive, ch.Note, g.verdict, g.order, g.alive)
			}
			if len(ch.Candidates) != 4 || ch.Note == "" {
				t.Fatalf("every order is shown with a note: %+v", ch)
			}
			warn := g.verdict == OrderCannotTell || g.verdict == OrderNone || g.verdict == OrderDiffers
			if ch.Warning() != warn {
				t.Fatalf("Warning() = %v for %s", ch.Warning(), ch.Verdict)
			}
			if g.verdict == OrderCannotTell && !strings.Contains(ch.Note, "cannot tell") {
				t.Fatalf("note %q", ch.Note)
			}
		})
	}
}

func TestOrderSwapped(t *testing.T) {
	want := map[Order][4]Order{ // none, words, bytes, both
		ABCD: {ABCD, CDAB, BADC, DCBA},
		CDAB: {CDAB, ABCD, DCBA, BADC},
		BADC: {BADC, DCBA, ABCD, CDAB},
		DCBA: {DCBA, BADC, CDAB, ABCD},
	}
	for o, w := range want {
		for i, d := range deviations {
			if got := o.Swapped(d.Words, d.Bytes); got != w[i] {
				t.Errorf("%s with %s = %s, want %s", o, d, got, w[i])
			}
		}
	}
}

// One meter's quantities decide its order together: a voltage rules out
// what a small current alone cannot.
func TestMeterOrderFromAllQuantities(t *testing.T) {
	p, err := ProfileByName("sdm630")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{"voltage_l1": 230.1, "current_l1": 4.2, "energy_import": 12345.6, "power_factor": 0.93}
	reads := func(d Deviation) map[string][][]uint16 {
		r := map[string][][]uint16{}
		for id, v := range values {
			q := p.Quantity(id)
			regs, err := EncodeNumber(v, q.Type, q.Order.Swapped(d.Words, d.Bytes), q.Scale)
			if err != nil {
				t.Fatal(err)
			}
			r[id] = [][]uint16{regs}
		}
		return r
	}
	for _, d := range deviations {
		mo := ChooseMeterOrder(p, reads(d))
		want := OrderDiffers
		if d == (Deviation{}) {
			want = OrderDocumented
		}
		if mo.Verdict != want || mo.Deviation != d {
			t.Errorf("sent with %s: %s %s (%s)", d, mo.Verdict, mo.Deviation, mo.Note)
			continue
		}
		for id, v := range values {
			q := p.Quantity(id)
			dec, _ := Decode(reads(d)[id][0], q.Type, mo.Orders[id], q.Scale)
			if math.Abs(dec.Number-v) > 1e-3*math.Abs(v) {
				t.Errorf("sent with %s: %s decodes to %s, want %g", d, id, dec.Text, v)
			}
		}
	}
	// A current of 4.2 A alone: words swapped it reads 6.7e-4 A, which the
	// range allows, so the meter's order cannot be told from it...
	only := map[string][][]uint16{"current_l1": {{0x3A2F, 0x4082}}}
	if mo := ChooseMeterOrder(p, only); mo.Verdict != OrderDocumented || !strings.Contains(mo.Note, "manual") {
		t.Errorf("a lone small current: %s (%s); the manual's order wins a tie", mo.Verdict, mo.Note)
	}
	// ...and nothing plausible at all is said so.
	junk := map[string][][]uint16{"voltage_l1": {{0x7FC0, 0}}}
	if mo := ChooseMeterOrder(p, junk); mo.Verdict != OrderNone || len(mo.Orders) != 0 {
		t.Errorf("NaN voltage: %+v", mo)
	}
}
