package mqtt

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/ctxtime"
)

// CheckAvailability is the one check of a link watch (Watch): the share of
// rounds in which the whole link ladder passed.
const CheckAvailability = "mqtt.availability"

// Layer names the part of the link a watch round broke at: the first
// failed check of the round, grouped as a technician thinks of the path.
type Layer string

// The layers of the link, in ladder order.
const (
	LayerDNS       Layer = "dns"
	LayerTCP       Layer = "tcp"
	LayerTLS       Layer = "tls"
	LayerConnect   Layer = "connect"
	LayerRoundTrip Layer = "round_trip"
)

// LayerOf maps a check ID of the ladder to its layer: the steps of
// reaching the broker are their own layer; SUBSCRIBE, the test prefix and
// the QoS round trips are all "round_trip" (a message did not come back).
func LayerOf(checkID string) Layer {
	switch checkID {
	case CheckDNS:
		return LayerDNS
	case CheckTCP:
		return LayerTCP
	case CheckTLS:
		return LayerTLS
	case CheckConnect:
		return LayerConnect
	}
	return LayerRoundTrip
}

// Words is how a layer reads in a sentence: DNS, TCP, TLS, CONNECT, round trip.
func (l Layer) Words() string {
	if l == LayerRoundTrip {
		return "round trip"
	}
	return strings.ToUpper(string(l))
}

// WatchOptions configure Watch: the link part of the check ladder (DNS,
// TCP, TLS, CONNECT, SUBSCRIBE, the QoS round trips) run again and again.
type WatchOptions struct {
	// Check is one round's ladder; LinkOnly is forced.
	Check CheckOptions
	// Every is the time from the start of one round to the start of the
	// next; a round that takes longer is followed at once.
	Every time.Duration
	// Rounds ends the watch after this many rounds (0: no limit).
	Rounds int
	// Duration ends the watch: no round starts later than this after the
	// first (0: no limit). Without Rounds or Duration, ctx ends the watch.
	Duration time.Duration
	// MinAvailability is the percentage of rounds (0 to 100) that must pass
	// all the way; below it mqtt.availability fails.
	MinAvailability float64
	// OnRound, when set, is called after each round, on Watch's goroutine.
	OnRound func(WatchRound)
}

// WatchRound is how one round of a watch went.
type WatchRound struct {
	N     int
	Start time.Time // by CheckOptions.Now
	Took  time.Duration
	OK    bool
	// Layer, Check, Reason and Hint describe the first failed check of a
	// failed round.
	Layer  Layer
	Check  string
	Reason string
	Hint   string
	// RTTms is the median publish-to-arrival time of the round's QoS 1
	// round trip (else QoS 0, else 2), in ms (HasRTT false when none came
	// back).
	RTTms  float64
	HasRTT bool
	// Report is the round's ladder.
	Report *report.Report
}

// WatchFailure is one failed round in mqtt.availability's evidence.
type WatchFailure struct {
	Round  int    `json:"round"`
	Time   string `json:"time"`
	Layer  Layer  `json:"layer"`
	Check  string `json:"check"`
	Reason string `json:"reason"`
}

// maxWatchFailures bounds the failures kept in the evidence: a week-long
// watch of a dead link must not grow without end; the counts stay exact.
const maxWatchFailures = 1000

// Watch runs the link ladder every o.Every until o.Rounds, o.Duration or
// ctx ends it, and returns a finished report with one check,
// mqtt.availability: rounds, the share that passed, round-trip p50/p95
// over the rounds, and each failed round with its time and the first layer
// that broke. A round cut short by ctx is not counted: the report holds
// the rounds that ended.
func Watch(ctx context.Context, o WatchOptions) *report.Report {
	if o.Check.Now == nil {
		o.Check.Now = time.Now
	}
	o.Check.LinkOnly = true
	r := report.New("mqtt check", redactURL(o.Check.Broker), o.Check.Now)
	var t watchTally
	t.begin = time.Now()
	next := t.begin
	for n := 1; o.Rounds == 0 || n <= o.Rounds; n++ {
		if n > 1 {
			next = next.Add(o.Every)
			if o.Duration > 0 && next.Sub(t.begin) >= o.Duration {
				break
			}
			if now := time.Now(); next.Before(now) {
				next = now // the last round overran: no burst to catch up
			}
			if ctxtime.SleepUntil(ctx, next, nil) != nil {
				break
			}
		}
		if ctx.Err() != nil {
			break
		}
		w, ok := watchRound(ctx, o.Check, n)
		if !ok {
			break
		}
		t.add(w)
		if o.OnRound != nil {
			o.OnRound(w)
		}
	}
	t.interrupted = ctx.Err() != nil
	r.Add(t.check(o.MinAvailability))
	setWatchDetails(r, o, &t)
	r.Finish()
	return r
}

func setWatchDetails(r *report.Report, o WatchOptions, t *watchTally) {
	r.SetDetail("every_ms", report.Millis(o.Every))
	if o.Rounds > 0 {
		r.SetDetail("rounds_planned", o.Rounds)
	}
	if o.Duration > 0 {
		r.SetDetail("duration_planned_ms", report.Millis(o.Duration))
	}
	r.SetDetail("interrupted", t.interrupted)
	r.SetDetail("mqtt_version", string(o.Check.withVersion()))
	r.SetDetail("timeout_ms", report.Millis(o.Check.Timeout))
	if t.rounds > 0 {
		r.SetDetail("first_round_at", report.FormatTime(t.first))
		r.SetDetail("last_round_at", report.FormatTime(t.last))
	}
}

// withVersion is the protocol version a round speaks.
func (o CheckOptions) withVersion() Version {
	if o.Version == "" {
		return V5
	}
	return o.Version
}

// watchRound runs one ladder; ok is false when ctx cut it short.
func watchRound(ctx context.Context, o CheckOptions, n int) (WatchRound, bool) {
	w := WatchRound{N: n, Start: o.Now()}
	t0 := time.Now()
	r := Check(ctx, o)
	w.Took, w.Report = time.Since(t0), r
	for _, c := range r.Checks {
		if c.Status == report.Skipped && c.SkippedReason == "interrupted" {
			return w, false
		}
	}
	w.OK = r.FirstFailure == nil
	if !w.OK {
		w.Check, w.Hint = r.FirstFailure.ID, r.FirstFailure.Hint
		w.Layer = LayerOf(w.Check)
		w.Reason = w.Hint
		for _, c := range r.Checks {
			if c.ID == w.Check {
				if e, ok := c.Evidence["error"].(string); ok && e != "" {
					w.Reason = e
				}
				break
			}
		}
	}
	// QoS 1 first: a QoS 0 round trip can carry a broker's Nagle delay
	// (see nagleNote), which is not the link's.
	for _, id := range []string{CheckQoS1, CheckQoS0, CheckQoS2} {
		for _, c := range r.Checks {
			if c.ID != id || c.Status == report.Failed {
				continue
			}
			if lat, ok := c.Evidence["latency_ms"].(map[string]float64); ok {
				w.RTTms, w.HasRTT = lat["p50"], true
				return w, true
			}
		}
	}
	return w, true
}

// watchTally sums the rounds of a watch.
type watchTally struct {
	begin        time.Time
	first, last  time.Time
	rounds, ok   int
	rtt          []float64
	failures     []WatchFailure
	byLayer      map[Layer]int
	firstOfLayer map[Layer]WatchRound
	interrupted  bool
}

func (t *watchTally) add(w WatchRound) {
	if t.rounds == 0 {
		t.first = w.Start
	}
	t.last = w.Start
	t.rounds++
	if w.HasRTT {
		t.rtt = append(t.rtt, w.RTTms)
	}
	if w.OK {
		t.ok++
		return
	}
	if t.byLayer == nil {
		t.byLayer, t.firstOfLayer = map[Layer]int{}, map[Layer]WatchRound{}
	}
	if t.byLayer[w.Layer] == 0 {
		t.firstOfLayer[w.Layer] = w
	}
	t.byLayer[w.Layer]++
	if len(t.failures) < maxWatchFailures {
		t.failures = append(t.failures, WatchFailure{Round: w.N, Time: report.FormatTime(w.Start), Layer: w.Layer, Check: w.Check, Reason: w.Reason})
	}
}

// Availability is the percentage of rounds that passed, to 0.01.
func Availability(ok, rounds int) float64 {
	if rounds == 0 {
		return 0
	}
	return math.Round(float64(ok)*10000/float64(rounds)) / 100
}

// check judges mqtt.availability against minPct.
func (t *watchTally) check(minPct float64) report.Check {
	ch := report.Check{ID: CheckAvailability, Title: "the link passes the ladder round after round", Status: report.OK,
		DurationMS: report.Millis(time.Since(t.begin))}
	if t.rounds == 0 {
		ch.Status, ch.SkippedReason = report.Skipped, "interrupted before the first round ended"
		return ch
	}
	ev := map[string]any{
		"rounds":                 t.rounds,
		"ok_rounds":              t.ok,
		"failed_rounds":          t.rounds - t.ok,
		"availability_pct":       Availability(t.ok, t.rounds),
		"min_availability_pct":   minPct,
		"failures":               t.failures,
		"rounds_with_round_trip": len(t.rtt),
	}
	if t.failures == nil {
		ev["failures"] = []WatchFailure{}
	}
	if len(t.rtt) > 0 {
		ev["rtt_p50_ms"], ev["rtt_p95_ms"], ev["rtt_max_ms"] = percentile(t.rtt, 0.50), percentile(t.rtt, 0.95), percentile(t.rtt, 1)
	}
	if dropped := t.rounds - t.ok - len(t.failures); dropped > 0 {
		ev["failures_not_listed"] = dropped
	}
	if len(t.byLayer) > 0 {
		by := map[string]int{}
		for l, n := range t.byLayer {
			by[string(l)] = n
		}
		ev["failures_by_layer"] = by
	}
	ch.Evidence = ev
	if t.ok == t.rounds {
		return ch
	}
	worst := t.worstLayer()
	w := t.firstOfLayer[worst]
	next := w.Hint
	if next == "" {
		next = w.Reason
	}
	ch.Hint = fmt.Sprintf("%d of %d rounds failed, %d of them at %s (from %s): %s", t.rounds-t.ok, t.rounds, t.byLayer[worst], worst.Words(), report.FormatTime(w.Start), next)
	if float64(t.ok)*100 < minPct*float64(t.rounds) {
		ch.Status = report.Failed
		ev["error"] = fmt.Sprintf("availability %.2f%% is below --min-availability %g%%", Availability(t.ok, t.rounds), minPct)
	} else {
		ch.Status = report.Warning
	}
	return ch
}

// worstLayer is the layer most rounds broke at (the earlier in the ladder
// on a tie).
func (t *watchTally) worstLayer() Layer {
	best := Layer("")
	for _, l := range []Layer{LayerDNS, LayerTCP, LayerTLS, LayerConnect, LayerRoundTrip} {
		if t.byLayer[l] > t.byLayer[best] {
			best = l
		}
	}
	return best
}

// percentile is the nearest-rank percentile p (0 to 1) of v.
func percentile(v []float64, p float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	i = max(0, min(i, len(s)-1))
	return s[i]
}
