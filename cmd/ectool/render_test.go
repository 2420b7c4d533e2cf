package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ecdata/ectool/diag/report"
)

func TestPipedReportIsPlainAndEndsWithFirstFailure(t *testing.T) {
	var out bytes.Buffer
	app := &App{IO: &Streams{Out: &out, ErrOut: &bytes.Buffer{}}, Output: "text", Getenv: os.Getenv}
	r := report.New("mqtt check", "mqtt://127.0.0.1:1", nil)
	r.Add(report.Check{ID: "mqtt.dns", Title: "resolve", Status: report.OK})
	r.Add(report.Check{ID: "mqtt.tcp", Title: "connect", Status: report.Failed, Hint: "start the broker"})
	r.Skip("mqtt.connect", "CONNECT", "mqtt.tcp failed")
	r.Finish()
	if err := app.renderReport(r); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if strings.Contains(s, "\x1b[") {
		t.Errorf("piped output has escape sequences: %q", s)
	}
	lines := strings.Split(strings.TrimSpace(s), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, "mqtt.tcp") || !strings.Contains(last, "start the broker") {
		t.Errorf("last line %q does not name the first failure and next step", last)
	}
}

// On a terminal, evidence is key: value lines wrapped at the terminal's
// width (COLUMNS here), nested values flattened, never a JSON blob; times
// read in local time with the zone, and the JSON keeps them in UTC.
func TestTerminalEvidenceWrapsAsKeyValueLinesInLocalTime(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	old := time.Local
	time.Local = ist
	t.Cleanup(func() { time.Local = old })
	r := report.New("capture status", "/var/lib/ectool/capture", nil)
	r.Add(report.Check{ID: "capture.fresh", Title: "status is fresh", Status: report.Warning, Hint: "look at the writer",
		Evidence: map[string]any{
			"updated_at": "2026-12-02T10:00:00.250Z",
			"flush_ms":   1000,
			"interfaces": []map[string]any{{"name": "eth0", "kernel_dropped": 0}, {"name": "wwan0", "kernel_dropped": 3}},
			"files":      []string{"a.pcapng", "b.pcapng"},
			"note": "the writer has not rewritten status.json for longer than three flush intervals, so it may be " +
				"stopped, hung on a full disk, or starved of CPU by another process on this gateway",
		}})
	r.Finish()
	env := map[string]string{"COLUMNS": "60"}
	var out bytes.Buffer
	app := &App{IO: &Streams{Out: &out, ErrOut: &bytes.Buffer{}, OutTTY: true}, Output: "text", NoColor: true,
		Getenv: func(k string) string { return env[k] }}
	if err := app.renderReport(r); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"      updated_at: 2026-12-02 15:30:00.250 IST\n",
		"      flush_ms: 1000\n",
		"      interfaces[1].kernel_dropped: 3\n",
		"      interfaces[1].name: wwan0\n",
		"      files: a.pcapng, b.pcapng\n",
		"      note: the writer has not rewritten status.json for\n          longer than",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("terminal output lacks %q:\n%s", want, s)
		}
	}
	for _, l := range strings.Split(s, "\n") {
		if utf8.RuneCountInString(l) > 60 && strings.HasPrefix(l, "      ") {
			t.Errorf("evidence line over 60 columns: %q", l)
		}
	}
	if strings.ContainsAny(s, "{}") || strings.Contains(s, "2026-12-02T10:00") {
		t.Errorf("a JSON blob or a UTC time on the terminal:\n%s", s)
	}

	out.Reset()
	app.Output = "json"
	if err := app.renderReport(r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"updated_at":"2026-12-02T10:00:00.250Z"`) {
		t.Errorf("JSON does not keep the UTC time:\n%s", out.String())
	}
}

// Piped text keeps one line of pairs per check (for grep), with times in
// local time too.
func TestPipedEvidenceIsOneLineWithLocalTimes(t *testing.T) {
	old := time.Local
	time.Local = time.FixedZone("CET", 3600)
	t.Cleanup(func() { time.Local = old })
	r := report.New("capture status", "ring", nil)
	r.Add(report.Check{ID: "capture.fresh", Title: "status is fresh", Status: report.OK,
		Evidence: map[string]any{"updated_at": "2026-12-02T10:00:00Z", "flush_ms": 1000}})
	r.Finish()
	var out bytes.Buffer
	app := &App{IO: &Streams{Out: &out, ErrOut: &bytes.Buffer{}}, Output: "text", Getenv: os.Getenv}
	if err := app.renderReport(r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `      flush_ms=1000 updated_at="2026-12-02 11:00:00.000 CET"`+"\n") {
		t.Errorf("piped evidence:\n%s", out.String())
	}
}
