package modbus

import (
	"fmt"
	"math"
	"strings"
)

// Magnitude bounds of --order auto. Without a profile's range a reading
// is at most 1e9 in magnitude; a float reading is 0 or at least 1e-6 in
// magnitude, range or not (no meter resolves a millionth of a volt, an
// amp or a kWh). Garbage from a wrong word order is mostly outside: a
// float whose exponent came from a mantissa byte is 1e-23 or 1e23, an
// integer whose words are swapped 65536 times too large.
const (
	DefaultMaxMagnitude = 1e9
	MinFloatMagnitude   = 1e-6
)

// Expect is what a plausible value of one quantity looks like: the
// profile's range when it names one, whether it is a counter that never
// runs backwards (energy), and the word order its manual documents.
type Expect struct {
	// Min and Max bound the scaled value when HasRange.
	Min, Max float64
	HasRange bool
	// Counter: across reads the value never decreases.
	Counter bool
	// Documented is the manual's order ("" when none is known).
	Documented Order
}

// OrderVerdict is what --order auto concluded.
type OrderVerdict string

// Verdicts of ChooseOrder.
const (
	// OrderFound: exactly one order gives plausible values.
	OrderFound OrderVerdict = "found"
	// OrderDocumented: the manual's order gives plausible values.
	OrderDocumented OrderVerdict = "documented"
	// OrderDiffers: the manual's order gives implausible values and
	// exactly one other order plausible ones: the meter differs from its
	// documentation (a warning; the plausible order is used).
	OrderDiffers OrderVerdict = "differs"
	// OrderAgree: several orders are plausible and give the same value
	// (0 is 0 in every order): the value is known, the order is not.
	OrderAgree OrderVerdict = "agree"
	// OrderCannotTell: several orders give different plausible values
	// (a warning, never a guess: all are shown).
	OrderCannotTell OrderVerdict = "cannot_tell"
	// OrderNone: no order gives a plausible value.
	OrderNone OrderVerdict = "none"
)

// Candidate is one order's reading of the registers.
type Candidate struct {
	Order Order `json:"order"`
	// Value is the last read's value in this order.
	Value     string  `json:"value"`
	Number    float64 `json:"-"`
	Plausible bool    `json:"plausible"`
	// Reason says why the order was dropped.
	Reason string `json:"reason,omitempty"`
}

// OrderChoice is --order auto's answer: the verdict, the order used (when
// there is one) and every candidate, for the text to show on request and
// the JSON always.
type OrderChoice struct {
	Verdict    OrderVerdict `json:"verdict"`
	Order      Order        `json:"order,omitempty"`
	Candidates []Candidate  `json:"candidates"`
	// Note says the verdict in words.
	Note string `json:"note"`
}

// Warning reports a verdict a technician must look at: no value can be
// trusted without a decision (cannot tell, none) or the meter differs
// from its manual.
func (c OrderChoice) Warning() bool {
	return c.Verdict == OrderCannotTell || c.Verdict == OrderNone || c.Verdict == OrderDiffers
}

// ChooseOrder decodes reads (one or more reads of the same registers,
// oldest first) in all four orders and keeps those whose values are
// finite, not denormal and within bounds (e's range, else the default
// magnitudes) in every read, and, for a counter, never decrease. One
// survivor is the answer; a plausible documented order wins over the
// others; several survivors that disagree are "cannot tell".
func ChooseOrder(reads [][]uint16, t Type, scale float64, e Expect) OrderChoice {
	var cands []Candidate
	for _, o := range Orders {
		cands = append(cands, judgeOrder(reads, t, o, scale, e))
	}
	var alive []Candidate
	for _, c := range cands {
		if c.Plausible {
			alive = append(alive, c)
		}
	}
	ch := OrderChoice{Candidates: cands}
	documented := -1
	for i, o := range Orders {
		if o == e.Documented {
			documented = i
		}
	}
	switch {
	case documented >= 0 && cands[documented].Plausible:
		ch.Verdict, ch.Order = OrderDocumented, e.Documented
		ch.Note = fmt.Sprintf("%s, as the manual says", e.Documented)
	case len(alive) == 1 && documented >= 0:
		ch.Verdict, ch.Order = OrderDiffers, alive[0].Order
		ch.Note = fmt.Sprintf("the meter sends %s, its manual says %s (%s in %s: %s)", alive[0].Order, e.Documented,
			cands[documented].Value, e.Documented, cands[documented].Reason)
	case len(alive) == 1:
		ch.Verdict, ch.Order = OrderFound, alive[0].Order
		ch.Note = fmt.Sprintf("%s: the only order giving a plausible value", alive[0].Order)
	case len(alive) == 0:
		ch.Verdict = OrderNone
		ch.Note = "no order gives a plausible value: check the register, the type and the scale"
	case agree(reads, t, scale, alive):
		ch.Verdict = OrderAgree
		ch.Note = fmt.Sprintf("every plausible order reads %s: the value is certain, the order is not (read again when it changes)", alive[0].Value)
	default:
		ch.Verdict = OrderCannotTell
		var parts []string
		for _, c := range alive {
			parts = append(parts, c.Order.String()+" "+c.Value)
		}
		ch.Note = "cannot tell: " + strings.Join(parts, ", ") + " are all plausible; name the order (--order) or the meter (--meter)"
	}
	return ch
}

// String is the order's name.
func (o Order) String() string { return string(o) }

// judgeOrder decodes every read in order o and says whether all are plausible.
func judgeOrder(reads [][]uint16, t Type, o Order, scale float64, e Expect) Candidate {
	c := Candidate{Order: o, Plausible: true}
	prev := math.Inf(-1)
	for i, regs := range reads {
		d, err := Decode(regs, t, o, scale)
		if err != nil {
			return Candidate{Order: o, Reason: err.Error()}
		}
		c.Value, c.Number = d.Text, d.Number
		if !c.Plausible {
			continue // keep the last read's value for display
		}
		c.Reason = implausible(d, e)
		if c.Reason == "" && e.Counter && d.Number < prev {
			c.Reason = fmt.Sprintf("a counter running backwards (read %d: %s after %s)", i+1, d.Text, trimFloat(prev))
		}
		c.Plausible = c.Reason == ""
		prev = d.Number
	}
	return c
}

// implausible says what is wrong with one decoded value ("" when nothing).
func implausible(d Decoded, e Expect) string {
	v := d.Number
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "not a finite number"
	case d.Denormal:
		return "a denormal float"
	case d.Float && v != 0 && math.Abs(v) < MinFloatMagnitude:
		return "a float below 1e-6 in magnitude"
	case e.HasRange && (v < e.Min || v > e.Max):
		return fmt.Sprintf("outside the quantity's range %s to %s", trimFloat(e.Min), trimFloat(e.Max))
	case !e.HasRange && math.Abs(v) > DefaultMaxMagnitude:
		return "beyond 1e9 in magnitude"
	}
	return ""
}

// agree reports whether every candidate reads the same values in every
// read.
func agree(reads [][]uint16, t Type, scale float64, cands []Candidate) bool {
	for _, regs := range reads {
		first, _ := Decode(regs, t, cands[0].Order, scale)
		for _, c := range cands[1:] {
			d, _ := Decode(regs, t, c.Order, scale)
			if d.Number != first.Number {
				return false
			}
		}
	}
	return true
}

func trimFloat(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%.6g", f), ".000000") }

// Swapped is o with its words and/or its bytes in the other order: ABCD
// with words swapped is CDAB, with bytes swapped BADC, with both DCBA.
func (o Order) Swapped(words, bytes bool) Order {
	w, b := o.swapsWords() != words, o.swapsBytes() != bytes
	switch {
	case w && b:
		return DCBA
	case w:
		return CDAB
	case b:
		return BADC
	}
	return ABCD
}

// Deviation is how a meter's byte order departs from its manual: firmware
// that swaps the words of one value swaps them in all.
type Deviation struct {
	Words bool `json:"words_swapped"`
	Bytes bool `json:"bytes_swapped"`
}

// Deviations in the order a tie is settled: the manual first.
var deviations = []Deviation{{}, {Words: true}, {Bytes: true}, {Words: true, Bytes: true}}

func (d Deviation) String() string {
	switch {
	case d.Words && d.Bytes:
		return "words and bytes swapped"
	case d.Words:
		return "words swapped"
	case d.Bytes:
		return "bytes swapped"
	}
	return "as documented"
}

// MeterOrder is the byte order one meter sends, decided from all its
// multi-register quantities read with its profile.
type MeterOrder struct {
	Verdict   OrderVerdict `json:"verdict"`
	Deviation Deviation    `json:"deviation"`
	// Orders is the order to decode each quantity with (by id).
	Orders map[string]Order `json:"orders"`
	// Ruled out says, per deviation dropped, a quantity that rules it out.
	RuledOut map[string]string `json:"ruled_out,omitempty"`
	Note     string            `json:"note"`
}

// ChooseMeterOrder decides how a meter's byte order departs from its
// profile, from reads of its quantities (by id, oldest first). A
// deviation survives when every multi-register quantity read is plausible
// under it, so one clear quantity (a voltage, whose swapped words are
// 1e-23) settles what a small current alone could not. The manual's order
// wins a tie; a single surviving other deviation is "differs"; several
// without the manual's are "cannot tell".
func ChooseMeterOrder(p *Profile, reads map[string][][]uint16) MeterOrder {
	mo := MeterOrder{Orders: map[string]Order{}, RuledOut: map[string]string{}}
	var alive []Deviation
	for _, d := range deviations {
		ok := true
		for _, q := range p.Quantities {
			r := reads[q.ID]
			if len(r) == 0 || !q.Type.Wide() {
				continue
			}
			e := q.Expect()
			e.Documented = ""
			if c := judgeOrder(r, q.Type, q.Order.Swapped(d.Words, d.Bytes), q.Scale, e); !c.Plausible {
				mo.RuledOut[d.String()] = fmt.Sprintf("%s reads %s %s: %s", q.ID, c.Value, q.Unit, c.Reason)
				ok = false
				break
			}
		}
		if ok {
			alive = append(alive, d)
		}
	}
	switch {
	case len(alive) == 0:
		mo.Verdict = OrderNone
		mo.Note = "no byte order gives plausible values for every quantity: check the profile, the unit id and the wiring"
	case alive[0] == Deviation{}:
		mo.Verdict = OrderDocumented
		mo.Note = "byte order as the manual says"
	case len(alive) == 1:
		mo.Verdict, mo.Deviation = OrderDiffers, alive[0]
		mo.Note = fmt.Sprintf("the meter sends its values with %s against its manual (%s)", alive[0], mo.RuledOut[Deviation{}.String()])
	default:
		mo.Verdict = OrderCannotTell
		var names []string
		for _, d := range alive {
			names = append(names, d.String())
		}
		mo.Note = "cannot tell how the meter departs from its manual: " + strings.Join(names, ", ") + " all give plausible values"
	}
	if mo.Verdict == OrderDocumented || mo.Verdict == OrderDiffers {
		for _, q := range p.Quantities {
			mo.Orders[q.ID] = q.Order
			if q.Type.Wide() {
				mo.Orders[q.ID] = q.Order.Swapped(mo.Deviation.Words, mo.Deviation.Bytes)
			}
		}
	}
	return mo
}
