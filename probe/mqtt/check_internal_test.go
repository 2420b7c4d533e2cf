package mqtt

import (
	"strings"
	"testing"
	"time"
)

func TestLatencyPercentilesAreNearestRank(t *testing.T) {
	var lat []time.Duration
	for i := 20; i >= 1; i-- { // arrival order does not matter
		lat = append(lat, time.Duration(i)*time.Millisecond+250*time.Microsecond)
	}
	got := latencyStats(lat)
	want := map[string]float64{"min": 1.25, "p50": 10.25, "p95": 19.25, "max": 20.25}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if one := latencyStats([]time.Duration{1500 * time.Microsecond}); one["p50"] != 1.5 || one["p95"] != 1.5 {
		t.Errorf("one sample: %v", one)
	}
}

func TestLossAtTheTailPointsAtTheBrokersQueueLimit(t *testing.T) {
	c := &checker{}
	if h := c.lossHint([]int{1, 1, 1, 0, 0}, 1); !strings.Contains(h, "last 2 messages") || !strings.Contains(h, "max_queued_messages") {
		t.Errorf("tail loss hint: %s", h)
	}
	if h := c.lossHint([]int{1, 0, 1, 0, 1}, 1); strings.Contains(h, "last") || !strings.Contains(h, "queue limit") {
		t.Errorf("scattered loss hint: %s", h)
	}
}

func TestPayloadsOfOtherRunsAreIgnored(t *testing.T) {
	c := &checker{run: "abc123"}
	if k, n, ok := c.parsePayload(c.payload("q1", 7)); !ok || k != "q1" || n != 7 {
		t.Errorf("own payload: %q %d %v", k, n, ok)
	}
	other := &checker{run: "ffffff"}
	for _, p := range [][]byte{other.payload("q1", 7), []byte("hello"), nil, []byte("ectool-check abc123 q1 x")} {
		if _, _, ok := c.parsePayload(p); ok {
			t.Errorf("accepted %q", p)
		}
	}
}

func TestNagleNoteOnlyWhenQoS0IsFarSlower(t *testing.T) {
	ev := [3]map[string]any{{}, {}, {}}
	nagleNote([3]any{map[string]float64{"min": 39.8, "p50": 40.9}, map[string]float64{"p50": 0.12}}, ev)
	if ev[0]["note"] == nil {
		t.Error("no note for 40 ms vs 0.1 ms")
	}
	ev = [3]map[string]any{{}, {}, {}}
	nagleNote([3]any{map[string]float64{"p50": 0.3}, map[string]float64{"p50": 0.12}}, ev)
	if ev[0]["note"] != nil {
		t.Error("note for a fast QoS 0")
	}
	nagleNote([3]any{map[string]float64{"min": 8, "p50": 364}, map[string]float64{"p50": 0.12}}, ev)
	if ev[0]["note"] != nil {
		t.Error("note for a queue behind a burst")
	}
}

func TestConnackHintsSayWhatToChange(t *testing.T) {
	cases := []struct {
		asked    Version
		username string
		v        Version
		code     byte
		want     string
	}{
		{V5, "", V311, 1, "--mqtt-version 3.1.1"}, // a 3.1.1-only broker answering MQTT 5
		{V5, "", V5, 0x84, "--mqtt-version 3.1.1"},
		{V311, "", V311, 1, "--mqtt-version 5"},
		{V5, "meter", V5, 0x86, "password"},
		{V311, "meter", V311, 4, "password"},
		{V5, "meter", V5, 0x87, "password"}, // mosquitto's answer to a wrong password
		{V5, "", V5, 0x87, "anonymous"},
		{V311, "", V311, 2, "--client-id"},
	}
	for _, tc := range cases {
		c := &checker{o: CheckOptions{Options: Options{Version: tc.asked, Username: tc.username, ClientID: "x"}}}
		if h := c.connackHint(tc.v, tc.code); !strings.Contains(h, tc.want) {
			t.Errorf("asked %s, got %s code %d: hint %q lacks %q", tc.asked, tc.v, tc.code, h, tc.want)
		}
	}
}
