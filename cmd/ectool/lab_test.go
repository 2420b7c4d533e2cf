package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab/tour"
)

func TestLabRefusesBadFlagsBeforeStarting(t *testing.T) {
	for _, args := range [][]string{
		{"lab", "--site", "a/b"},
		{"lab", "--site", "x+"},
		{"lab", "--port-base", "70000"},
		{"lab", "--duration", "-1s"},
		{"lab", "--meters", "main,main"},
		{"lab", "--interval", "1ns"},
		{"lab", "tour", "--timeout", "0s"},
		{"lab", "tour", "--site", "#"},
	} {
		code, out, errOut := runMain(t, args...)
		if code != ExitUsage || out != "" {
			t.Errorf("ectool %v: exit %d, stdout %q, want exit 2 and nothing on stdout (stderr %q)", args, code, out, errOut)
		}
		if lines := testenv.Lines(errOut); len(lines) != 1 {
			t.Errorf("ectool %v: want one line on stderr, got %q", args, errOut)
		}
	}
}

func TestLabOnATakenPortCannotRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	code, _, errOut := runMain(t, "lab", "--port-base", strconv.Itoa(port), "--duration", "1s")
	if code != ExitCannotRun || !strings.Contains(errOut, strconv.Itoa(port)) || !strings.Contains(errOut, "--port-base") {
		t.Errorf("lab on a taken port: exit %d, stderr %q; want exit 3 naming the port and --port-base", code, errOut)
	}
}

// asUser says who runs the binary: root (the test's own uid) or nobody.
type asUser struct {
	name string
	uid  int // -1: the test's own user
}

var labUsers = []asUser{{"root", -1}, {"nobody", 65534}}

// runAs runs the ectool binary with args as user u, from a directory every
// uid can reach, and returns exit code, stdout and stderr.
func runAs(t *testing.T, bin string, u asUser, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	tmp := testenv.PrivateDir(t)
	_ = os.Chmod(tmp, 0o1777)
	cmd.Dir = tmp
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TMPDIR=" + tmp, "HOME=" + tmp}
	if u.uid >= 0 {
		testenv.RequireRoot(t) // to run as uid u.uid
		setCredential(cmd, u.uid)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("ectool %v as %s did not finish in %s\nstdout: %s\nstderr: %s", args, u.name, timeout, out.String(), errOut.String())
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("running ectool: %v", err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// reachableBinary copies the ectool binary into a directory an
// unprivileged uid can read and run it from. Parallel subtests share one
// copy made by their parent: a copy written while a sibling forks leaks its
// open descriptor into that child, and running it fails with "text file
// busy" (golang/go#22315).
func reachableBinary(t *testing.T) string {
	t.Helper()
	return testenv.CopyBinary(t)
}

func TestLabRunsForItsDurationAndPrintsItsEndpoints(t *testing.T) {
	bin := reachableBinary(t)
	for _, u := range labUsers {
		t.Run(u.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runAs(t, bin, u, 30*time.Second, "lab", "--duration", "2s", "--interval", "200ms", "-o", "json")
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, errOut)
			}
			var ep struct {
				Schema string `json:"schema"`
				Site   string `json:"site"`
				Dir    string `json:"dir"`
				Broker struct {
					MQTT   string `json:"mqtt"`
					MQTTS  string `json:"mqtts"`
					WS     string `json:"ws"`
					MTLS   string `json:"mtls"`
					CAFile string `json:"ca_file"`
					Users  []struct {
						Username     string `json:"username"`
						Password     string `json:"password"`
						PasswordFile string `json:"password_file"`
					} `json:"users"`
					DeniedTopic string `json:"denied_topic"`
				} `json:"broker"`
				Gateway struct {
					Topics      []string `json:"topics"`
					StatusTopic string   `json:"status_topic"`
				} `json:"gateway"`
			}
			if err := json.Unmarshal([]byte(out), &ep); err != nil {
				t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
			}
			if ep.Schema != "ectool.lab/v1" || ep.Site != "lab" || !strings.HasPrefix(ep.Broker.MQTT, "mqtt://127.0.0.1:") ||
				!strings.HasPrefix(ep.Broker.MQTTS, "mqtts://127.0.0.1:") || !strings.HasPrefix(ep.Broker.WS, "ws://127.0.0.1:") || !strings.HasPrefix(ep.Broker.MTLS, "mqtts://127.0.0.1:") ||
				len(ep.Broker.Users) != 3 || len(ep.Gateway.Topics) != 3 || ep.Broker.DeniedTopic == "" ||
				filepath.Dir(ep.Broker.CAFile) != ep.Dir {
				t.Errorf("endpoints document: %s", out)
			}
			if _, err := os.Stat(ep.Dir); !os.IsNotExist(err) {
				t.Errorf("the lab directory %s outlived the lab: %v", ep.Dir, err)
			}
			if !strings.Contains(errOut, "lab stopped") {
				t.Errorf("stderr does not say the lab stopped: %q", errOut)
			}
		})
	}
}

func TestLabTourShowsEveryStepAsExpected(t *testing.T) {
	bin := reachableBinary(t)
	for _, u := range labUsers {
		t.Run(u.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runAs(t, bin, u, 4*time.Minute, "lab", "tour", "-o", "json")
			var r struct {
				Schema string `json:"schema"`
				Checks []struct {
					ID     string `json:"id"`
					Status string `json:"status"`
					Hint   string `json:"hint"`
				} `json:"checks"`
				FirstFailure *struct{ ID string } `json:"first_failure"`
				Details      struct {
					Steps struct {
						Total      int `json:"total"`
						AsExpected int `json:"as_expected"`
					} `json:"steps"`
					Lab struct {
						Schema string `json:"schema"`
					} `json:"lab"`
				} `json:"details"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("stdout is not one JSON report: %v\n%s\nstderr:\n%s", err, out, errOut)
			}
			if r.Schema != "ectool.report/v1" || r.Details.Lab.Schema != "ectool.lab/v1" ||
				r.Details.Steps.Total != len(r.Checks) || r.Details.Steps.AsExpected != len(r.Checks) {
				t.Errorf("report shape: schema %q, details %+v", r.Schema, r.Details)
			}
			testenv.AssertChecksDocumented(t, []byte(out))
			if len(r.Checks) != len(tour.Steps()) {
				t.Errorf("%d checks, want one per step (%d)", len(r.Checks), len(tour.Steps()))
			}
			for _, c := range r.Checks {
				if c.Status != "ok" {
					t.Errorf("%s: %s (%s)", c.ID, c.Status, c.Hint)
				}
			}
			if code != 0 || r.FirstFailure != nil {
				t.Errorf("exit %d, first failure %v; want 0 and none\nstderr:\n%s", code, r.FirstFailure, errOut)
			}
			for _, want := range []string{"$ ectool mqtt sub", "$ ectool mqtt check", "steps behaved as expected"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("the walk-through on stderr lacks %q", want)
				}
			}
		})
	}
}

func TestLabTourSaysWhichStepsDidNotBehave(t *testing.T) {
	// A binary that shows nothing and exits 1: every step must come out
	// failed (the ones expecting exit 1 find no report to judge).
	f := testenv.Require(t, "false")
	var out, errOut bytes.Buffer
	app := &App{IO: &Streams{Out: &out, ErrOut: &errOut}, Output: "json", Now: time.Now, Getenv: func(string) string { return "" }}
	opts := &labTourOptions{app: app, Timeout: 20 * time.Second, Executable: f,
		flags: labFlags{Site: "lab", Interval: time.Second, Meters: []string{"main"}}}
	code := app.handleError(labTourRun(t.Context(), opts))
	if code != ExitProblem {
		t.Fatalf("exit %d, want 1\n%s", code, errOut.String())
	}
	var r struct {
		Checks []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Hint   string `json:"hint"`
		} `json:"checks"`
		FirstFailure *struct{ ID string } `json:"first_failure"`
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("not a JSON report: %v\n%s", err, out.String())
	}
	if r.FirstFailure == nil || r.FirstFailure.ID != "tour.retained" {
		t.Errorf("first failure %+v, want tour.retained", r.FirstFailure)
	}
	if len(r.Checks) != len(tour.Steps()) {
		t.Errorf("%d checks, want one per step (%d)", len(r.Checks), len(tour.Steps()))
	}
	for _, c := range r.Checks {
		// Off Linux a lab without PTYs skips the steps that open one.
		if c.Status != "failed" && (runtime.GOOS == "linux" || c.Status != "skipped") {
			t.Errorf("%s is %s although the binary did nothing", c.ID, c.Status)
		}
		if c.Status == "failed" && c.Hint == "" {
			t.Errorf("%s failed without a hint", c.ID)
		}
	}
	if !strings.Contains(errOut.String(), "not as expected") {
		t.Errorf("the walk-through does not say a step went wrong:\n%s", errOut.String())
	}
}

func TestLabTourInsideATestBinaryDoesNotRunItself(t *testing.T) {
	// Without an Executable the tour would exec os.Executable(), this very
	// test binary, once per step: it must refuse instead.
	code, out, errOut := runMain(t, "lab", "tour", "--interval", "1s")
	if code != ExitCannotRun || out != "" || !strings.Contains(errOut, "test binary") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 3 naming the test binary", code, out, errOut)
	}
}

func TestLabTourTextEndsWithTheVerdictOfEachStep(t *testing.T) {
	f := testenv.Require(t, "false")
	var out, errOut bytes.Buffer
	app := &App{IO: &Streams{Out: &out, ErrOut: &errOut}, Output: "text", Now: time.Now, Getenv: func(string) string { return "" }}
	opts := &labTourOptions{app: app, Timeout: 20 * time.Second, Executable: f,
		flags: labFlags{Site: "lab", Interval: time.Second, Meters: []string{"main"}}}
	if code := app.handleError(labTourRun(t.Context(), opts)); code != ExitProblem {
		t.Fatalf("exit %d, want 1\n%s", code, errOut.String())
	}
	text := out.String()
	for _, want := range []string{"$ ectool mqtt sub", "✗ not as expected:", "steps behaved as expected", "[FAIL] tour.retained", "FAILED at tour.retained"} {
		if !strings.Contains(text, want) {
			t.Errorf("the tour's text output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "commands=") {
		t.Errorf("the closing report repeats the commands the walk-through showed:\n%s", text)
	}
}
