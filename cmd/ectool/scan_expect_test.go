package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/lab/bus"
	"github.com/ecdata/ectool/lab/bus/bustest"
)

// expectedReport is what the --expect tests read of a report.
type expectedReport struct {
	Checks []struct {
		ID, Status, Hint string
		Evidence         map[string]any
	}
	FirstFailure *struct{ ID string } `json:"first_failure"`
}

func (r expectedReport) check(t *testing.T, id string) (status, hint string, ev map[string]any) {
	t.Helper()
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Status, c.Hint, c.Evidence
		}
	}
	t.Fatalf("no %s in %+v", id, r.Checks)
	return
}

func runExpect(t *testing.T, args ...string) (int, expectedReport) {
	t.Helper()
	code, out, errOut := runMain(t, append(args, "-o", "json")...)
	var r expectedReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("exit %d, not one JSON report: %v\n%s\n%s", code, err, out, errOut)
	}
	return code, r
}

func TestScanExpectUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"scan", "/dev/ttyUSB0", "--expect", "0,1"},
		{"scan", "/dev/ttyUSB0", "--expect", "1-3,x"},
		{"scan", "/dev/ttyUSB0", "--ids", "1-20", "--expect", "1-3,40"},
		{"scan", "sniff", "/dev/ttyUSB0", "--expect", "248"},
	} {
		code, _, errOut := runMain(t, args...)
		if code != ExitUsage || !strings.Contains(errOut, "--expect") {
			t.Errorf("%v: exit %d, want 2 naming --expect (stderr %q)", args, code, errOut)
		}
	}
}

// The default lab bus holds meters 1, 2, 3 and twins at 17.
func TestScanExpectHoldsTheLabBusToItsPlan(t *testing.T) {
	_, pty := bustest.StartPTY(t, "default")
	scan := []string{"scan", pty.Path(), "--ids", "1-3,17,20,40", "--listen", "300ms", "--timeout", "250ms"}

	code, r := runExpect(t, append(scan, "--expect", "1-3,17,40")...)
	st, hint, ev := r.check(t, "bus.expected")
	if code != ExitProblem || st != "failed" || fmt.Sprint(ev["missing"]) != "[40]" || !strings.Contains(hint, "40 did not answer") ||
		fmt.Sprint(ev["found"]) != "[1 2 3 17]" || fmt.Sprint(ev["unexpected"]) != "[]" {
		t.Fatalf("--expect 1-3,17,40: exit %d, bus.expected %s %v hint %q", code, st, ev, hint)
	}

	// The collision at 17 is bus.unit17's failure alone.
	code, r = runExpect(t, append(scan, "--expect", "1-3,17")...)
	st, hint, ev = r.check(t, "bus.expected")
	if st != "ok" || hint != "" || fmt.Sprint(ev["missing"]) != "[]" || fmt.Sprint(ev["failed_elsewhere"]) != "[17: collision, failed in bus.unit17]" {
		t.Fatalf("--expect 1-3,17: bus.expected %s %v hint %q", st, ev, hint)
	}
	if u17, _, _ := r.check(t, "bus.unit17"); code != ExitProblem || u17 != "failed" || r.FirstFailure == nil || r.FirstFailure.ID != "bus.unit17" {
		t.Fatalf("--expect 1-3,17: exit %d, bus.unit17 %s, first failure %+v", code, u17, r.FirstFailure)
	}

	// Without --expect the check is not there.
	_, r = runExpect(t, "scan", pty.Path(), "--ids", "1", "--listen", "0", "--timeout", "250ms")
	for _, c := range r.Checks {
		if c.ID == "bus.expected" {
			t.Fatalf("bus.expected without --expect: %+v", r.Checks)
		}
	}
}

// sniff: the other master polls meter 2 only; meter 1, on the bus but
// never polled, is silent as far as the master's traffic shows.
func TestScanSniffExpectNamesTheAddressesTheMasterNeverHears(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean", func(cfg *bus.Config) {
		cfg.Faults.SecondMaster = &bus.SecondMaster{Unit: 2, Every: 150 * time.Millisecond}
	})
	code, r := runExpect(t, "scan", "sniff", pty.Path(), "--duration", "1s", "--expect", "1,2")
	st, hint, ev := r.check(t, "bus.expected")
	if code != ExitProblem || st != "failed" || fmt.Sprint(ev["missing"]) != "[1]" || fmt.Sprint(ev["not_polled"]) != "[1]" ||
		fmt.Sprint(ev["found"]) != "[2]" || !strings.Contains(hint, "never polled 1") {
		t.Fatalf("sniff --expect 1,2: exit %d, bus.expected %s %v hint %q", code, st, ev, hint)
	}
}
