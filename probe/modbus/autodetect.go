package modbus

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/serialport"
)

// DetectOptions configure AutoDetect.
type DetectOptions struct {
	Target Target
	// IDs: the first few are probed at each candidate when the line is quiet.
	IDs   []byte
	Probe ProbeSpec
	// Candidates to try, most common first (default: 9600, 19200, 38400,
	// 115200, 57600, 4800, 2400 baud, each with parity N, E and O).
	Candidates []SerialSettings
	// Listen is the passive listening time per candidate (default 400 ms).
	Listen time.Duration
	// Timeout is per probe (default 100 ms).
	Timeout time.Duration
	Force   bool
	Now     func() time.Time
	// Open opens the port at given settings (tests, the lab); nil opens
	// Target.
	Open func(SerialSettings) (Port, error)
}

// DetectTrial is what one candidate setting showed.
type DetectTrial struct {
	Settings   string `json:"settings"`
	Frames     int    `json:"frames"`
	CRCErrors  int    `json:"crc_errors"`
	NoiseBytes int    `json:"noise_bytes"`
	Probed     int    `json:"probed"`
	Replies    int    `json:"replies"`
	Garbled    int    `json:"garbled"`
}

// DetectResult is auto-detect's conclusion.
type DetectResult struct {
	Found      bool           `json:"found"`
	Settings   SerialSettings `json:"settings"`
	Confidence string         `json:"confidence"` // high, medium, low
	Method     string         `json:"method"`     // passive, active
	Conclusion string         `json:"conclusion"`
	Trials     []DetectTrial  `json:"trials"`
}

// DefaultCandidates are the settings auto-detect tries, most common first.
func DefaultCandidates() []SerialSettings {
	var out []SerialSettings
	for _, b := range []int{9600, 19200, 38400, 115200, 57600, 4800, 2400} {
		for _, p := range []string{"N", "E", "O"} {
			out = append(out, SerialSettings{Baud: b, DataBits: 8, Parity: p, StopBits: 1})
		}
	}
	return out
}

// AutoDetect finds a bus's baud rate and parity. It first listens at each
// candidate, because a polling master's traffic decodes cleanly only at the
// right settings; on a quiet line it probes the first few addresses at each
// candidate, because a device only understands (and answers) a request sent
// at its own settings.
func AutoDetect(ctx context.Context, o DetectOptions) (*DetectResult, error) {
	res, err := autoDetect(ctx, o)
	return res, kinded(err)
}

func autoDetect(ctx context.Context, o DetectOptions) (*DetectResult, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Candidates) == 0 {
		o.Candidates = DefaultCandidates()
	}
	if o.Listen <= 0 {
		o.Listen = 400 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 100 * time.Millisecond
	}
	if o.Probe.Function == 0 {
		o.Probe = DefaultProbe
	}
	ids := o.IDs
	if len(ids) == 0 {
		ids = []byte{1, 2, 3}
	}
	if len(ids) > 5 {
		ids = ids[:5]
	}
	if o.Open == nil {
		path := o.Target.Path
		if _, err := serialport.Check(path, serialport.Options{Force: o.Force, LowLatency: true}); err != nil {
			return nil, err
		}
		o.Open = func(s SerialSettings) (Port, error) {
			p, err := serialport.OpenAfterCheck(path, s)
			if err != nil {
				return nil, err
			}
			return p, nil
		}
	}
	res := &DetectResult{Trials: []DetectTrial{}}
	trials := make([]DetectTrial, len(o.Candidates))

	// Passive: someone else's traffic.
	best, bestFrames := -1, 0
	for i, c := range o.Candidates {
		if ctx.Err() != nil {
			break
		}
		tr, err := detectListen(o, c)
		trials[i] = tr
		if err != nil {
			return res, err
		}
		if tr.Frames > bestFrames && tr.Frames >= 2*tr.CRCErrors {
			best, bestFrames = i, tr.Frames
		}
		if tr.Frames >= 4 && tr.CRCErrors == 0 {
			break // unambiguous
		}
	}
	if best >= 0 {
		res.Found, res.Settings, res.Method = true, o.Candidates[best], "passive"
		tr := trials[best]
		res.Confidence = "medium"
		if tr.Frames >= 4 && tr.CRCErrors*10 <= tr.Frames {
			res.Confidence = "high"
		}
		res.Conclusion = fmt.Sprintf("another master's traffic decodes cleanly at %s: %d valid frame(s), %d CRC error(s)", res.Settings, tr.Frames, tr.CRCErrors)
		res.Trials = nonEmpty(trials)
		return res, nil
	}

	// Active: ask a few addresses at each candidate.
	for i, c := range o.Candidates {
		if ctx.Err() != nil {
			break
		}
		tr, err := detectProbe(o, c, ids, &trials[i])
		trials[i] = tr
		if err != nil {
			return res, err
		}
		if tr.Replies > 0 {
			res.Found, res.Settings, res.Method = true, c, "active"
			res.Confidence = "medium"
			if tr.Replies >= 2 && tr.Garbled == 0 {
				res.Confidence = "high"
			}
			res.Conclusion = fmt.Sprintf("%d valid repl(ies) to %d probe(s) at %s (no valid reply at the %d setting(s) tried before)", tr.Replies, tr.Probed, c, i)
			res.Trials = nonEmpty(trials)
			return res, nil
		}
	}
	res.Trials = nonEmpty(trials)
	var garbled []string
	for _, t := range res.Trials {
		if t.Garbled > 0 || t.CRCErrors > 0 {
			garbled = append(garbled, t.Settings)
		}
	}
	res.Confidence = "low"
	if len(garbled) > 0 {
		res.Conclusion = fmt.Sprintf("no setting gave a valid frame; garbled bytes at %s: a device may use a setting not tried (7 data bits, 2 stop bits) or the line is noisy", strings.Join(garbled, ", "))
	} else {
		res.Conclusion = fmt.Sprintf("silence at all %d settings tried, probing ids %s: no device answers (wiring, A/B swapped, power) or none uses these ids", len(o.Candidates), idsString(ids))
	}
	return res, nil
}

func nonEmpty(ts []DetectTrial) []DetectTrial {
	var out []DetectTrial
	for _, t := range ts {
		if t.Settings != "" {
			out = append(out, t)
		}
	}
	return out
}

func detectListen(o DetectOptions, c SerialSettings) (DetectTrial, error) {
	tr := DetectTrial{Settings: c.String()}
	p, err := o.Open(c)
	if err != nil {
		return tr, err
	}
	opened := o.Now()
	bus := newRTUBus(p, c, o.Now)
	defer bus.close()
	evs, err := bus.drain(opened.Add(o.Listen))
	if err != nil {
		return tr, fmt.Errorf("%w: %v", ErrBusIO, err)
	}
	evs = append(evs, framesOnly(bus.sp.Flush())...)
	evs = skipFrameInFlight(evs, opened)
	for _, ev := range evs {
		switch ev.Kind {
		case EvFrame:
			tr.Frames++
		case EvCRCError, EvTruncated:
			tr.CRCErrors++
		case EvNoise:
			tr.NoiseBytes += len(ev.Raw)
		}
	}
	return tr, nil
}

// framesOnly keeps the valid frames of what the splitter still held when
// listening ended: the rest is a frame the end of the window cut, which
// says nothing against the settings (as skipFrameInFlight's head does not).
// Counted, it cost a busy bus at the right settings one CRC error in about
// one trial in five, and "medium" confidence when a second one came.
func framesOnly(evs []Event) []Event {
	out := evs[:0]
	for _, ev := range evs {
		if ev.Kind == EvFrame {
			out = append(out, ev)
		}
	}
	return out
}

// skipFrameInFlight drops what the port caught of a frame already on the
// line when it opened: garbage that says nothing against the settings. That
// is whatever precedes the first valid frame, when it is no more than one
// frame's worth: a loaded host, an adapter's latency timer or a PTY that
// applies new settings late can deliver it well after the open, so the wall
// clock cannot tell it. Without a valid frame, only what arrived in the
// first 50 ms is dropped: the rest is what these settings make of the line.
func skipFrameInFlight(evs []Event, opened time.Time) []Event {
	n := 0
	for i, ev := range evs {
		if ev.Kind == EvFrame {
			if n <= MaxRTU {
				return evs[i:]
			}
			break
		}
		n += len(ev.Raw)
	}
	for len(evs) > 0 && evs[0].Kind != EvFrame && evs[0].Start.Sub(opened) < 50*time.Millisecond {
		evs = evs[1:]
	}
	return evs
}

func detectProbe(o DetectOptions, c SerialSettings, ids []byte, prev *DetectTrial) (DetectTrial, error) {
	tr := *prev
	p, err := o.Open(c)
	if err != nil {
		return tr, err
	}
	bus := newRTUBus(p, c, o.Now)
	defer bus.close()
	s := &rtuScanner{o: ScanOptions{Serial: c, Now: o.Now, Timeout: o.Timeout, IDRegister: -1, TalkOverMaster: true},
		bus: bus, res: &Result{}, units: map[byte]*unitState{}, exch: map[exKey]*exchange{}}
	for _, id := range ids {
		rec, f, err := s.transact(id, o.Probe.PDU(), o.Timeout)
		if err != nil {
			return tr, err
		}
		tr.Probed++
		if f != nil {
			tr.Replies++
		} else if rec.corrupt > 0 || rec.noise > 0 {
			tr.Garbled++
		}
	}
	tr.CRCErrors += s.res.Bus.CRCErrors
	tr.NoiseBytes += bus.noiseBytes
	return tr, nil
}

// Check is the bus.autodetect check.
func (d *DetectResult) Check() report.Check {
	c := report.Check{ID: CheckDetect, Title: "find the baud rate and parity", Status: report.OK,
		Evidence: map[string]any{"conclusion": d.Conclusion, "confidence": d.Confidence, "tried": len(d.Trials)}}
	if d.Found {
		c.Evidence["settings"] = d.Settings.String()
		c.Evidence["method"] = d.Method
		if d.Confidence != "high" {
			c.Status = report.Warning
			c.Hint = fmt.Sprintf("%s is a guess from few frames: confirm it on a meter's display", d.Settings)
		}
		return c
	}
	c.Status = report.Failed
	c.Hint = "no setting worked: check the wiring (A/B swapped), the meters' power and termination, then try again with --ids set to the addresses you expect"
	return c
}
