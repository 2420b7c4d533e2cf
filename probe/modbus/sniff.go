package modbus

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/serialport"
)

// SniffOptions configure Sniff.
type SniffOptions struct {
	Target   Target
	Serial   SerialSettings
	Duration time.Duration
	// MaxCRCRate is the share of frames with a bad CRC above which the bus
	// (or one address) fails (default 0.05).
	MaxCRCRate float64
	Force      bool
	Now        func() time.Time
	Open       func() (Port, error)
	// Progress, when set, gets the frame count now and then.
	Progress func(frames int, elapsed time.Duration)
	// Expect are the addresses that should answer the master (bus.expected).
	Expect []byte
}

// SniffDevice is what the existing master's traffic shows about one address.
type SniffDevice struct {
	UnitID        int            `json:"unit_id"`
	Verdict       Verdict        `json:"verdict"`
	Requests      int            `json:"requests"`
	Responses     int            `json:"responses"`
	NoResponse    int            `json:"no_response"`
	Exceptions    map[string]int `json:"exceptions"`
	Functions     []string       `json:"functions"`
	LatencyMS     *Latency       `json:"latency_ms"`
	CRCErrors     int            `json:"crc_errors"`
	DoubleAnswers int            `json:"double_answers"`
	Evidence      []string       `json:"evidence"`
	Hint          string         `json:"hint,omitempty"`
	latencies     []time.Duration
	fcs           map[byte]bool
}

// SniffResult is a finished sniff.
type SniffResult struct {
	Target     string   `json:"target"`
	Settings   Settings `json:"settings"`
	ListenedMS float64  `json:"listened_ms"`
	Frames     int      `json:"frames"`
	Requests   int      `json:"requests"`
	Responses  int      `json:"responses"`
	Broadcasts int      `json:"broadcasts"`
	CRCErrors  int      `json:"crc_errors"`
	NoiseBytes int      `json:"noise_bytes"`
	Unpaired   int      `json:"unpaired_responses"`
	// Pending is a request heard just before the window closed, its answer
	// not yet due: neither answered nor unanswered.
	Pending int `json:"pending_requests"`
	// JoinBytes were received before the first whole frame: the sniffer
	// started listening in the middle of one.
	JoinBytes int            `json:"join_bytes"`
	Devices   []*SniffDevice `json:"devices"`
	maxRate   float64
}

// Sniff listens to a bus without ever transmitting and decodes the existing
// master's request/response pairs. Use an adapter of your own on the bus:
// the holder check refuses the gateway's port like any other.
func Sniff(ctx context.Context, o SniffOptions) (*SniffResult, error) {
	res, err := sniff(ctx, o)
	return res, kinded(err)
}

func sniff(ctx context.Context, o SniffOptions) (*SniffResult, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Serial.Baud == 0 {
		o.Serial = DefaultSerial
	}
	if o.Duration <= 0 {
		o.Duration = 30 * time.Second
	}
	if o.MaxCRCRate <= 0 {
		o.MaxCRCRate = 0.05
	}
	so := ScanOptions{Target: o.Target, Serial: o.Serial, Force: o.Force, Open: o.Open, Now: o.Now, IDRegister: -1}
	res := &SniffResult{Target: o.Target.String(), Devices: []*SniffDevice{}, maxRate: o.MaxCRCRate}
	tmp := &Result{}
	port, err := openRTU(&so, tmp)
	res.Settings = Settings{Transport: string(o.Target.Transport), Serial: &so.Serial, Forced: o.Force, LatencyTimer: tmp.Settings.LatencyTimer,
		ForcedPast: tmp.Settings.ForcedPast, Bridges: tmp.Settings.Bridges, Expect: idsString(o.Expect)}
	if err != nil {
		return res, targetError(o.Target, err)
	}
	bus := newRTUBus(port, o.Serial, o.Now)
	defer bus.close()

	sn := &sniffer{res: res, devs: map[byte]*SniffDevice{}}
	start := o.Now()
	end := start.Add(o.Duration)
	lastProgress := start
	for o.Now().Before(end) && ctx.Err() == nil {
		ev, ok, err := bus.next(minTime(end, o.Now().Add(100*time.Millisecond)))
		if err != nil {
			res.ListenedMS = ms(o.Now().Sub(start))
			return res, targetError(o.Target, fmt.Errorf("%w: %v", ErrBusIO, err))
		}
		if o.Progress != nil && o.Now().Sub(lastProgress) > 500*time.Millisecond {
			lastProgress = o.Now()
			o.Progress(res.Frames, lastProgress.Sub(start))
		}
		if ok {
			sn.handle(ev)
		}
	}
	res.ListenedMS = ms(o.Now().Sub(start))
	sn.finish(o.MaxCRCRate)
	return res, nil
}

// sniffer pairs the master's requests with their answers, address by
// address.
type sniffer struct {
	res  *SniffResult
	devs map[byte]*SniffDevice
	cur  *pendingRequest
}

// pendingRequest is the master's last request, waiting for its answer.
type pendingRequest struct {
	unit, fc byte
	end      time.Time
	answered int
	garbled  bool // a frame with a bad CRC came where the answer was due
}

func (sn *sniffer) dev(u byte) *SniffDevice {
	d := sn.devs[u]
	if d == nil {
		d = &SniffDevice{UnitID: int(u), Verdict: VerdictOK, Exceptions: map[string]int{}, fcs: map[byte]bool{}, Evidence: []string{}}
		sn.devs[u] = d
	}
	return d
}

// unanswered reports whether the pending request got neither an answer nor
// a garbled one.
func (sn *sniffer) unanswered() bool {
	c := sn.cur
	return c != nil && c.answered == 0 && !c.garbled && c.unit != 0
}

func (sn *sniffer) closeReq() {
	if sn.unanswered() {
		sn.dev(sn.cur.unit).NoResponse++
	}
	sn.cur = nil
}

// handle accounts for one event of the bus.
func (sn *sniffer) handle(ev Event) {
	res := sn.res
	if ev.Kind != EvFrame && res.Frames == 0 {
		// Opened in the middle of a frame: not the line's fault.
		res.JoinBytes += len(ev.Raw)
		return
	}
	switch ev.Kind {
	case EvNoise:
		res.NoiseBytes += len(ev.Raw)
		return
	case EvCRCError, EvTruncated:
		res.CRCErrors++
		if sn.cur != nil && sn.cur.answered == 0 {
			sn.dev(sn.cur.unit).CRCErrors++
			sn.cur.garbled = true
		}
		// A corrupt frame may have been the next request: pair nothing
		// more with the current one, or its answer would count as a
		// double answer.
		sn.closeReq()
		return
	}
	res.Frames++
	f := ev.Frame
	if f.Dir == Request {
		sn.closeReq()
		res.Requests++
		if f.Unit == 0 {
			res.Broadcasts++
			return
		}
		d := sn.dev(f.Unit)
		d.Requests++
		d.fcs[f.PDU.Function] = true
		sn.cur = &pendingRequest{unit: f.Unit, fc: f.PDU.Function, end: ev.End}
		return
	}
	res.Responses++
	cur := sn.cur
	if cur == nil || cur.unit != f.Unit || cur.fc != f.PDU.BaseFunction() {
		res.Unpaired++
		return
	}
	d := sn.dev(f.Unit)
	cur.answered++
	if cur.answered > 1 {
		d.DoubleAnswers++
		return
	}
	d.Responses++
	d.latencies = append(d.latencies, ev.End.Sub(cur.end))
	if f.PDU.IsException() {
		d.Exceptions[f.PDU.Exception().String()]++
	}
}

// finish judges every address heard. A request still waiting when the
// window closed was not left unanswered: its answer may have been on its
// way.
func (sn *sniffer) finish(maxRate float64) {
	var pending *SniffDevice
	if sn.unanswered() {
		pending = sn.dev(sn.cur.unit)
		sn.res.Pending++
	}
	ids := make([]int, 0, len(sn.devs))
	for u := range sn.devs {
		ids = append(ids, int(u))
	}
	sort.Ints(ids)
	for _, u := range ids {
		d := sn.devs[byte(u)]
		d.judge(maxRate)
		if d == pending {
			d.Evidence = append(d.Evidence, "the last request's answer was not due yet when listening ended")
		}
		sn.res.Devices = append(sn.res.Devices, d)
	}
}

// judge gives the verdict on one address from the master's traffic.
func (d *SniffDevice) judge(maxRate float64) {
	u := d.UnitID
	for fc := range d.fcs {
		d.Functions = append(d.Functions, fmt.Sprintf("0x%02X", fc))
	}
	sort.Strings(d.Functions)
	d.LatencyMS = latencySummary(d.latencies)
	switch {
	case d.DoubleAnswers > 0:
		d.Verdict = VerdictCollision
		d.Evidence = append(d.Evidence, fmt.Sprintf("%d request(s) answered twice", d.DoubleAnswers))
		d.Hint = fmt.Sprintf(collisionHint, d.UnitID)
	case d.CRCErrors > 0 && float64(d.CRCErrors) > maxRate*float64(max(1, d.Requests)):
		d.Verdict = VerdictSuspect
		d.Evidence = append(d.Evidence, fmt.Sprintf("%d CRC error(s) in %d exchanges", d.CRCErrors, d.Requests))
		d.Hint = fmt.Sprintf("replies at address %d are often corrupt: two devices answering at once, or wiring/termination near that device", u)
	case d.Responses == 0 && d.NoResponse > 0:
		d.Verdict = VerdictNoAnswer
		d.Evidence = append(d.Evidence, fmt.Sprintf("polled %d time(s) (FC %s), never answered", d.Requests, strings.Join(d.Functions, ",")))
		d.Hint = fmt.Sprintf("the master polls address %d and nothing answers: a dead or unpowered meter, a meter set to another address or other serial settings (check its display), a break in the wiring to it, or a meter removed while the master still polls it", u)
	case d.NoResponse > 0:
		d.Evidence = append(d.Evidence, fmt.Sprintf("%d of %d requests answered, %d unanswered", d.Responses, d.Requests, d.NoResponse))
		d.Hint = fmt.Sprintf("address %d left %d of %d requests unanswered: a meter too slow for the master's timeout, busy, or on a weak stretch of the line; sniff longer, or scan it with --confirm 20 when the master is stopped", u, d.NoResponse, d.Requests)
	default:
		d.Evidence = append(d.Evidence, fmt.Sprintf("%d of %d requests answered", d.Responses, d.Requests))
	}
}

// Report builds the report of a sniff.
func (r *SniffResult) Report(rep *report.Report, err error) {
	defer r.addExpected(rep, err) // last on every path below (expect.go)
	open := report.Check{ID: CheckOpen, Title: "open " + r.Target + " (listen only)", Status: report.OK, Evidence: map[string]any{}}
	if r.Settings.Serial != nil {
		open.Evidence["serial"] = r.Settings.Serial.String()
	}
	if lt := r.Settings.LatencyTimer; lt != nil {
		open.Evidence["latency_timer"] = fmt.Sprintf("%d ms -> %d ms", lt.Before, lt.After)
	}
	r.Settings.openEvidence(open.Evidence)
	if err != nil && r.ListenedMS == 0 {
		hint, _ := OpenFailure(err)
		open.Status, open.Hint = report.Failed, hint
		open.Evidence["error"] = err.Error()
		var held *serialport.HeldError
		if errors.As(err, &held) {
			open.Evidence["held_by"] = serialport.Names(held.Holders)
		}
		rep.Add(open)
		rep.Skip(CheckSniff, "decode the master's traffic", CheckOpen+" failed")
		r.details(rep)
		return
	}
	rep.Add(open)
	c := report.Check{ID: CheckSniff, Title: "decode the master's traffic", Status: report.OK, DurationMS: r.ListenedMS,
		Evidence: map[string]any{"frames": r.Frames, "requests": r.Requests, "responses": r.Responses, "addresses": len(r.Devices), "listened_ms": r.ListenedMS}}
	if err != nil {
		hint, _ := OpenFailure(err)
		c.Status, c.Hint = report.Failed, hint
		c.Evidence["error"] = err.Error()
	} else if r.Frames == 0 {
		c.Status = report.Warning
		c.Hint = "no frame heard: no master is polling, or the settings do not match (noise bytes hint at the baud rate or parity), or A/B are swapped"
		if r.NoiseBytes > 0 {
			c.Evidence["noise_bytes"] = r.NoiseBytes
		}
	}
	rep.Add(c)
	crc := report.Check{ID: CheckCRC, Title: checkTitle(CheckCRC), Status: report.OK, Evidence: map[string]any{"crc_errors": r.CRCErrors, "noise_bytes": r.NoiseBytes}}
	total := r.Frames + r.CRCErrors
	if total > 0 {
		rate := float64(r.CRCErrors) / float64(total)
		crc.Evidence["crc_rate"] = fmt.Sprintf("%.1f%%", 100*rate)
		crc.Evidence["max_crc_rate"] = fmt.Sprintf("%.1f%%", 100*r.maxRate)
		if rate > r.maxRate {
			crc.Status = report.Failed
			crc.Hint = fmt.Sprintf("%.1f%% of frames fail the CRC (threshold %.1f%%): noise, missing termination, or two devices answering at once; if every frame fails, the settings are wrong", 100*rate, 100*r.maxRate)
		} else {
			r.explainCRC(&crc)
		}
	}
	rep.Add(crc)
	for _, d := range r.Devices {
		st := report.OK
		switch {
		case d.Verdict == VerdictCollision || d.Verdict == VerdictSuspect:
			st = report.Failed
		case d.Verdict == VerdictNoAnswer || d.NoResponse > 0:
			st = report.Warning
		}
		rep.Add(report.Check{ID: UnitCheckID(d.UnitID), Title: fmt.Sprintf("address %d: %s", d.UnitID, d.Verdict), Status: st, Hint: d.Hint,
			Evidence: map[string]any{"requests": d.Requests, "responses": d.Responses, "functions": strings.Join(d.Functions, ","), "evidence": strings.Join(d.Evidence, "; ")}})
	}
	r.details(rep)
}

// explainCRC keeps bus.crc ok only when every CRC error is explained by
// the verdict of the address it stood for (a collision, a suspect meter);
// others, even under --max-crc-rate, make it a warning that counts them.
func (r *SniffResult) explainCRC(c *report.Check) {
	unexplained := r.CRCErrors
	var explained []string
	for _, d := range r.Devices {
		if d.CRCErrors > 0 && (d.Verdict == VerdictCollision || d.Verdict == VerdictSuspect) {
			unexplained -= d.CRCErrors
			explained = append(explained, fmt.Sprintf("%s at %d", d.Verdict, d.UnitID))
		}
	}
	if len(explained) > 0 {
		c.Evidence["explained_by"] = strings.Join(explained, ", ")
	}
	if unexplained > 0 {
		c.Evidence["unexplained"] = unexplained
		c.Status = report.Warning
		c.Hint = fmt.Sprintf("%d frame(s) failed the CRC that no verdict explains, under the %.1f%% that fails the check: noise on the line (termination: 120 ohm at both ends only, bias resistors, shield) or a device at other serial settings; sniff longer to see whether they grow", unexplained, 100*r.maxRate)
	}
}

func (r *SniffResult) details(rep *report.Report) {
	rep.SetDetail("devices", r.Devices)
	rep.SetDetail("bus", map[string]any{"frames": r.Frames, "requests": r.Requests, "responses": r.Responses, "broadcasts": r.Broadcasts,
		"crc_errors": r.CRCErrors, "noise_bytes": r.NoiseBytes, "unpaired_responses": r.Unpaired, "pending_requests": r.Pending, "join_bytes": r.JoinBytes, "listened_ms": r.ListenedMS})
	rep.SetDetail("settings", r.Settings)
}
