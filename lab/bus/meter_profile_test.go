package bus

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/probe/modbus"
)

// readField reads one profile field from unit over p and returns its
// registers.
func readField(t *testing.T, p *Port, unit byte, f modbus.Field) []uint16 {
	t.Helper()
	r := f.Reg()
	req := modbus.EncodeRTU(unit, modbus.ReadRequest{Function: f.Function, Address: r.Address, Quantity: uint16(f.Count)}.PDU())
	// the answer's wire time at 9600 8N1, the slowest meter's latency, a margin
	window := time.Duration(5+2*f.Count)*1042*time.Microsecond + 40*time.Millisecond
	fr := answer(t, exchange(t, p, req, window))
	regs, err := modbus.ParseRegisters(fr.PDU)
	if err != nil {
		t.Fatalf("unit %d %s: answer % X: %v", unit, r, fr.Raw, err)
	}
	return regs
}

// Every quantity of every profiled lab meter reads back plausible through
// its profile: the end-to-end read the profile test asks for. The
// iEM3255 at 3 sends its words swapped against its manual, and the
// profile check says so; the others read as documented.
func TestLabMetersServeTheirProfiles(t *testing.T) {
	for _, c := range []struct {
		scenario string
		unit     byte
		profile  string
		verdict  modbus.OrderVerdict
	}{
		{"clean", 1, "em340", modbus.OrderDocumented},
		{"clean", 2, "sdm630", modbus.OrderDocumented},
		{"clean", 3, "iem3255", modbus.OrderDiffers},
		{"alternating", 17, "sdm120", modbus.OrderDocumented},
	} {
		t.Run(c.profile, func(t *testing.T) {
			b := startBus(t, c.scenario)
			p := master(t, b, b.Settings(), false)
			prof, err := modbus.ProfileByName(c.profile)
			if err != nil {
				t.Fatal(err)
			}
			reads := map[string][][]uint16{}
			for _, q := range prof.Quantities {
				reads[q.ID] = [][]uint16{readField(t, p, c.unit, q.Field)}
			}
			mo := modbus.ChooseMeterOrder(prof, reads)
			if mo.Verdict != c.verdict {
				t.Fatalf("%s: %s (%s), want %s", c.profile, mo.Verdict, mo.Note, c.verdict)
			}
			if c.verdict == modbus.OrderDiffers && mo.Deviation != (modbus.Deviation{Words: true}) {
				t.Errorf("%s: %s, want words swapped", c.profile, mo.Deviation)
			}
			for _, q := range prof.Quantities {
				d, _ := modbus.Decode(reads[q.ID][0], q.Type, mo.Orders[q.ID], q.Scale)
				lo, hi := plausible(q.ID, q.Unit)
				if d.Number < lo || d.Number > hi {
					t.Errorf("%s %s = %s %s (%s), want %g to %g", c.profile, q.ID, d.Text, q.Unit, modbus.HexWords(d.Raw), lo, hi)
				}
			}
		})
	}
}

// plausible is what a lab meter's quantity reads: near 230 V, a few amps,
// a power factor near 0.93, 50 Hz, energies of a few thousand kWh.
func plausible(id, unit string) (float64, float64) {
	k := 1.0
	if unit == "kW" || unit == "kWh" {
		k = 1000
	}
	switch {
	case strings.HasPrefix(id, "voltage"):
		return 225, 235
	case strings.HasPrefix(id, "current"):
		return 3.5, 8.5
	case id == "power_factor":
		return 0.88, 0.98
	case id == "frequency":
		return 49.9, 50.1
	case id == "power":
		return 800 / k, 6000 / k
	case strings.HasPrefix(id, "power_"):
		return 800 / k, 2000 / k
	case id == "energy_import":
		return 1e6 / k, 52e6 / k
	case id == "energy_export":
		return 0, 5e5 / k
	}
	return math.Inf(-1), math.Inf(1)
}

// The values move as a meter's do, and depend on line time only.
func TestLabMeterValuesMovePlausibly(t *testing.T) {
	cfg, _ := Scenario("clean")
	b := startConfig(t, cfg)
	b.mu.Lock()
	m := b.ports[0].device.(*meter) // unit 1, the EM340
	b.mu.Unlock()
	prevImport, prevExport := math.Inf(-1), math.Inf(-1)
	voltages := map[float64]bool{}
	for s := 0; s <= 7200; s += 7 {
		at := time.Duration(s) * time.Second
		imp, exp := m.quantity("energy_import", "kWh", at), m.quantity("energy_export", "kWh", at)
		if imp <= prevImport || exp <= prevExport {
			t.Fatalf("at %s energy ran backwards or stood: import %g after %g, export %g after %g", at, imp, prevImport, exp, prevExport)
		}
		prevImport, prevExport = imp, exp
		v := m.quantity("voltage_l2", "V", at)
		if v < 226 || v > 234 {
			t.Fatalf("at %s L2 is %g V", at, v)
		}
		voltages[math.Round(v*10)] = true
		if again := m.quantity("voltage_l2", "V", at); again != v {
			t.Fatalf("at %s the voltage reads %g, then %g", at, v, again)
		}
	}
	if len(voltages) < 20 {
		t.Errorf("the voltage barely moves over two hours: %d distinct readings", len(voltages))
	}
	if got := m.quantity("energy_import", "kWh", time.Hour) - m.quantity("energy_import", "kWh", 0); got < 3 || got > 5 {
		t.Errorf("a three-phase meter at about 3.9 kW imports %g kWh an hour", got)
	}
}

// Where each meter keeps its serial number, as the lab's endpoints tell
// it: registers 16-17 of the lab's map, and the maker's own register.
func TestLabMetersTellWhereTheirSerialNumberIs(t *testing.T) {
	b := startBus(t, "clean")
	p := master(t, b, b.Settings(), false)
	for _, m := range b.Config().Meters {
		regs := m.SerialRegisters()
		if len(regs) == 0 || regs[0].Register.Reference() != "40017" {
			t.Fatalf("unit %d: %+v", m.Unit, regs)
		}
		for _, sr := range regs {
			got := readField(t, p, m.Unit, modbus.Field{Register: sr.Register.Reference(), Function: 3, Count: 2, Type: sr.Type, Order: sr.Order})
			d, _ := modbus.Decode(got, sr.Type, sr.Order, 1)
			if d.Text != strconv.FormatUint(uint64(m.Serial), 10) {
				t.Errorf("unit %d %s (%s map): %s, want %d", m.Unit, sr.Register, sr.Map, d.Text, m.Serial)
			}
		}
		if want := map[byte]int{1: 1, 2: 2, 3: 2}[m.Unit]; len(regs) != want {
			t.Errorf("unit %d: %d serial registers, want %d", m.Unit, len(regs), want)
		}
	}
}

// With StillValues two readers one after the other read the same words.
func TestStillValuesHoldEveryQuantity(t *testing.T) {
	cfg, _ := Scenario("clean")
	cfg.StillValues = true
	b := startConfig(t, cfg)
	p := master(t, b, b.Settings(), false)
	f := modbus.Field{Register: "30001", Function: 4, Count: 76, Type: modbus.String, Order: modbus.ABCD} // a gateway's block read
	first := readField(t, p, 2, f)
	for range 3 {
		if again := readField(t, p, 2, f); modbus.HexWords(again) != modbus.HexWords(first) {
			t.Fatalf("still values moved:\n%s\n%s", modbus.HexWords(first), modbus.HexWords(again))
		}
	}
}

// The flaky scenario flips a bit in about a fifth of meter 2's answers,
// the same ones on every run, and leaves the other meters alone.
func TestFlakyMeterCorruptsSomeOfItsAnswers(t *testing.T) {
	count := func() (bad2, bad1 int) {
		b := startBus(t, "flaky")
		p := master(t, b, b.Settings(), false)
		for range 40 {
			for _, unit := range []byte{1, 2} {
				got := exchange(t, p, readHolding(unit, 0, 4), 60*time.Millisecond)
				if f, err := modbus.DecodeRTU(got, modbus.Response); err != nil || f.Unit != unit {
					if unit == 2 {
						bad2++
					} else {
						bad1++
					}
				}
			}
		}
		return bad2, bad1
	}
	bad2, bad1 := count()
	if bad1 != 0 || bad2 < 3 || bad2 > 16 {
		t.Fatalf("of 40 answers each, meter 2 sent %d damaged (want about 8), meter 1 %d (want 0)", bad2, bad1)
	}
	if again, _ := count(); again != bad2 {
		t.Errorf("the fault is seeded: %d damaged answers, then %d", bad2, again)
	}
}
