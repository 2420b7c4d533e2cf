package modbus_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/modbus"
)

// swept is a finished serial scan of ids that found devs (unit:verdict).
func swept(ids, expect string, devs map[int]modbus.Verdict) *modbus.Result {
	r := &modbus.Result{Target: "rtu:///dev/ttyUSB0", Settings: modbus.Settings{Transport: "rtu", IDs: ids, Expect: expect},
		Sweep: modbus.Sweep{Probed: 1, Total: 1, Complete: true}}
	for u := 1; u <= 247; u++ {
		if v, ok := devs[u]; ok {
			r.Devices = append(r.Devices, modbus.Device{UnitID: u, Verdict: v, Responses: 5, Polls: 5})
		}
	}
	return r
}

// expectedOf builds the scan's report and returns it with its bus.expected
// (nil when not emitted).
func expectedOf(t *testing.T, r *modbus.Result, err error) (*report.Report, *report.Check) {
	t.Helper()
	rep := report.New("scan", r.Target, nil)
	r.Report(rep, err)
	rep.Finish()
	var got *report.Check
	for i, c := range rep.Checks {
		if c.ID == modbus.CheckExpected {
			if got != nil {
				t.Fatalf("bus.expected twice: %+v", rep.Checks)
			}
			got = &rep.Checks[i]
			if i != len(rep.Checks)-1 {
				t.Errorf("bus.expected is not the last check: %+v", rep.Checks)
			}
		}
	}
	return rep, got
}

func ints(v any) string { return fmt.Sprint(v) }

func TestExpectedCheckOnConstructedScans(t *testing.T) {
	ok := modbus.VerdictOK
	for _, c := range []struct {
		name       string
		expect     string
		devs       map[int]modbus.Verdict
		status     report.Status
		missing    string
		unexpected string
		hint       []string // each in the hint
		elsewhere  string
		exit       int
	}{
		{"exact match", "1-3,17", map[int]modbus.Verdict{1: ok, 2: ok, 3: ok, 17: ok}, report.OK, "[]", "[]", nil, "", 0},
		{"missing", "1-3,17,40", map[int]modbus.Verdict{1: ok, 2: ok, 3: ok, 17: ok}, report.Failed, "[40]", "[]",
			[]string{"40 did not answer", "power"}, "", 1},
		{"two missing", "1-3,17,40", map[int]modbus.Verdict{1: ok, 2: ok, 17: ok}, report.Failed, "[3 40]", "[]",
			[]string{"3, 40 did not answer"}, "", 1},
		{"unexpected", "1-2", map[int]modbus.Verdict{1: ok, 2: ok, 3: ok, 9: ok}, report.Warning, "[]", "[3 9]",
			[]string{"3, 9 answered, not expected", "--expect"}, "", 0},
		{"both", "1,2,40", map[int]modbus.Verdict{1: ok, 2: ok, 41: ok}, report.Failed, "[40]", "[41]",
			[]string{"40 did not answer", "41 answered, unexpected", "meant for 40"}, "", 1},
		// The collision is bus.unit17's failure: bus.expected counts 17
		// present and says where it is judged; the exit code is 1 from
		// bus.unit17 alone.
		{"collision at an expected address", "1-3,17", map[int]modbus.Verdict{1: ok, 2: ok, 3: ok, 17: modbus.VerdictCollision},
			report.OK, "[]", "[]", nil, "[17: collision, failed in bus.unit17]", 1},
		{"collision at an unexpected address", "1-3", map[int]modbus.Verdict{1: ok, 2: ok, 3: ok, 17: modbus.VerdictCollision},
			report.Warning, "[]", "[17]", []string{"17 answered, not expected"}, "", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, got := expectedOf(t, swept("1-247", c.expect, c.devs), nil)
			if got == nil {
				t.Fatalf("no bus.expected: %+v", rep.Checks)
			}
			ev := got.Evidence
			if got.Status != c.status || ints(ev["missing"]) != c.missing || ints(ev["unexpected"]) != c.unexpected {
				t.Fatalf("status %s missing %v unexpected %v, want %s %s %s (hint %q)", got.Status, ev["missing"], ev["unexpected"], c.status, c.missing, c.unexpected, got.Hint)
			}
			if _, ok := ev["expected"].([]int); !ok {
				t.Errorf("evidence expected is %T, want a list of addresses", ev["expected"])
			}
			if _, ok := ev["found"].([]int); !ok {
				t.Errorf("evidence found is %T, want a list of addresses", ev["found"])
			}
			for _, h := range c.hint {
				if !strings.Contains(got.Hint, h) {
					t.Errorf("hint %q lacks %q", got.Hint, h)
				}
			}
			if c.status == report.OK && got.Hint != "" {
				t.Errorf("ok with a hint %q", got.Hint)
			}
			if e, has := ev["failed_elsewhere"]; ints(e) != c.elsewhere && !(c.elsewhere == "" && !has) {
				t.Errorf("failed_elsewhere %v, want %q", e, c.elsewhere)
			}
			if code := rep.ExitCode(false); code != c.exit {
				t.Errorf("exit %d, want %d (checks %+v)", code, c.exit, rep.Checks)
			}
			if c.status == report.Failed && (rep.FirstFailure == nil || rep.FirstFailure.ID != modbus.CheckExpected) {
				t.Errorf("first failure %+v, want bus.expected", rep.FirstFailure)
			}
		})
	}
}

func TestExpectedCheckIsNotEmittedWithoutExpect(t *testing.T) {
	rep, got := expectedOf(t, swept("1-247", "", map[int]modbus.Verdict{1: modbus.VerdictOK}), nil)
	if got != nil {
		t.Fatalf("bus.expected without --expect: %+v", rep.Checks)
	}
}

// Silence proves nothing where nothing was asked: bus.expected is skipped
// when the port did not open, and calls the silent addresses unconfirmed
// (a warning) when the sweep stopped early.
func TestExpectedCheckWhenTheSweepDidNotFinish(t *testing.T) {
	r := &modbus.Result{Target: "rtu:///dev/ttyUSB9", Settings: modbus.Settings{Transport: "rtu", IDs: "1-247", Expect: "1,40"}}
	_, got := expectedOf(t, r, fmt.Errorf("open: %w", errors.New("no such file")))
	if got == nil || got.Status != report.Skipped || !strings.Contains(got.SkippedReason, "bus.sweep skipped") {
		t.Fatalf("open failed: %+v", got)
	}

	r = swept("1-247", "1,40", map[int]modbus.Verdict{1: modbus.VerdictOK})
	r.Sweep.Complete, r.Stopped = false, "interrupted"
	_, got = expectedOf(t, r, nil)
	if got == nil || got.Status != report.Warning || ints(got.Evidence["unconfirmed"]) != "[40]" || ints(got.Evidence["missing"]) != "[]" ||
		!strings.Contains(got.Hint, "interrupted") {
		t.Fatalf("interrupted sweep: %+v", got)
	}

	r = swept("1-247", "1,40", map[int]modbus.Verdict{1: modbus.VerdictOK})
	r.Sweep = modbus.Sweep{}
	r.Stopped = "foreign_master"
	_, got = expectedOf(t, r, nil)
	if got == nil || got.Status != report.Skipped {
		t.Fatalf("nothing sent (another master): %+v", got)
	}
}

func TestParseExpectKeepsWithinIDs(t *testing.T) {
	ids, _ := modbus.ParseIDs("1-20")
	if got, err := modbus.ParseExpect("", ids); got != nil || err != nil {
		t.Errorf("empty: %v %v", got, err)
	}
	if got, err := modbus.ParseExpect("1-3,17", ids); err != nil || fmt.Sprint(got) != "[1 2 3 17]" {
		t.Errorf("1-3,17: %v %v", got, err)
	}
	if _, err := modbus.ParseExpect("1-3,17,40-41", ids); err == nil || !strings.Contains(err.Error(), "40-41 not among") || !strings.Contains(err.Error(), "--ids 1-20") {
		t.Errorf("outside --ids: %v", err)
	}
	if _, err := modbus.ParseExpect("0,3", nil); err == nil {
		t.Error("0 accepted")
	}
	if got, err := modbus.ParseExpect("40", nil); err != nil || fmt.Sprint(got) != "[40]" {
		t.Errorf("sniff (no --ids): %v %v", got, err)
	}
}

// sniffed is a finished sniff: each device as requests/responses/doubles.
func sniffed(expect string, devs ...*modbus.SniffDevice) (*report.Report, *report.Check) {
	r := &modbus.SniffResult{Target: "rtu:///dev/ttyUSB1", Settings: modbus.Settings{Transport: "rtu", Expect: expect},
		ListenedMS: 1000, Frames: 10, Devices: devs}
	rep := report.New("scan sniff", r.Target, nil)
	r.Report(rep, nil)
	rep.Finish()
	for i, c := range rep.Checks {
		if c.ID == modbus.CheckExpected {
			return rep, &rep.Checks[i]
		}
	}
	return rep, nil
}

func TestExpectedCheckOnConstructedSniffs(t *testing.T) {
	answering := func(u int, v modbus.Verdict) *modbus.SniffDevice {
		return &modbus.SniffDevice{UnitID: u, Verdict: v, Requests: 10, Responses: 10}
	}
	silent := &modbus.SniffDevice{UnitID: 3, Verdict: modbus.VerdictNoAnswer, Requests: 10, NoResponse: 10}
	double := &modbus.SniffDevice{UnitID: 17, Verdict: modbus.VerdictCollision, Requests: 10, Responses: 10, DoubleAnswers: 4}

	_, got := sniffed("1-3,17,40", answering(1, modbus.VerdictOK), answering(2, modbus.VerdictOK), silent, double)
	if got == nil || got.Status != report.Failed || ints(got.Evidence["missing"]) != "[3 40]" || ints(got.Evidence["not_polled"]) != "[40]" ||
		!strings.Contains(got.Hint, "expected address 3, polled by the master in vain: a dead") || !strings.Contains(got.Hint, "never polled 40") ||
		ints(got.Evidence["failed_elsewhere"]) != "[17: collision, failed in bus.unit17]" {
		t.Fatalf("sniff: %+v", got)
	}

	rep, got := sniffed("1,17", answering(1, modbus.VerdictOK), answering(2, modbus.VerdictOK), double)
	if got == nil || got.Status != report.Warning || ints(got.Evidence["unexpected"]) != "[2]" || rep.FirstFailure.ID != "bus.unit17" {
		t.Fatalf("sniff, 2 unexpected: %+v first failure %+v", got, rep.FirstFailure)
	}

	if _, got := sniffed("", answering(1, modbus.VerdictOK)); got != nil {
		t.Fatalf("sniff without --expect: %+v", got)
	}
}
