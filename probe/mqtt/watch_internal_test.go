package mqtt

import (
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

func TestLayerOfGroupsTheLadderAsTheLinkIsBuilt(t *testing.T) {
	for id, want := range map[string]Layer{
		CheckDNS: LayerDNS, CheckTCP: LayerTCP, CheckTLS: LayerTLS, CheckConnect: LayerConnect,
		CheckSubscribe: LayerRoundTrip, CheckACLTestPrefix: LayerRoundTrip, CheckQoS0: LayerRoundTrip, CheckQoS2: LayerRoundTrip,
	} {
		if got := LayerOf(id); got != want {
			t.Errorf("LayerOf(%s) = %s, want %s", id, got, want)
		}
	}
	if LayerTCP.Words() != "TCP" || LayerRoundTrip.Words() != "round trip" || LayerConnect.Words() != "CONNECT" {
		t.Error("layer words")
	}
}

// tallyOf sums rounds given as "ok" or a failed layer, each with an RTT.
func tallyOf(rounds ...string) *watchTally {
	t := &watchTally{begin: time.Now()}
	t0 := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	for i, r := range rounds {
		w := WatchRound{N: i + 1, Start: t0.Add(time.Duration(i) * 30 * time.Second), OK: r == "ok"}
		if w.OK {
			w.RTTms, w.HasRTT = float64(i+1), true
		} else {
			w.Layer, w.Check, w.Reason, w.Hint = Layer(r), "mqtt."+r, r+" broke", "look at "+r
		}
		t.add(w)
	}
	return t
}

func TestAvailabilityIsJudgedAgainstTheMinimum(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rounds []string
		min    float64
		want   report.Status
		pct    float64
	}{
		{"all ok", []string{"ok", "ok", "ok"}, 100, report.OK, 100},
		{"one failed, default minimum", []string{"ok", "tcp", "ok", "ok"}, 100, report.Failed, 75},
		{"one failed, tolerated", []string{"ok", "tcp", "ok", "ok"}, 75, report.Warning, 75},
		{"just below", []string{"ok", "ok", "tcp"}, 66.67, report.Failed, 66.67},
		{"minimum 0 never fails", []string{"tcp", "dns"}, 0, report.Warning, 0},
	} {
		ch := tallyOf(tc.rounds...).check(tc.min)
		if ch.Status != tc.want || ch.Evidence["availability_pct"] != tc.pct {
			t.Errorf("%s: %s at %v%%, want %s at %v%%", tc.name, ch.Status, ch.Evidence["availability_pct"], tc.want, tc.pct)
		}
	}
}

func TestAvailabilityNamesTheLayerMostRoundsBrokeAt(t *testing.T) {
	ch := tallyOf("ok", "connect", "tcp", "tcp", "ok", "round_trip").check(100)
	if !strings.Contains(ch.Hint, "4 of 6 rounds failed, 2 of them at TCP (from 2026-12-02T03:01:00.000000Z): look at tcp") {
		t.Errorf("hint %q", ch.Hint)
	}
	fs := ch.Evidence["failures"].([]WatchFailure)
	if len(fs) != 4 || fs[0] != (WatchFailure{Round: 2, Time: "2026-12-02T03:00:30.000000Z", Layer: LayerConnect, Check: "mqtt.connect", Reason: "connect broke"}) {
		t.Errorf("failures %+v", fs)
	}
	by := ch.Evidence["failures_by_layer"].(map[string]int)
	if by["tcp"] != 2 || by["connect"] != 1 || by["round_trip"] != 1 {
		t.Errorf("by layer %v", by)
	}
	// RTTs of the ok rounds: 1 and 5 ms.
	if ch.Evidence["rtt_p50_ms"] != 1.0 || ch.Evidence["rtt_p95_ms"] != 5.0 {
		t.Errorf("rtt p50 %v p95 %v", ch.Evidence["rtt_p50_ms"], ch.Evidence["rtt_p95_ms"])
	}
}

func TestAWatchInterruptedBeforeItsFirstRoundIsSkipped(t *testing.T) {
	ch := tallyOf().check(100)
	if ch.Status != report.Skipped || ch.SkippedReason == "" || ch.Evidence != nil {
		t.Errorf("%+v", ch)
	}
}

func TestTheFailureListIsBoundedButTheCountsStayExact(t *testing.T) {
	rounds := make([]string, maxWatchFailures+5)
	for i := range rounds {
		rounds[i] = "tcp"
	}
	ch := tallyOf(rounds...).check(100)
	if n := len(ch.Evidence["failures"].([]WatchFailure)); n != maxWatchFailures || ch.Evidence["failures_not_listed"] != 5 || ch.Evidence["failed_rounds"] != maxWatchFailures+5 {
		t.Errorf("%d listed, %v not listed, %v failed", n, ch.Evidence["failures_not_listed"], ch.Evidence["failed_rounds"])
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	if percentile(v, 0.5) != 5 || percentile(v, 0.95) != 10 || percentile(v, 1) != 10 || percentile([]float64{3}, 0.95) != 3 {
		t.Error("percentiles")
	}
}
