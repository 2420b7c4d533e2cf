package modbus

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/report"
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
		ForcedPast: tmp.Settings.ForcedPast, Bridges: tmp.Settings.Bridges}
	if err != nil {
		return res, err
	}
	bus := newRTUBus(port, o.Serial, o.Now)
	defer bus.close()

	devs := map[byte]*SniffDevice{}
	dev := func(u byte) *SniffDevice {
		d := devs[u]
		if d == nil {
			d = &SniffDevice{UnitID: int(u), Verdict: VerdictOK, Exceptions: map[string]int{}, fcs: map[byte]bool{}, Evidence: []string{}}
			devs[u] = d
		}
		return d
	}
	type pend struct {
		unit, fc byte
		end      time.Time
		answered int
	}
	var cur *pend
	closeReq := func() {
		if cur != nil && cur.answered == 0 && cur.unit != 0 {
			dev(cur.unit).NoResponse++
		}
		cur = nil
	}
	start := o.Now()
	end := start.Add(o.Duration)
	lastProgress := start
	for o.Now().Before(end) && ctx.Err() == nil {
		ev, ok, err := bus.next(minTime(end, o.Now().Add(100*time.Millisecond)))
		if err != nil {
			res.ListenedMS = ms(o.Now().Sub(start))
			return res, fmt.Errorf("%w: %v", ErrBusIO, err)
		}
		if o.Progress != nil && o.Now().Sub(lastProgress) > 500*time.Millisecond {
			lastProgress = o.Now()
			o.Progress(res.Frames, lastProgress.Sub(start))
		}
		if !ok {
			continue
		}
		if ev.Kind != EvFrame && res.Frames == 0 {
			// Opened in the middle of a frame: not the line's fault.
			res.JoinBytes += len(ev.Raw)
			continue
		}
		switch ev.Kind {
		case EvNoise:
			res.NoiseBytes += len(ev.Raw)
			continue
		case EvCRCError, EvTruncated:
			res.CRCErrors++
			if cur != nil && cur.answered == 0 {
				dev(cur.unit).CRCErrors++
			}
			// A corrupt frame may have been the next request: pair nothing
			// more with the current one, or its answer would count as a
			// double answer.
			closeReq()
			continue
		}
		res.Frames++
		f := ev.Frame
		if f.Dir == Request {
			closeReq()
			res.Requests++
			if f.Unit == 0 {
				res.Broadcasts++
				continue
			}
			d := dev(f.Unit)
			d.Requests++
			d.fcs[f.PDU.Function] = true
			cur = &pend{unit: f.Unit, fc: f.PDU.Function, end: ev.End}
			continue
		}
		res.Responses++
		if cur == nil || cur.unit != f.Unit || cur.fc != f.PDU.BaseFunction() {
			res.Unpaired++
			continue
		}
		d := dev(f.Unit)
		cur.answered++
		if cur.answered > 1 {
			d.DoubleAnswers++
			continue
		}
		d.Responses++
		d.latencies = append(d.latencies, ev.End.Sub(cur.end))
		if f.PDU.IsException() {
			d.Exceptions[f.PDU.Exception().String()]++
		}
	}
	closeReq()
	res.ListenedMS = ms(o.Now().Sub(start))
	ids := make([]int, 0, len(devs))
	for u := range devs {
		ids = append(ids, int(u))
	}
	sort.Ints(ids)
	for _, u := range ids {
		d := devs[byte(u)]
		for fc := range d.fcs {
			d.Functions = append(d.Functions, fmt.Sprintf("0x%02X", fc))
		}
		sort.Strings(d.Functions)
		d.LatencyMS = latencySummary(d.latencies)
		switch {
		case d.DoubleAnswers > 0:
			d.Verdict = VerdictCollision
			d.Evidence = append(d.Evidence, fmt.Sprintf("%d request(s) answered twice", d.DoubleAnswers))
			d.Hint = fmt.Sprintf(collisionHint, u)
		case d.CRCErrors > 0 && float64(d.CRCErrors) > o.MaxCRCRate*float64(max(1, d.Requests)):
			d.Verdict = VerdictSuspect
			d.Evidence = append(d.Evidence, fmt.Sprintf("%d CRC error(s) in %d exchanges", d.CRCErrors, d.Requests))
			d.Hint = fmt.Sprintf("replies at address %d are often corrupt: two devices answering at once, or wiring/termination near that device", u)
		case d.Responses == 0:
			d.Evidence = append(d.Evidence, "polled but never answered")
		default:
			d.Evidence = append(d.Evidence, fmt.Sprintf("%d of %d requests answered", d.Responses, d.Requests))
		}
		res.Devices = append(res.Devices, d)
	}
	return res, nil
}

// Report builds the report of a sniff.
func (r *SniffResult) Report(rep *report.Report, err error) {
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
		var held *HeldError
		if errors.As(err, &held) {
			open.Evidence["held_by"] = holderNames(held.Holders)
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
		if rate > r.maxRate {
			crc.Status = report.Failed
			crc.Hint = fmt.Sprintf("%.1f%% of frames fail the CRC (threshold %.1f%%): noise, missing termination, or two devices answering at once; if every frame fails, the settings are wrong", 100*rate, 100*r.maxRate)
		}
	}
	rep.Add(crc)
	for _, d := range r.Devices {
		st := report.OK
		if d.Verdict == VerdictCollision || d.Verdict == VerdictSuspect {
			st = report.Failed
		}
		rep.Add(report.Check{ID: UnitCheckID(d.UnitID), Title: fmt.Sprintf("address %d: %s", d.UnitID, d.Verdict), Status: st, Hint: d.Hint,
			Evidence: map[string]any{"requests": d.Requests, "responses": d.Responses, "functions": strings.Join(d.Functions, ","), "evidence": strings.Join(d.Evidence, "; ")}})
	}
	r.details(rep)
}

func (r *SniffResult) details(rep *report.Report) {
	rep.SetDetail("devices", r.Devices)
	rep.SetDetail("bus", map[string]any{"frames": r.Frames, "requests": r.Requests, "responses": r.Responses, "broadcasts": r.Broadcasts,
		"crc_errors": r.CRCErrors, "noise_bytes": r.NoiseBytes, "unpaired_responses": r.Unpaired, "join_bytes": r.JoinBytes, "listened_ms": r.ListenedMS})
	rep.SetDetail("settings", r.Settings)
}
