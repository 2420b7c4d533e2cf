package report

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// fakeClock advances by step on every call.
func fakeClock(step time.Duration) func() time.Time {
	t := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(step)
		return t
	}
}

func TestFailedCheckSkipsDependentsAndIsNamedFirst(t *testing.T) {
	r := New("mqtt check", "mqtt://127.0.0.1:1883", fakeClock(1500*time.Microsecond))
	r.Run("mqtt.dns", "resolve broker", func(c *Check) { c.Evidence = map[string]any{"addresses": []string{"127.0.0.1"}} })
	r.Run("mqtt.tcp", "connect TCP", func(c *Check) {
		c.Status = Failed
		c.Hint = "is the broker running? check the port"
	})
	r.Skip("mqtt.connect", "MQTT CONNECT", "mqtt.tcp failed")
	r.Finish()

	if got := r.ExitCode(false); got != 1 {
		t.Errorf("exit code %d, want 1", got)
	}
	if r.FirstFailure == nil || r.FirstFailure.ID != "mqtt.tcp" {
		t.Fatalf("first failure %+v, want mqtt.tcp", r.FirstFailure)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema", "command", "target", "started_at", "duration_ms", "checks", "first_failure"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("report JSON lacks %q: %s", k, b)
		}
	}
	if doc["schema"] != Schema {
		t.Errorf("schema %v", doc["schema"])
	}
	if s := doc["started_at"].(string); !strings.HasSuffix(s, "Z") || !strings.Contains(s, ".") {
		t.Errorf("started_at %q is not RFC 3339 UTC with sub-second precision", s)
	}
	checks := doc["checks"].([]any)
	skipped := checks[2].(map[string]any)
	if skipped["status"] != "skipped" || skipped["skipped_reason"] != "mqtt.tcp failed" {
		t.Errorf("skipped check %v", skipped)
	}
	if d := checks[0].(map[string]any)["duration_ms"].(float64); d != 1.5 {
		t.Errorf("duration_ms %v, want 1.5 (sub-millisecond resolution)", d)
	}
}

func TestWarningsExitZeroUnlessStrict(t *testing.T) {
	r := New("mqtt check", "", nil)
	r.Add(Check{ID: "mqtt.acl_test_prefix", Status: Warning, Hint: "pass --topic-prefix"})
	r.Finish()
	if r.ExitCode(false) != 0 || r.ExitCode(true) != 1 {
		t.Errorf("exit codes %d/%d, want 0 and 1 with --strict", r.ExitCode(false), r.ExitCode(true))
	}
	if r.FirstFailure != nil {
		t.Errorf("a warning is not a failure: %+v", r.FirstFailure)
	}
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"first_failure":null`) {
		t.Errorf("first_failure must be null when nothing failed: %s", b)
	}
}

func TestChecksOfSeveralTargetsNameTheirTargetAndSoDoesTheFirstFailure(t *testing.T) {
	r := New("probe net", "a:8883 b:443", fakeClock(time.Millisecond))
	r.Add(Check{ID: "net.tcp", Title: "tcp", Target: "a:8883", Status: OK})
	r.Add(Check{ID: "net.tcp", Title: "tcp", Target: "b:443", Status: Failed, Hint: "open the port"})
	r.Finish()
	if r.FirstFailure == nil || r.FirstFailure.ID != "net.tcp" || r.FirstFailure.Target != "b:443" {
		t.Fatalf("first failure %+v, want net.tcp for b:443", r.FirstFailure)
	}
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"first_failure":{"id":"net.tcp","target":"b:443","hint":"open the port"}`) || !strings.Contains(string(b), `"target":"a:8883","status":"ok"`) {
		t.Errorf("JSON: %s", b)
	}
	// Reports of one target leave the field out.
	one := New("mqtt check", "x", nil)
	one.Add(Check{ID: "mqtt.tcp", Status: Failed})
	one.Finish()
	if b, _ := json.Marshal(one); strings.Contains(string(b), `"target":""`) || strings.Count(string(b), `"target"`) != 1 {
		t.Errorf("single-target JSON: %s", b)
	}
}
