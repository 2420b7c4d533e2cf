package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

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
