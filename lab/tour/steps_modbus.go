package tour

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/lab"
	"github.com/ecdata/ectool/lab/bus"
	"github.com/ecdata/ectool/probe/modbus"
)

// The steps reading a lab meter with its profile: named quantities in
// units, and the byte order found rather than guessed.

// profileMeter is the meter the profile step reads.
const profileMeter = "sdm630"

// readDetails is what the tour reads of `modbus read -o json`'s details.
type readDetails struct {
	Profile    string             `json:"profile"`
	Values     []modbus.Value     `json:"values"`
	MeterOrder *modbus.MeterOrder `json:"meter_order"`
}

func stepModbusProfile(ctx context.Context, tr *Tour) Verdict {
	b := tr.EP.Bus
	if b == nil {
		return skip("the lab runs without its bus")
	}
	m := meterWithProfile(b, profileMeter)
	if m == nil {
		return skip("the lab's bus (scenario %s) has no meter read with the %s profile", b.Scenario, profileMeter)
	}
	c := tr.Run(ctx, "modbus", "read", b.RTUOverTCP, "--unit", strconv.Itoa(m.UnitID), "--meter", profileMeter)
	return judgeProfileRead(c, profileMeter, map[string]report.Status{"modbus.read": ok, "modbus.order": ok})
}

// stepModbusOrder reads the lab meter whose firmware sends its words
// swapped against its manual, by its manual (the profile): the read
// finds the order the meter really sends.
func stepModbusOrder(ctx context.Context, tr *Tour) Verdict {
	b := tr.EP.Bus
	if b == nil {
		return skip("the lab runs without its bus")
	}
	m, swapped := swappedMeter(b)
	if m == nil {
		return skip("the lab's bus (scenario %s) has no meter that contradicts its manual's word order", b.Scenario)
	}
	c := tr.Run(ctx, "modbus", "read", b.RTUOverTCP, "--unit", strconv.Itoa(m.UnitID), "--meter", m.Profile)
	v := judgeProfileRead(c, m.Profile, map[string]report.Status{"modbus.read": ok, "modbus.order": warned})
	if v.failed() {
		return v
	}
	var rd readDetails
	d, _ := c.Report()
	_ = d.DetailsInto(&rd)
	mo := rd.MeterOrder
	switch {
	case mo == nil:
		v.Problem = "the report has no meter_order"
	case mo.Verdict != modbus.OrderDiffers:
		v.Problem = fmt.Sprintf("meter_order is %q, want %q", mo.Verdict, modbus.OrderDiffers)
	case mo.Deviation != swapped:
		v.Problem = fmt.Sprintf("the read found %s; the meter sends %s", mo.Deviation, swapped)
	default:
		v = v.with("found", mo.Deviation.String(), "ruled_out", mo.RuledOut)
	}
	return v
}

// judgeProfileRead wants a read that ran (exit 0), checks with their
// status, and every quantity of the profile read, each within the range
// the profile gives it.
func judgeProfileRead(c *Command, profile string, checks map[string]report.Status) Verdict {
	d, v := wantReport(c, 0, checks)
	if v.failed() {
		return v
	}
	var rd readDetails
	if err := d.DetailsInto(&rd); err != nil {
		return problem("modbus read: %v", err)
	}
	p, err := modbus.ProfileByName(profile)
	if err != nil {
		return problem("profile %s: %v", profile, err)
	}
	if rd.Profile != p.Name {
		return problem("modbus read used the profile %q, want %q", rd.Profile, p.Name)
	}
	byID := map[string]modbus.Value{}
	for _, x := range rd.Values {
		byID[x.ID] = x
	}
	shown := map[string]string{}
	for _, q := range p.Quantities {
		x, found := byID[q.ID]
		if !found || x.Outcome != modbus.OutcomeOK {
			return problem("%s (%s) was not read", q.Name, q.ID)
		}
		n, err := strconv.ParseFloat(x.Value, 64)
		if err != nil {
			return problem("%s reads %q, not a number", q.Name, x.Value)
		}
		if len(q.Range) == 2 && (n < q.Range[0] || n > q.Range[1]) {
			return problem("%s reads %s %s, outside %g to %g: decoded in the wrong order?", q.Name, x.Value, x.Unit, q.Range[0], q.Range[1])
		}
		switch q.ID {
		case "energy_import", "voltage_l1", "frequency", "power":
			shown[q.Name] = x.Value + " " + x.Unit
		}
	}
	return Verdict{}.with("values", len(rd.Values), "read", shown)
}

// meterWithProfile is the bus's first meter read with profile, or nil.
func meterWithProfile(b *lab.BusEndpoints, profile string) *lab.BusMeter {
	for i, m := range b.Meters {
		if m.Profile == profile && !twin(b, m.UnitID) {
			return &b.Meters[i]
		}
	}
	return nil
}

// twin reports whether two meters share unit (neither can be read alone).
func twin(b *lab.BusEndpoints, unit int) bool {
	for _, id := range b.Collided {
		if id == unit {
			return true
		}
	}
	return false
}

// swappedMeter is the bus's meter that sends its words swapped against
// its profile, and how; the endpoints say it in words only, the
// scenario's configuration says it as a flag.
func swappedMeter(b *lab.BusEndpoints) (*lab.BusMeter, modbus.Deviation) {
	cfg, err := bus.Scenario(b.Scenario)
	if err != nil {
		return nil, modbus.Deviation{}
	}
	for _, mc := range cfg.Meters {
		if !mc.SwapWords {
			continue
		}
		for i, m := range b.Meters {
			if m.UnitID == int(mc.Unit) && m.Serial == mc.Serial && m.Profile != "" && !twin(b, m.UnitID) {
				return &b.Meters[i], modbus.Deviation{Words: true}
			}
		}
	}
	return nil, modbus.Deviation{}
}
