package modbus

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/ctxtime"
)

// WatchItem is one value watched on every unit.
type WatchItem struct {
	Reg   Register
	Count int // registers (string, bits) or 1
	// Values is how many consecutive values of a numeric Type one request
	// reads (default 1), as read's --count: ten u16 from 40001 are one
	// FC 03 of ten registers, not ten requests.
	Values int
	Type   Type
	Order  Order // auto: decided from the reads as they come
	Scale  float64
	// ID, Name and Unit name a profile's quantity.
	ID, Name, Unit string
	expect         Expect
}

// WatchItemOf is the watch item of a profile quantity.
func WatchItemOf(q Quantity) WatchItem {
	return WatchItem{Reg: q.Reg(), Count: q.Count, Type: q.Type, Order: OrderAuto, Scale: q.Scale, ID: q.ID, Name: q.Name, Unit: q.Unit, expect: q.Expect()}
}

func (it WatchItem) registers() int {
	if w := it.Type.Registers(); w > 0 {
		return w * it.values()
	}
	return max(1, it.Count)
}

// values is how many values one answer holds.
func (it WatchItem) values() int {
	if it.Type.Registers() == 0 {
		return 1 // string, bits: one value of Count registers
	}
	return max(1, it.Values)
}

// value is the item of the v-th value of an answer: its own register.
func (it WatchItem) value(v int) WatchItem {
	if v == 0 {
		return it
	}
	r, _ := it.Reg.Add(v * it.Type.Registers())
	it.Reg = r
	return it
}

// WatchOptions configure Watch.
type WatchOptions struct {
	Client ClientOptions
	Units  []byte
	Items  []WatchItem
	// Every is the time from one round's start to the next (0: back to
	// back).
	Every time.Duration
	// Duration and Polls bound the watch (the first reached ends it; both
	// zero: until ctx ends). Polls counts rounds.
	Duration time.Duration
	Polls    int
	// MaxErrorRate is the fraction of a device's polls that may fail
	// before its check fails (0.01 for 1 %).
	MaxErrorRate float64
	// OnChange, when set, hears each value the first time and whenever it
	// changes.
	OnChange func(Change)
}

// Change is a value seen for the first time or changed.
type Change struct {
	Time      string `json:"time"`
	UnitID    int    `json:"unit_id"`
	Reference string `json:"reference"`
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Value     string `json:"value"`
	// Previous is nil on the first reading.
	Previous *string `json:"previous"`
	Unit     string  `json:"unit,omitempty"`
	RawHex   string  `json:"raw_hex"`
}

// UnitStats are one device's counts over the watch.
type UnitStats struct {
	UnitID     int        `json:"unit_id"`
	Polls      int        `json:"polls"`
	Answers    int        `json:"answers"`
	Timeouts   int        `json:"timeouts"`
	CRCErrors  int        `json:"crc_errors"`
	Exceptions int        `json:"exceptions"`
	ErrorRate  float64    `json:"error_rate_percent"`
	LatencyMS  *Quantiles `json:"latency_ms"`
	latencies  []time.Duration
}

// Quantiles are latency percentiles in ms.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// WatchResult is what a watch counted.
type WatchResult struct {
	Target   string      `json:"target"`
	Settings Settings    `json:"settings"`
	Rounds   int         `json:"rounds"`
	Units    []UnitStats `json:"units"`
	// Stopped says why the watch ended early ("foreign_master").
	Stopped string `json:"stopped,omitempty"`
	Bus     Heard  `json:"bus"`
	max     float64
	listen  *listening
}

// watchState is the last value and the reads of one item on one unit.
type watchState struct {
	last  *string
	reads [][]uint16
	order Order
}

// Watch polls every item of every unit until Duration, Polls or ctx ends
// it, telling OnChange each new value and counting, per device, answers,
// timeouts, CRC errors, exceptions and latency. It returns an error only
// when it could not run or the bus failed.
func Watch(ctx context.Context, o WatchOptions) (*WatchResult, error) {
	res, err := watch(ctx, o)
	return res, kinded(err)
}

func watch(ctx context.Context, o WatchOptions) (*WatchResult, error) {
	o.Client.defaults()
	res := &WatchResult{Target: o.Client.Target.String(), max: o.MaxErrorRate}
	c, done, err := dialAndListen(ctx, o.Client, true, &res.Settings, &res.listen, &res.Bus)
	if err != nil {
		return res, err
	}
	defer done()
	if c.Stopped() {
		res.Stopped = "foreign_master"
		return res, nil
	}
	return res, watchLoop(ctx, c, o, res, o.Client.Now)
}

// watchLoop runs the rounds over p: the poller scan's confirm loop polls
// through (unitPoller; a *Client here), so watch keeps no transport logic
// of its own and counts what each poll's record says, as confirm does.
func watchLoop(ctx context.Context, p unitPoller, o WatchOptions, res *WatchResult, now func() time.Time) error {
	stats := map[byte]*UnitStats{}
	for _, u := range o.Units {
		stats[u] = &UnitStats{UnitID: int(u)}
	}
	defer func() { res.Units = finishStats(o.Units, stats) }()
	state := map[[3]int]*watchState{}
	start := now()
	for round := 0; o.Polls == 0 || round < o.Polls; round++ {
		if round > 0 && o.Duration > 0 && now().Sub(start) >= o.Duration {
			break
		}
		next := now().Add(o.Every)
		for _, u := range o.Units {
			for i, it := range o.Items {
				if ctx.Err() != nil {
					return nil // Ctrl-C: the summary so far
				}
				rec, answer, err := p.pollUnit(u, ReadRequest{Function: it.Reg.Table.ReadFunction(), Address: it.Reg.Address, Quantity: uint16(it.registers())}.PDU(), o.Client.Timeout)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				if p.halted() {
					res.Stopped = "foreign_master"
					return nil
				}
				stats[u].count(rec)
				regs := answerRegisters(answer, it.registers())
				if regs == nil {
					continue
				}
				w := len(regs) / it.values()
				for v := range it.values() {
					key := [3]int{int(u), i, v}
					st := state[key]
					if st == nil {
						st = &watchState{order: it.Order}
						state[key] = st
					}
					st.observe(u, it.value(v), regs[v*w:(v+1)*w], rec.sentAt, o.OnChange)
				}
			}
		}
		res.Rounds++
		if o.Polls > 0 && round+1 >= o.Polls || o.Duration > 0 && now().Sub(start) >= o.Duration {
			break
		}
		if err := ctxtime.SleepUntil(ctx, next, now); err != nil {
			return nil
		}
	}
	return nil
}

// answerRegisters are the n registers of an answer (nil: none, an
// exception, or not n).
func answerRegisters(answer *PDU, n int) []uint16 {
	if answer == nil || answer.IsException() {
		return nil
	}
	regs, err := ParseRegisters(*answer)
	if err != nil || len(regs) != n {
		return nil
	}
	return regs
}

// observe decodes one answer (deciding an auto order from the reads so
// far) and reports it when it differs from the last one.
func (st *watchState) observe(u byte, it WatchItem, regs []uint16, at time.Time, onChange func(Change)) {
	order := st.order
	if it.Type.Wide() && it.Type.Numeric() && (order == "" || order == OrderAuto) {
		if len(st.reads) < 20 {
			st.reads = append(st.reads, regs)
		}
		switch ch := ChooseOrder(st.reads, it.Type, it.Scale, it.expect); ch.Verdict {
		case OrderFound, OrderDocumented, OrderDiffers:
			st.order, order = ch.Order, ch.Order
		default:
			order = "" // undecided: show the raw words until it is
		}
	}
	val, unit := "raw "+HexWords(regs), ""
	if order != "" || !it.Type.Wide() {
		if d, err := Decode(regs, it.Type, order, it.Scale); err == nil {
			val, unit = d.Text, it.Unit
		}
	}
	if st.last != nil && *st.last == val {
		return
	}
	prev := st.last
	st.last = &val
	if onChange != nil {
		onChange(Change{Time: report.FormatTime(at), UnitID: int(u), Reference: it.Reg.Reference(), ID: it.ID, Name: it.Name,
			Value: val, Previous: prev, Unit: unit, RawHex: HexWords(regs)})
	}
}

func (s *UnitStats) count(rec pollRec) {
	s.Polls++
	switch {
	case rec.ok:
		s.Answers++
		if rec.exception != 0 {
			s.Exceptions++
		}
		s.latencies = append(s.latencies, rec.latency)
	case rec.timeout:
		s.Timeouts++
	case rec.corrupt > 0:
		s.CRCErrors++
	}
}

func finishStats(units []byte, stats map[byte]*UnitStats) []UnitStats {
	out := []UnitStats{}
	for _, u := range units {
		s := stats[u]
		if s.Polls > 0 {
			s.ErrorRate = math.Round(10000*float64(s.Timeouts+s.CRCErrors+s.Exceptions)/float64(s.Polls)) / 100
		}
		if len(s.latencies) > 0 {
			l := slices.Clone(s.latencies)
			slices.Sort(l)
			at := func(q float64) float64 { return ms(l[min(len(l)-1, int(q*float64(len(l))))]) }
			s.LatencyMS = &Quantiles{P50: at(0.5), P99: at(0.99), Max: ms(l[len(l)-1])}
		}
		out = append(out, *s)
	}
	return out
}

// Report builds the watch's summary: bus.open, bus.listen and a check
// watch.unit<N> per device, failed over its error rate.
func (r *WatchResult) Report(rep *report.Report, t Target, err error) {
	defer rep.SetDetail("watch", r)
	if r.listen == nil {
		rep.Add(openCheck(t, r.Settings, err))
		rep.Skip(CheckListen, "listen before talking", "the bus did not open")
		return
	}
	rep.Add(openCheck(t, r.Settings, nil))
	rep.Add(r.listen.check(r.Bus))
	for _, s := range r.Units {
		ch := report.Check{ID: WatchCheckID(s.UnitID), Title: fmt.Sprintf("unit %d over %d polls", s.UnitID, s.Polls), Status: report.OK,
			Evidence: map[string]any{"polls": s.Polls, "answers": s.Answers, "timeouts": s.Timeouts, "crc_errors": s.CRCErrors,
				"exceptions": s.Exceptions, "error_rate_percent": s.ErrorRate}}
		if s.LatencyMS != nil {
			ch.Evidence["latency_p50_ms"], ch.Evidence["latency_p99_ms"] = s.LatencyMS.P50, s.LatencyMS.P99
		}
		switch {
		case s.Polls == 0:
			ch.Status, ch.SkippedReason = report.Skipped, "never polled"
		case s.ErrorRate > 100*r.max:
			ch.Status = report.Failed
			ch.Hint = watchHint(s)
		}
		rep.Add(ch)
	}
	if err != nil {
		h, _ := OpenFailure(err)
		rep.Add(report.Check{ID: CheckRead, Title: "poll", Status: report.Failed, Hint: h, Evidence: map[string]any{"error": err.Error()}})
	}
}

// watchHint says what a device's errors point at.
func watchHint(s UnitStats) string {
	switch {
	case s.Answers == 0 && s.Timeouts == s.Polls:
		return fmt.Sprintf("unit %d never answered: check its unit id, power and wiring, or the line settings", s.UnitID)
	case s.Exceptions > 0 && s.Exceptions == s.Answers:
		return fmt.Sprintf("unit %d answers every poll with an exception: check the registers (ectool modbus read) and the table", s.UnitID)
	case s.CRCErrors > 0:
		return fmt.Sprintf("unit %d's answers fail their CRC now and then, which one scan hardly sees: a missing or doubled termination, a stub or star wiring, a bad ground, or a cable beside power lines; check the line where this meter hangs", s.UnitID)
	}
	return fmt.Sprintf("unit %d misses polls now and then: a meter slow to answer (raise --timeout), or the line dropping its answers", s.UnitID)
}
