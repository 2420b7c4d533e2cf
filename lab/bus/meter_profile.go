package bus

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ecdata/ectool/probe/modbus"
)

// profileMap is what a meter serves from its profile: every register of
// every quantity (and of the serial number), on the table the profile
// reads it from, encoded as the profile says (or with its words swapped,
// for a meter that contradicts its manual).
type profileMap struct {
	fields []servedField
	words  map[modbus.Table]map[uint16]servedWord
	// envelope is, per table, the first and last address the profile
	// maps: a block read across the gaps between its values reads 0 there
	// (a parameter this meter does not measure), as meters answer.
	envelope map[modbus.Table][2]int
}

// servedField is one value the meter serves.
type servedField struct {
	id    string // a quantity id, or "serial"
	typ   modbus.Type
	order modbus.Order // as served
	scale float64
	unit  string
}

// servedWord is one register: which field, which of its words.
type servedWord struct{ field, word int }

// newProfileMap lays out cfg's profile (nil when it has none).
func newProfileMap(cfg *MeterConfig) *profileMap {
	if cfg.Profile == "" {
		return nil
	}
	p, err := modbus.ProfileByName(cfg.Profile)
	if err != nil {
		return nil // Validate refused it before the bus started
	}
	pm := &profileMap{words: map[modbus.Table]map[uint16]servedWord{}, envelope: map[modbus.Table][2]int{}}
	add := func(id string, f modbus.Field, scale float64, unit string) {
		order := f.Order
		if cfg.SwapWords && f.Type.Wide() {
			order = order.Swapped(true, false)
		}
		r := f.Reg()
		if pm.words[r.Table] == nil {
			pm.words[r.Table] = map[uint16]servedWord{}
		}
		for w := range f.Count {
			pm.words[r.Table][r.Address+uint16(w)] = servedWord{field: len(pm.fields), word: w}
		}
		env, ok := pm.envelope[r.Table]
		if !ok {
			env = [2]int{int(r.Address), int(r.Address)}
		}
		pm.envelope[r.Table] = [2]int{min(env[0], int(r.Address)), max(env[1], int(r.Address)+f.Count-1)}
		pm.fields = append(pm.fields, servedField{id: id, typ: f.Type, order: order, scale: scale, unit: unit})
	}
	if p.Serial != nil {
		add("serial", *p.Serial, 1, "")
	}
	for _, q := range p.Quantities {
		add(q.ID, q.Field, q.Scale, q.Unit)
	}
	return pm
}

// word is the register at addr of table t at line time at, and false when
// the profile has none there. cache keeps each field's encoding for one
// request, so a read of several registers sees one value, as a meter
// copies a value into its answer at once.
func (m *meter) profileWord(t modbus.Table, addr uint16, at time.Duration, cache map[int][]uint16) (uint16, bool) {
	if m.profile == nil {
		return 0, false
	}
	sw, ok := m.profile.words[t][addr]
	if !ok {
		return 0, false
	}
	regs, ok := cache[sw.field]
	if !ok {
		f := m.profile.fields[sw.field]
		var err error
		if f.id == "serial" {
			regs, err = m.serialWords(f)
		} else {
			regs, err = modbus.EncodeNumber(m.quantity(f.id, f.unit, at), f.typ, f.order, f.scale)
		}
		if err != nil {
			regs = make([]uint16, max(1, f.typ.Registers()))
		}
		cache[sw.field] = regs
	}
	if sw.word >= len(regs) {
		return 0, true
	}
	return regs[sw.word], true
}

// inEnvelope reports whether addr of table t lies between the first and
// the last register the profile maps there.
func (pm *profileMap) inEnvelope(t modbus.Table, addr uint16) bool {
	if pm == nil {
		return false
	}
	env, ok := pm.envelope[t]
	return ok && int(addr) >= env[0] && int(addr) <= env[1]
}

// serialWords encodes the meter's serial number as the profile's serial
// field says.
func (m *meter) serialWords(f servedField) ([]uint16, error) {
	if f.typ == modbus.String {
		return modbus.ParseValue(fmt.Sprint(m.cfg.Serial), f.typ, f.order, 1, 0)
	}
	return modbus.EncodeNumber(float64(m.cfg.Serial), f.typ, f.order, 1)
}

// quantity is the meter's reading of quantity id in unit at line time at:
// voltages near 230 V, currents of a few amps, a power factor near 0.93,
// 50 Hz, each wandering slowly on periods of its own, and energy counters
// that only rise, at the rate of the mean power. Everything depends on the
// line time and the meter's serial number only, so a scenario replays the
// same values at the same line times (and StillValues, which reads every
// register at line time 0, holds them).
func (m *meter) quantity(id, unit string, at time.Duration) float64 {
	t := at.Seconds()
	seed := float64(m.cfg.Serial % 97)
	wave := func(period, phase float64) float64 { return math.Sin(2*math.Pi*t/period + phase + seed) }
	kind, phase := id, 0
	for i, suffix := range []string{"_l1", "_l2", "_l3"} {
		if k, ok := strings.CutSuffix(id, suffix); ok {
			kind, phase = k, i
		}
	}
	ph := float64(phase) * 2.1
	voltage := func(ph float64) float64 { return 230 + 2.5*wave(61, ph) + 0.6*wave(7.3, 2*ph) }
	current := func(ph float64) float64 { return 6 + 2*wave(47, ph/3) }
	pf := 0.93 + 0.04*wave(89, 0)
	phases := 1.0
	if m.profile != nil && m.hasQuantity("voltage_l1") {
		phases = 3
	}
	meanPowerW := phases * 230 * 6 * 0.93
	var v float64
	switch kind {
	case "voltage":
		v = voltage(ph)
	case "current":
		v = current(ph)
	case "power":
		if id != "power" || phases == 1 {
			v = voltage(ph) * current(ph) * pf
			break
		}
		for p := range 3 {
			v += voltage(float64(p)*2.1) * current(float64(p)*2.1) * pf
		}
	case "power_factor":
		v = pf
	case "frequency":
		v = 50 + 0.03*wave(31, 0)
	case "energy_import":
		v = (1000+float64(m.cfg.Serial%50000))*1000 + meanPowerW*t/3600 // Wh
	case "energy_export":
		v = float64(m.cfg.Serial%500)*1000 + 0.02*meanPowerW*t/3600 // Wh
	}
	switch unit {
	case "kW", "kWh":
		v /= 1000
	}
	return v
}

func (m *meter) hasQuantity(id string) bool {
	for _, f := range m.profile.fields {
		if f.id == id {
			return true
		}
	}
	return false
}

// SerialRegister is a register that holds a meter's serial number.
type SerialRegister struct {
	Register modbus.Register
	Type     modbus.Type
	Order    modbus.Order
	// Map says whose map it is: "lab" (every lab meter) or the profile's.
	Map string
}

// labSerial is where every lab meter keeps its serial number: holding
// registers 16-17, u32, high word first.
var labSerial = SerialRegister{Register: modbus.Register{Table: modbus.TableHolding, Address: 16}, Type: modbus.U32, Order: modbus.ABCD, Map: "lab"}

// SerialRegisters says where the meter keeps its serial number: the lab's
// own map, and the maker's register when its profile names one (words
// swapped for a meter that swaps them).
func (c MeterConfig) SerialRegisters() []SerialRegister {
	out := []SerialRegister{labSerial}
	if c.Profile == "" {
		return out
	}
	p, err := modbus.ProfileByName(c.Profile)
	if err != nil || p.Serial == nil {
		return out
	}
	o := p.Serial.Order
	if c.SwapWords && p.Serial.Type.Wide() {
		o = o.Swapped(true, false)
	}
	return append(out, SerialRegister{Register: p.Serial.Reg(), Type: p.Serial.Type, Order: o, Map: p.Name})
}
