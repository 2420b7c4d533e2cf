package modbus

import (
	"context"
	"fmt"

	"github.com/ecdata/ectool/diag/report"
)

// WriteOptions configure Write.
type WriteOptions struct {
	// Client's TalkOverMaster is ignored: a write never talks over
	// another master.
	Client ClientOptions
	Unit   byte
	Reg    Register
	// Registers (holding) or Coils are what to write.
	Registers []uint16
	Coils     []bool
	// Function is 6 or 16 for registers, 5 or 15 for coils; 0 chooses the
	// single write for one value, the multiple write for more.
	Function byte
	// Broadcast allows unit 0: every device acts, none answers, nothing
	// can be read back.
	Broadcast bool
	// Value is the value as given (--value), for the report.
	Value string
}

// WriteResult is what Write did.
type WriteResult struct {
	Target    string   `json:"target"`
	UnitID    int      `json:"unit_id"`
	Settings  Settings `json:"settings"`
	Reference string   `json:"reference"`
	Register  string   `json:"register"`
	Function  int      `json:"function"`
	Value     string   `json:"value"`
	// SentHex is the registers (or coils, as 0/1) written.
	SentHex string `json:"sent_hex"`
	// BeforeHex and AfterHex are the register read before the write and
	// read back after it ("" when not read).
	BeforeHex string `json:"before_hex,omitempty"`
	AfterHex  string `json:"after_hex,omitempty"`
	// Written: the device acknowledged the write (or it was broadcast).
	Written bool `json:"written"`
	// ReadBack: the register read back holds what was written.
	ReadBack bool     `json:"read_back"`
	Bus      Heard    `json:"bus"`
	Failure  *Failure `json:"failure,omitempty"`
	listen   *listening
	stage    string // where it stopped: write, readback
}

// WriteFunction is the function code a write uses: FC 05/15 for coils, FC
// 06/16 for registers, the multiple write when fc asks for it or there is
// more than one value.
func WriteFunction(t Table, n int, fc byte) byte {
	if t == TableCoil {
		if fc == FuncWriteMultipleCoils || n > 1 {
			return FuncWriteMultipleCoils
		}
		return FuncWriteSingleCoil
	}
	if fc == FuncWriteMultipleRegisters || n > 1 {
		return FuncWriteMultipleRegisters
	}
	return FuncWriteSingleRegister
}

func (o WriteOptions) request() PDU {
	a := o.Reg.Address
	switch WriteFunction(o.Reg.Table, max(len(o.Registers), len(o.Coils)), o.Function) {
	case FuncWriteSingleCoil:
		return WriteSingleCoil{Address: a, On: o.Coils[0]}.PDU()
	case FuncWriteMultipleCoils:
		return WriteMultipleCoils{Address: a, Values: o.Coils}.PDU()
	case FuncWriteSingleRegister:
		return WriteSingleRegister{Address: a, Value: o.Registers[0]}.PDU()
	}
	return WriteMultipleRegisters{Address: a, Values: o.Registers}.PDU()
}

// readBack reads what the write covers.
func (o WriteOptions) readRequest() PDU {
	n := max(len(o.Registers), len(o.Coils))
	return ReadRequest{Function: o.Reg.Table.ReadFunction(), Address: o.Reg.Address, Quantity: uint16(n)}.PDU()
}

func (o WriteOptions) sentHex() string {
	if o.Reg.Table == TableCoil {
		return bitsHex(o.Coils)
	}
	return HexWords(o.Registers)
}

func bitsHex(bits []bool) string {
	b := make([]byte, len(bits))
	for i, v := range bits {
		b[i] = map[bool]byte{true: '1', false: '0'}[v]
	}
	return string(b)
}

// Write writes one register range (or coils) of one unit after listening
// to the line, and reads it back. It never writes when another master was
// heard, and never to unit 0 without Broadcast. The error is only for a
// bus that could not be used; what the unit did is in the result.
func Write(ctx context.Context, o WriteOptions) (*WriteResult, error) {
	res, err := write(ctx, o)
	return res, kinded(err)
}

func write(ctx context.Context, o WriteOptions) (*WriteResult, error) {
	o.Client.TalkOverMaster = false
	req := o.request()
	// Both forms, without the read function String adds: this is a write.
	where := fmt.Sprintf("%s = %s %d (0x%04X)", o.Reg.Reference(), o.Reg.Table.Noun(), o.Reg.Address, o.Reg.Address)
	res := &WriteResult{Target: o.Client.Target.String(), UnitID: int(o.Unit), Reference: o.Reg.Reference(), Register: where,
		Function: int(req.Function), Value: o.Value, SentHex: o.sentHex()}
	if o.Unit == 0 && !o.Broadcast {
		return res, fmt.Errorf("unit 0 is broadcast: every device on the bus would take the write; pass --broadcast to mean it")
	}
	c, done, err := dialAndListen(ctx, o.Client, false, &res.Settings, &res.listen, &res.Bus)
	if err != nil {
		return res, err
	}
	defer done()
	if !c.Heard.ForeignMaster && o.Unit != 0 {
		// The value before, and on an echoing adapter the echo seen, so
		// the FC 05/06 answer (the request's copy) is told from it.
		before, err := o.read(ctx, c)
		if err != nil {
			return res, err
		}
		res.BeforeHex = before
	}
	heard := c.Heard // what was heard when deciding to write
	res.listen.at = &heard
	if heard.ForeignMaster {
		return res, nil
	}
	res.stage = "write"
	x, err := c.Do(ctx, o.Unit, req)
	if err != nil {
		return res, err
	}
	if x.Outcome == OutcomeNotSent { // a master spoke after the read before
		heard = c.Heard
		return res, nil
	}
	if x.Outcome == OutcomeBroadcast {
		res.Written = true
		return res, nil
	}
	if x.Outcome != OutcomeOK {
		res.Failure = failureOf(x, o.Reg, c.o.Timeout)
		return res, nil
	}
	if cerr := CheckWriteAnswer(req, *x.Answer); cerr != nil {
		res.Failure = &Failure{Outcome: OutcomeCRC, Message: cerr.Error(), Hint: "the answer does not acknowledge this write: another device may share the address (ectool scan)"}
		return res, nil
	}
	res.Written, res.stage = true, "readback"
	after, err := o.read(ctx, c)
	if err != nil {
		return res, err
	}
	res.AfterHex = after
	res.ReadBack = after == res.SentHex
	return res, nil
}

// read reads the written range and returns it as SentHex shows it ("" when
// the unit gave no value).
func (o WriteOptions) read(ctx context.Context, c *Client) (string, error) {
	x, err := c.Do(ctx, o.Unit, o.readRequest())
	if err != nil || x.Outcome != OutcomeOK {
		return "", err
	}
	n := max(len(o.Registers), len(o.Coils))
	if o.Reg.Table == TableCoil {
		bits, perr := ParseBits(*x.Answer, n)
		if perr != nil {
			return "", nil
		}
		return bitsHex(bits), nil
	}
	regs, perr := ParseRegisters(*x.Answer)
	if perr != nil || len(regs) != n {
		return "", nil
	}
	return HexWords(regs), nil
}

// Report builds the report of a write. err is Write's error.
func (r *WriteResult) Report(rep *report.Report, t Target, err error) {
	defer rep.SetDetail("write", r)
	if r.listen == nil {
		rep.Add(openCheck(t, r.Settings, err))
		rep.Skip(CheckListen, "listen before talking", "the bus did not open")
		rep.Skip(CheckWrite, "write", "the bus did not open")
		rep.Skip(CheckReadBack, "read back", "nothing was written")
		return
	}
	rep.Add(openCheck(t, r.Settings, nil))
	l := r.listen.check(r.Bus)
	rep.Add(l)
	if l.Status == report.Failed {
		rep.Skip(CheckWrite, "write", "another master polls the bus: ectool never writes over it")
		rep.Skip(CheckReadBack, "read back", "nothing was written")
		return
	}
	w := report.Check{ID: CheckWrite, Title: fmt.Sprintf("write %s to unit %d with FC %02d", r.Reference, r.UnitID, r.Function), Status: report.OK,
		Evidence: map[string]any{"register": r.Register, "sent_hex": r.SentHex, "before_hex": r.BeforeHex}}
	switch {
	case err != nil && r.stage != "readback":
		w.Status, w.Hint = report.Failed, func() string { h, _ := OpenFailure(err); return h }()
		w.Evidence["error"] = err.Error()
	case r.Failure != nil:
		w.Status, w.Hint = report.Failed, r.Failure.Hint
		w.Evidence["error"] = r.Failure.Message
	}
	rep.Add(w)
	rb := report.Check{ID: CheckReadBack, Title: "read back " + r.Reference, Status: report.OK, Evidence: map[string]any{"sent_hex": r.SentHex, "after_hex": r.AfterHex}}
	switch {
	case w.Status == report.Failed:
		rep.Skip(CheckReadBack, "read back", "the write failed")
		return
	case r.UnitID == 0:
		rep.Skip(CheckReadBack, "read back", "a broadcast cannot be read back: no device answers unit 0; read each meter to check it took the value")
		return
	case err != nil:
		rb.Status, rb.Hint = report.Failed, "the bus failed after the write: read the register again to check it"
		rb.Evidence["error"] = err.Error()
	case r.AfterHex == "":
		rb.Status, rb.Hint = report.Failed, "the meter acknowledged the write but did not answer the read back: read it again"
	case !r.ReadBack:
		rb.Status = report.Failed
		rb.Hint = fmt.Sprintf("the meter acknowledged the write but %s reads %s, not %s: it may round or clamp the value, need a password or a reset to apply it, or the register is read-only", r.Reference, r.AfterHex, r.SentHex)
	}
	rep.Add(rb)
}
