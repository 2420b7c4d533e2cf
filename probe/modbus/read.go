package modbus

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// Check IDs of `modbus read`, `write` and `watch` (besides bus.open and
// bus.listen, which mean what they mean for scan). Listed in
// docs/checks.md.
const (
	CheckIdentify  = "modbus.identify"
	CheckRead      = "modbus.read"
	CheckOrder     = "modbus.order"
	CheckWrite     = "modbus.write"
	CheckReadBack  = "modbus.readback"
	checkWatchStem = "watch.unit"
)

// WatchCheckID is the check ID of one device under watch: watch.unit17.
func WatchCheckID(unit int) string { return fmt.Sprintf("%s%d", checkWatchStem, unit) }

// ReadOptions configure Read.
type ReadOptions struct {
	Client ClientOptions
	Unit   byte
	// Reg is the first register; nil reads every quantity of Profile
	// (asked of the meter by FC 0x2B when Profile is nil too).
	Reg *Register
	// Count is how many values (numeric types), registers (string, bits)
	// or coils to read (default 1).
	Count int
	Type  Type  // default u16 (bits for coils and discrete inputs)
	Order Order // default auto for 32- and 64-bit types
	Scale float64
	// Profile is --meter's profile.
	Profile *Profile
}

// ReadResult is what Read found.
type ReadResult struct {
	Target   string   `json:"target"`
	UnitID   int      `json:"unit_id"`
	Settings Settings `json:"settings"`
	// Profile is the meter profile used, and how it was chosen: "--meter"
	// or "device identification".
	Profile     string `json:"profile,omitempty"`
	ProfileFrom string `json:"profile_from,omitempty"`
	// Identity is the meter's FC 0x2B answer, when asked.
	Identity *Identity `json:"identity,omitempty"`
	Values   []Value   `json:"values"`
	// MeterOrder is how the meter's byte order compares with its profile.
	MeterOrder *MeterOrder `json:"meter_order,omitempty"`
	Bus        Heard       `json:"bus"`
	// Failure says why values are missing: the unit's exception, timeout,
	// CRC error, or no profile to read by.
	Failure *Failure `json:"failure,omitempty"`
	listen  *listening
	// identified: the profile was asked of the meter (FC 0x2B).
	identified bool
}

// Failure is a request that did not give a value, in words.
type Failure struct {
	Outcome   Outcome `json:"outcome"`
	Exception string  `json:"exception,omitempty"`
	Message   string  `json:"message"`
	Hint      string  `json:"hint"`
}

// Value is one value read, said in both register forms beside its raw
// words.
type Value struct {
	Reference string  `json:"reference"`
	Register  string  `json:"register"`
	ID        string  `json:"id,omitempty"`
	Name      string  `json:"name,omitempty"`
	Type      Type    `json:"type"`
	Order     Order   `json:"order,omitempty"`
	Scale     float64 `json:"scale"`
	RawHex    string  `json:"raw_hex"`
	// Value is the decoded value; empty when the order cannot be told.
	Value string `json:"value"`
	Unit  string `json:"unit,omitempty"`
	// OrderAuto is --order auto's reasoning, for 32- and 64-bit values.
	OrderAuto *OrderChoice `json:"order_auto,omitempty"`
	Outcome   Outcome      `json:"outcome"`
}

func (o *ReadOptions) defaults() {
	if o.Count == 0 {
		o.Count = 1
	}
	if o.Scale == 0 {
		o.Scale = 1
	}
	if o.Type == "" {
		o.Type = U16
		if o.Reg != nil && o.Reg.Table.Bits() {
			o.Type = Bits
		}
	}
}

// Read reads registers (or a meter's profile) from one unit. It returns an
// error only when it could not run (CannotRun) or the target was
// unreachable; what the unit did is in the result.
func Read(ctx context.Context, o ReadOptions) (*ReadResult, error) {
	res, err := read(ctx, o)
	return res, kinded(err)
}

func read(ctx context.Context, o ReadOptions) (*ReadResult, error) {
	o.defaults()
	res := &ReadResult{Target: o.Client.Target.String(), UnitID: int(o.Unit), Values: []Value{}}
	c, done, err := dialAndListen(ctx, o.Client, true, &res.Settings, &res.listen, &res.Bus)
	if err != nil {
		return res, err
	}
	defer done()
	if c.Stopped() {
		return res, nil
	}
	p := o.Profile
	if p != nil {
		res.Profile, res.ProfileFrom = p.Name, "--meter"
	}
	if o.Reg == nil && p == nil {
		if p, err = identify(ctx, c, o.Unit, res); err != nil || p == nil {
			return res, err
		}
	}
	if o.Reg == nil {
		return res, readProfile(ctx, c, o.Unit, p, res)
	}
	return res, readPlain(ctx, c, o, res)
}

// identify asks the meter who it is (FC 0x2B/0x0E) and finds its profile.
func identify(ctx context.Context, c *Client, unit byte, res *ReadResult) (*Profile, error) {
	res.identified = true
	x, err := c.Do(ctx, unit, ReadDeviceIDRequest(DeviceIDBasic, 0))
	if err != nil || c.Stopped() {
		return nil, err
	}
	if x.Outcome == OutcomeOK {
		if d, perr := ParseDeviceID(*x.Answer); perr == nil {
			res.Identity = &Identity{Vendor: d.Object(ObjVendorName), Product: d.Object(ObjProductCode), Revision: d.Object(ObjMajorMinorRevision)}
			if p := ProfileFor(res.Identity.Vendor, res.Identity.Product); p != nil {
				res.Profile, res.ProfileFrom = p.Name, "device identification"
				return p, nil
			}
		}
	}
	who := "did not identify itself (FC 0x2B)"
	if res.Identity != nil {
		who = fmt.Sprintf("identifies as %s %s, which no profile names", res.Identity.Vendor, res.Identity.Product)
	}
	res.Failure = &Failure{Outcome: x.Outcome, Message: fmt.Sprintf("unit %d %s", unit, who),
		Hint: "give the register (--reg 30001) or the meter (--meter NAME; ectool modbus profiles lists them)"}
	return nil, nil
}

// readPlain reads --reg: Count values of Type from one table.
func readPlain(ctx context.Context, c *Client, o ReadOptions, res *ReadResult) error {
	reg := *o.Reg
	n := o.Count
	if w := o.Type.Registers(); w > 0 && !reg.Table.Bits() {
		n = o.Count * w
	}
	x, err := readOnce(ctx, c, o.Unit, ReadRequest{Function: reg.Table.ReadFunction(), Address: reg.Address, Quantity: uint16(n)}.PDU())
	if err != nil || c.Stopped() {
		return err
	}
	if x.Outcome != OutcomeOK {
		res.Failure = failureOf(x, reg, c.o.Timeout)
		return nil
	}
	if reg.Table.Bits() {
		bits, perr := ParseBits(*x.Answer, n)
		if perr != nil {
			res.Failure = &Failure{Outcome: OutcomeCRC, Message: perr.Error(), Hint: "the answer does not fit the request: read again; if it persists, another device may share the address (ectool scan)"}
			return nil
		}
		for i, b := range bits {
			r, _ := reg.Add(i)
			v := map[bool]string{true: "1", false: "0"}[b]
			res.Values = append(res.Values, Value{Reference: r.Reference(), Register: r.String(), Type: Bits, Scale: 1, RawHex: v, Value: v, Outcome: OutcomeOK})
		}
		return nil
	}
	regs, perr := ParseRegisters(*x.Answer)
	if perr != nil || len(regs) != n {
		res.Failure = &Failure{Outcome: OutcomeCRC, Message: fmt.Sprintf("the answer holds %d registers, not %d", len(regs), n), Hint: "read again; if it persists, another device may share the address (ectool scan)"}
		return nil
	}
	q := profileQuantityAt(o.Profile, reg)
	w := o.Type.Registers()
	if w == 0 {
		w = n // string and bits: one value of Count registers
	}
	for i := 0; i+w <= len(regs); i += w {
		r, _ := reg.Add(i)
		res.Values = append(res.Values, decodeValue(r, regs[i:i+w], o.Type, o.Order, o.Scale, q))
	}
	return nil
}

// readOnce asks again, once, a read that got no clean answer: a noise
// pulse or another master's poll (with --talk-over-master) costs one
// request, not the reading. watch never retries: it counts.
func readOnce(ctx context.Context, c *Client, unit byte, req PDU) (Exchange, error) {
	x, err := c.Do(ctx, unit, req)
	if err != nil || (x.Outcome != OutcomeTimeout && x.Outcome != OutcomeCRC) || c.Stopped() {
		return x, err
	}
	return c.Do(ctx, unit, req)
}

// profileQuantityAt is the profile's quantity that starts at reg (nil
// when none), whose range and documented order guide --order auto.
func profileQuantityAt(p *Profile, reg Register) *Quantity {
	if p == nil {
		return nil
	}
	return p.QuantityAt(reg)
}

// decodeValue decodes one value, choosing the order when it is auto.
func decodeValue(r Register, regs []uint16, t Type, o Order, scale float64, q *Quantity) Value {
	v := Value{Reference: r.Reference(), Register: r.String(), Type: t, Scale: scale, RawHex: HexWords(regs), Outcome: OutcomeOK}
	if q != nil {
		v.ID, v.Name, v.Unit = q.ID, q.Name, q.Unit
	}
	if o == "" || o == OrderAuto {
		if !t.Wide() || !t.Numeric() {
			o = ABCD
		} else {
			e := Expect{}
			if q != nil {
				e = q.Expect()
			}
			ch := ChooseOrder([][]uint16{regs}, t, scale, e)
			v.OrderAuto = &ch
			o = ch.Order
			if ch.Verdict == OrderAgree {
				o = ch.Candidates[0].Order
			}
			if o == "" {
				return v // cannot tell, none: every candidate is in OrderAuto
			}
		}
	}
	d, err := Decode(regs, t, o, scale)
	if err == nil {
		v.Order, v.Value = o, d.Text
	}
	return v
}

// readProfile reads every quantity of p, one request each, and decides
// the meter's byte order from all of them.
func readProfile(ctx context.Context, c *Client, unit byte, p *Profile, res *ReadResult) error {
	reads := map[string][][]uint16{}
	for _, q := range p.Quantities {
		r := q.Reg()
		x, err := readOnce(ctx, c, unit, ReadRequest{Function: q.Function, Address: r.Address, Quantity: uint16(q.Count)}.PDU())
		if err != nil {
			return err
		}
		if c.Stopped() {
			return nil
		}
		if x.Outcome != OutcomeOK {
			res.Values = append(res.Values, Value{Reference: r.Reference(), Register: r.String(), ID: q.ID, Name: q.Name, Type: q.Type, Scale: q.Scale, Unit: q.Unit, Outcome: x.Outcome})
			if res.Failure == nil {
				res.Failure = failureOf(x, r, c.o.Timeout)
			}
			continue
		}
		regs, perr := ParseRegisters(*x.Answer)
		if perr != nil || len(regs) != q.Count {
			res.Values = append(res.Values, Value{Reference: r.Reference(), Register: r.String(), ID: q.ID, Name: q.Name, Type: q.Type, Outcome: OutcomeCRC})
			continue
		}
		reads[q.ID] = [][]uint16{regs}
	}
	mo := ChooseMeterOrder(p, reads)
	res.MeterOrder = &mo
	for _, q := range p.Quantities {
		regs := reads[q.ID]
		if len(regs) == 0 {
			continue
		}
		order := mo.Orders[q.ID] // "" when the meter's order is unknown: auto per value
		res.Values = append(res.Values, decodeValue(q.Reg(), regs[0], q.Type, order, q.Scale, &q))
	}
	return nil
}

// failureOf words a request that gave no value.
func failureOf(x Exchange, reg Register, timeout time.Duration) *Failure {
	f := &Failure{Outcome: x.Outcome}
	switch x.Outcome {
	case OutcomeTimeout:
		f.Message = fmt.Sprintf("no answer from unit %d within %s", x.Unit, timeout)
		f.Hint = "check the unit id (ectool scan finds it), the line settings (--baud, --parity), the A/B wiring, or give the meter more time (--timeout)"
	case OutcomeCRC:
		f.Message = fmt.Sprintf("the answer from unit %d failed its CRC", x.Unit)
		f.Hint = "noise, a missing termination, or two devices at that address: read again, and run ectool scan on the bus"
	case OutcomeException:
		code := x.Answer.Exception()
		f.Exception = fmt.Sprintf("0x%02X %s", byte(code), code)
		f.Message, f.Hint = exceptionWords(x.Unit, x.Request.Function, code, reg)
	}
	return f
}

// exceptionWords says what an exception answer means for this request and
// what to try.
func exceptionWords(unit, fc byte, code ExceptionCode, reg Register) (msg, hint string) {
	msg = fmt.Sprintf("unit %d answered exception 0x%02X (%s) to FC %02d at %s", unit, byte(code), code, fc, reg.Reference())
	switch code {
	case ExIllegalDataAddress:
		next, _ := reg.Add(1)
		msg = fmt.Sprintf("the meter has no %s %s (%s)", reg.Table.Noun(), reg.Reference(), reg)
		hint = fmt.Sprintf("its manual may count from 0 where ectool's references count from 1: try %s (wire address %d), check the table (--table input reads FC 04), or read fewer registers", next.Reference(), next.Address)
	case ExIllegalFunction:
		hint = fmt.Sprintf("the meter does not take FC %02d here", fc)
		switch fc {
		case FuncReadHoldingRegisters:
			hint += ": its values may be input registers (--table input, 3xxxx)"
		case FuncReadInputRegisters:
			hint += ": its values may be holding registers (--table holding, 4xxxx)"
		case FuncWriteSingleRegister:
			hint += ": some meters (Eastron) take only multi-register writes: try --fc 16"
		}
	case ExIllegalDataValue:
		hint = "the meter refused the request's value or quantity: read fewer registers at once, or write a value within its range (some settings need a password register first)"
	case ExServerDeviceBusy, ExAcknowledge:
		hint = "the meter is busy: try again in a moment"
	case ExGatewayPathUnavailable:
		hint = "the gateway's serial side is down or not configured for this unit id: check the gateway's RS-485 port and its routing table"
	case ExGatewayTargetNoResponse:
		hint = "the gateway got no answer from the device: check the unit id, the device's power and its RS-485 wiring"
	default:
		hint = "see the meter's manual for this exception"
	}
	return msg, hint
}

// details puts the result in the report's details: values[] (each with
// raw_hex), unit_id, profile, identity, meter_order, bus, settings.
func (r *ReadResult) details(rep *report.Report) {
	rep.SetDetail("unit_id", r.UnitID)
	rep.SetDetail("values", r.Values)
	rep.SetDetail("settings", r.Settings)
	rep.SetDetail("bus", r.Bus)
	if r.Profile != "" {
		rep.SetDetail("profile", r.Profile)
		rep.SetDetail("profile_from", r.ProfileFrom)
	}
	if r.Identity != nil {
		rep.SetDetail("identity", r.Identity)
	}
	if r.MeterOrder != nil {
		rep.SetDetail("meter_order", r.MeterOrder)
	}
	if r.Failure != nil {
		rep.SetDetail("failure", r.Failure)
	}
}

// Report builds the report of a read. err is Read's error.
func (r *ReadResult) Report(rep *report.Report, t Target, err error) {
	open := openCheck(t, r.Settings, nil)
	if err != nil && r.listen == nil {
		open = openCheck(t, r.Settings, err)
		rep.Add(open)
		rep.Skip(CheckListen, "listen before talking", "the bus did not open")
		rep.Skip(CheckRead, "read", "the bus did not open")
		r.details(rep)
		return
	}
	rep.Add(open)
	if r.listen != nil {
		l := r.listen.check(r.Bus)
		rep.Add(l)
		if l.Status == report.Failed {
			rep.Skip(CheckRead, "read", "another master polls the bus: ectool stopped talking")
			r.details(rep)
			return
		}
	}
	if r.identified {
		id := report.Check{ID: CheckIdentify, Title: "find the meter's profile", Status: report.OK, Evidence: map[string]any{"profile": r.Profile}}
		if r.Identity != nil {
			id.Evidence["vendor"], id.Evidence["product"] = r.Identity.Vendor, r.Identity.Product
		}
		if r.Profile == "" {
			id.Status, id.Hint = report.Failed, r.Failure.Hint
			id.Evidence["error"] = r.Failure.Message
			rep.Add(id)
			rep.Skip(CheckRead, "read", "no profile to read by")
			r.details(rep)
			return
		}
		rep.Add(id)
	}
	rep.Add(r.readCheck(err))
	if oc, ok := r.orderCheck(); ok {
		rep.Add(oc)
	}
	r.details(rep)
}

func (r *ReadResult) readCheck(err error) report.Check {
	ch := report.Check{ID: CheckRead, Title: fmt.Sprintf("read unit %d", r.UnitID), Status: report.OK,
		Evidence: map[string]any{"values": len(r.Values)}}
	if r.Profile != "" {
		ch.Title = fmt.Sprintf("read unit %d with profile %s", r.UnitID, r.Profile)
	}
	switch {
	case err != nil:
		ch.Status, ch.Hint = report.Failed, func() string { h, _ := OpenFailure(err); return h }()
		ch.Evidence["error"] = err.Error()
	case r.Failure != nil:
		ch.Status, ch.Hint = report.Failed, r.Failure.Hint
		ch.Evidence["error"] = r.Failure.Message
		ch.Evidence["outcome"] = r.Failure.Outcome
	}
	return ch
}

// orderCheck is modbus.order: how the byte order was chosen, a warning
// when it could not be told or the meter contradicts its manual.
func (r *ReadResult) orderCheck() (report.Check, bool) {
	ch := report.Check{ID: CheckOrder, Title: "byte order", Status: report.OK, Evidence: map[string]any{}}
	if mo := r.MeterOrder; mo != nil {
		ch.Evidence["verdict"], ch.Evidence["deviation"], ch.Evidence["note"] = mo.Verdict, mo.Deviation.String(), mo.Note
		if mo.Verdict != OrderDocumented {
			ch.Status = report.Warning
			ch.Hint = mo.Note
			if mo.Verdict == OrderDiffers {
				ch.Hint += ": a gateway reading it by the manual reports wrong values; configure the gateway with the order found"
			}
		}
		return ch, true
	}
	var unsure []string
	auto := false
	for _, v := range r.Values {
		if v.OrderAuto == nil {
			continue
		}
		auto = true
		if v.OrderAuto.Warning() {
			unsure = append(unsure, v.Reference+": "+v.OrderAuto.Note)
		}
	}
	if !auto {
		return ch, false
	}
	if len(unsure) > 0 {
		ch.Status = report.Warning
		ch.Evidence["cannot_tell"] = unsure
		ch.Hint = "several byte orders give plausible values: name the order (--order ABCD|CDAB|BADC|DCBA) or the meter (--meter), or read again when the value has changed"
	}
	return ch, true
}

// String is the value with its unit, or the candidates when the order
// cannot be told.
func (v Value) String() string {
	if v.Value == "" && v.OrderAuto != nil {
		var parts []string
		for _, c := range v.OrderAuto.Candidates {
			if c.Plausible {
				parts = append(parts, string(c.Order)+" "+c.Value)
			}
		}
		if len(parts) == 0 {
			return "no plausible order"
		}
		return "cannot tell: " + strings.Join(parts, " | ")
	}
	if v.Unit != "" {
		return v.Value + " " + v.Unit
	}
	return v.Value
}
