package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab/bus/bustest"
)

// --timeout is one type everywhere: a duration, or auto where the command
// finds its own wait (scan on a serial line). Elsewhere auto is a worded
// usage error, before any I/O.
func TestTimeoutAutoIsAUsageErrorWhereTheCommandHasNone(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mqtt", "pub", "-b", "mqtt://127.0.0.1:1", "-t", "x", "-m", "y", "--timeout", "auto"}, `--timeout: "auto" is not valid: this command has no automatic timeout (scan has`},
		{[]string{"modbus", "read", "rtu:///dev/null", "--unit", "1", "--timeout", "auto", "40001"}, `--timeout: "auto" is not valid: this command has no automatic timeout`},
		{[]string{"probe", "net", "127.0.0.1", "--timeout", "auto"}, `"auto" is not valid`},
		{[]string{"scan", "tcp://127.0.0.1:1", "--timeout", "auto"}, "--timeout auto needs a serial line"},
		{[]string{"scan", "/dev/null", "--timeout", "soon"}, `--timeout: "soon" is not valid: give a duration such as 500ms, 5s or 2m, or auto`},
	} {
		code, out, errOut := runMain(t, tc.args...)
		lines := testenv.Lines(errOut)
		if code != ExitUsage || out != "" || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
			t.Errorf("ectool %v: exit %d, stderr %q; want exit 2 and one line containing %q", tc.args, code, errOut, tc.want)
		}
	}
}

// scan --timeout auto on the lab bus with the slow meter and the twins:
// every device found, the twins a collision, the slow meter ok, and the
// report says the wait was automatic. (One retry, as in probe/modbus's
// TestAutoTimeoutGivesTheVerdictsOfAFixedLongTimeout: a simulator starved
// by a loaded test machine can lose a request whatever the wait.)
func TestScanTimeoutAutoOnTheLabBus(t *testing.T) {
	_, pty := bustest.StartPTY(t, "slow-twins")
	code, out, errOut := runMain(t, "scan", pty.Path(), "--ids", "1-20", "--listen", "0", "--timeout", "auto", "--retries", "1", "-o", "json")
	if code != ExitProblem {
		t.Fatalf("exit %d, want 1 (a collision)\n%s\n%s", code, out, errOut)
	}
	testenv.AssertChecksDocumented(t, []byte(out))
	var r struct {
		Checks []struct {
			ID       string
			Status   string
			Evidence map[string]any
		}
		Details struct {
			Devices []struct {
				UnitID  int    `json:"unit_id"`
				Verdict string `json:"verdict"`
			}
			Settings map[string]any
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range r.Details.Devices {
		got = append(got, itoaTest(d.UnitID)+":"+d.Verdict)
	}
	if strings.Join(got, " ") != "1:ok 2:ok 3:ok 9:ok 17:collision" {
		t.Errorf("verdicts %v, want 1:ok 2:ok 3:ok 9:ok 17:collision", got)
	}
	if r.Details.Settings["timeout_auto"] != true {
		t.Errorf("settings %v: want timeout_auto", r.Details.Settings)
	}
	for _, c := range r.Checks {
		if c.ID == "bus.sweep" && (c.Evidence["timeout"] != "auto" || c.Evidence["wait_ms"] == nil) {
			t.Errorf("bus.sweep evidence %v: want timeout auto and wait_ms", c.Evidence)
		}
	}
}

func itoaTest(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
