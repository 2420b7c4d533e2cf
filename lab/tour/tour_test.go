package tour

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// allSteps are the tour's steps.
func allSteps() []Step { return Steps() }

func TestEveryStepIsDocumentedOnce(t *testing.T) {
	documented := testenv.DocumentedChecks(t)
	seen := map[string]bool{}
	for _, s := range allSteps() {
		if !strings.HasPrefix(s.ID, "tour.") || seen[s.ID] || !documented(s.ID) || s.Title == "" || s.Explain == "" || s.Run == nil {
			t.Errorf("step %q: want a unique tour.* ID listed in docs/checks.md, a title, an explanation and a Run", s.ID)
		}
		seen[s.ID] = true
	}
}

func TestTheTourRefusesToRunATestBinary(t *testing.T) {
	_, err := Executable()
	var tb *TestBinaryError
	if !errors.As(err, &tb) || !strings.HasSuffix(tb.Name, ".test") {
		t.Errorf("Executable() inside go test: %v, want a *TestBinaryError", err)
	}
}

// startLab starts a small lab in this process.
func startLab(t *testing.T) *lab.Site {
	t.Helper()
	site, err := lab.Start(t.Context(), lab.Config{Gateway: lab.GatewayConfig{Interval: time.Second, Meters: []string{"main"}}})
	if err != nil {
		t.Fatalf("starting the lab: %v", err)
	}
	t.Cleanup(func() { _ = site.Stop() })
	return site
}

// recorder is a Narrator that keeps what it heard.
type recorder struct {
	silent
	commands []string
	outputs  int
}

func (r *recorder) Command(c *Command) { r.commands = append(r.commands, c.Line()) }
func (r *recorder) Output(*Command)    { r.outputs++ }

func TestEveryStepFailsWhenTheBinaryDoesNothing(t *testing.T) {
	// `false` prints nothing and exits 1: the steps expecting exit 1 find
	// no report to judge, the others the wrong exit code.
	f := testenv.Require(t, "false")
	site := startLab(t)
	rec := &recorder{}
	res, err := Run(t.Context(), Options{Site: site, Executable: f, Timeout: 20 * time.Second, Narrator: rec, Steps: allSteps()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Report.Checks {
		// Off Linux a lab without PTYs skips the steps that open one.
		if c.Status != report.Failed && (runtime.GOOS == "linux" || c.Status != report.Skipped) {
			t.Errorf("%s is %s although the binary did nothing", c.ID, c.Status)
		}
		if c.Status == report.Failed && c.Hint == "" {
			t.Errorf("%s failed without a hint", c.ID)
		}
	}
	if res.NotAsExpected == 0 || res.Report.FirstFailure == nil || res.Report.FirstFailure.ID != "tour.retained" {
		t.Errorf("first failure %+v, %d not as expected", res.Report.FirstFailure, res.NotAsExpected)
	}
	if len(rec.commands) < len(allSteps()) || rec.outputs == 0 || !strings.HasSuffix(rec.commands[0], " -o json") {
		t.Errorf("the narrator heard %d commands (%q...), %d outputs", len(rec.commands), rec.commands[:min(1, len(rec.commands))], rec.outputs)
	}
}

// labAs runs `ectool lab` as uid (-1: this process's user) and returns it
// as a Site the tour can use: the endpoints document it prints first.
func labAs(t *testing.T, bin string, uid int) *lab.Site {
	t.Helper()
	cmd := exec.Command(bin, "lab", "--no-bus", "--meters", "main", "--duration", "3m", "-o", "json")
	dir := testenv.PrivateDir(t)
	_ = os.Chmod(dir, 0o1777)
	cmd.Dir, cmd.Env = dir, []string{"PATH=/usr/bin:/bin", "TMPDIR=" + dir, "HOME=" + dir}
	if uid >= 0 {
		testenv.RunAs(t, cmd, uid)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	// The endpoints come first, while the lab runs; the read ends when
	// the lab does (--duration), never a hang.
	line, err := bufio.NewReader(out).ReadBytes('\n')
	var ep lab.Endpoints
	if err != nil || json.Unmarshal(line, &ep) != nil || ep.Broker == nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("the lab's endpoints: %v %q\n%s", err, line, errOut.String())
	}
	return &lab.Site{Endpoints: ep, Config: lab.Config{Dir: ep.Dir}}
}

// setPingRange sets net.ipv4.ping_group_range in the test's own network
// namespace and puts it back when the test ends.
func setPingRange(t *testing.T, value string) {
	t.Helper()
	testenv.RequireNetns(t)
	const p = "/proc/sys/net/ipv4/ping_group_range"
	old, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		t.Fatalf("setting ping_group_range: %v", err)
	}
	t.Cleanup(func() { _ = os.WriteFile(p, old, 0o644) })
}

func TestProbeNetStepsAgainstTheLab(t *testing.T) {
	bin := testenv.CopyBinary(t)
	for _, tc := range []struct {
		name  string
		uid   int
		pings string // net.ipv4.ping_group_range ("": as it is)
		icmp  report.Status
	}{
		{"root, raw socket", -1, "", report.OK},
		{"nobody in ping_group_range", testenv.Nobody, "0 2147483647", report.OK},
		{"nobody outside ping_group_range", testenv.Nobody, "1 0", report.Skipped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.pings != "" {
				setPingRange(t, tc.pings)
			}
			site := labAs(t, bin, tc.uid)
			o := Options{Site: site, Executable: bin, Timeout: 30 * time.Second, Steps: []Step{probeNetStep, probeRefusedStep}}
			if tc.uid >= 0 {
				o.prepare = func(c *exec.Cmd) { testenv.RunAs(t, c, tc.uid) }
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			res, err := Run(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range res.Report.Checks {
				if c.Status != report.OK {
					t.Errorf("%s: %s (%s)", c.ID, c.Status, c.Hint)
				}
			}
			icmp, _ := res.Report.Checks[0].Evidence["icmp"].(string)
			if tc.icmp == report.Skipped && !strings.HasPrefix(icmp, "skipped: ") || tc.icmp == report.OK && icmp != "ok" {
				t.Errorf("icmp %q, want %s", icmp, tc.icmp)
			}
		})
	}
}
