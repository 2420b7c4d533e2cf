package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
)

// watchProc is ectool running in the background: `mqtt check --every`,
// `mqtt sub`.
type watchProc struct {
	cmd    *exec.Cmd
	out    *watchedBuffer
	errOut *watchedBuffer
}

func startWatch(t *testing.T, args ...string) *watchProc {
	t.Helper()
	return startWatchCmd(t, append([]string{"mqtt", "check"}, args...)...)
}

// startWatchCmd runs ectool with args in the background, both streams
// watched.
func startWatchCmd(t *testing.T, args ...string) *watchProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	p := &watchProc{out: newWatchedBuffer(), errOut: newWatchedBuffer()}
	p.cmd = exec.CommandContext(ctx, testenv.Binary(t), args...)
	p.cmd.Env = append(os.Environ(), "ECTOOL_MQTT_BROKER=", "ECTOOL_MQTT_PASSWORD=", "NO_COLOR=1")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errOut
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *watchProc) wait(t *testing.T) int {
	t.Helper()
	err := p.cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return 0
}

type watchEvidence struct {
	Rounds          int      `json:"rounds"`
	OKRounds        int      `json:"ok_rounds"`
	AvailabilityPct float64  `json:"availability_pct"`
	RTTp50          *float64 `json:"rtt_p50_ms"`
	Failures        []struct {
		Round  int    `json:"round"`
		Time   string `json:"time"`
		Layer  string `json:"layer"`
		Check  string `json:"check"`
		Reason string `json:"reason"`
	} `json:"failures"`
}

func TestCheckEveryCountsABrokerRestartAgainstAvailabilityAndNamesTCP(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{NoQueueLimits: true})
	const rounds = 25
	p := startWatch(t, "-b", b.URL, "--every", "200ms", "--rounds", "25", "--qos-levels", "1", "--count", "1", "--timeout", "3s", "-o", "json")
	p.out.waitFor(t, `"ok":true`, 30*time.Second)
	b.Stop()
	p.out.waitFor(t, `"layer":"tcp"`, 30*time.Second)
	b.Restart()
	code := p.wait(t)
	lines := testenv.AssertStream(t, []byte(p.out.String()))
	if code != 1 {
		t.Fatalf("exit %d, want 1 (availability below 100%%): %s", code, p.errOut.String())
	}
	if len(lines) != rounds+1 {
		t.Fatalf("%d lines, want %d rounds and the report", len(lines), rounds)
	}
	failed := 0
	for i, l := range lines[:rounds] {
		var rec struct {
			Round int    `json:"round"`
			OK    bool   `json:"ok"`
			Time  string `json:"time"`
			Layer string `json:"layer"`
		}
		if err := json.Unmarshal(l, &rec); err != nil || rec.Round != i+1 || !strings.HasSuffix(rec.Time, "Z") {
			t.Fatalf("round record %d: %s (%v)", i+1, l, err)
		}
		if !rec.OK {
			failed++
		}
	}
	last := lines[rounds]
	testenv.AssertChecksDocumented(t, last)
	var rep struct {
		Checks []struct {
			ID       string        `json:"id"`
			Status   string        `json:"status"`
			Evidence watchEvidence `json:"evidence"`
		} `json:"checks"`
		FirstFailure *struct{ ID string } `json:"first_failure"`
	}
	if err := json.Unmarshal(last, &rep); err != nil || len(rep.Checks) != 1 {
		t.Fatalf("report: %v: %s", err, last)
	}
	c := rep.Checks[0]
	ev := c.Evidence
	if c.ID != "mqtt.availability" || c.Status != "failed" || rep.FirstFailure == nil || rep.FirstFailure.ID != "mqtt.availability" {
		t.Fatalf("check %s %s, want mqtt.availability failed: %s", c.ID, c.Status, last)
	}
	if ev.Rounds != rounds || ev.OKRounds < 1 || ev.Rounds-ev.OKRounds != failed || ev.AvailabilityPct >= 100 || len(ev.Failures) != failed || ev.RTTp50 == nil {
		t.Fatalf("evidence %+v (%d failed round records): %s", ev, failed, last)
	}
	tcp := 0
	for _, f := range ev.Failures {
		if f.Layer == "tcp" && f.Check == "mqtt.tcp" && strings.HasSuffix(f.Time, "Z") && strings.Contains(f.Reason, "refused") {
			tcp++
		}
	}
	if tcp == 0 {
		t.Fatalf("no failed round names TCP (connection refused): %+v", ev.Failures)
	}
}

func TestCheckEveryEndsWithTheSummaryOnCtrlCAfterTheLinkCameBack(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{NoQueueLimits: true})
	p := startWatch(t, "-b", b.URL, "--every", "200ms", "--qos-levels", "0,1", "--count", "2", "--timeout", "3s", "--min-availability", "0")
	p.out.waitFor(t, "round 1 ", 30*time.Second)
	b.Stop()
	p.out.waitFor(t, "FAIL at TCP (mqtt.tcp)", 30*time.Second)
	b.Restart()
	// An ok round after the failed one: the watch saw the broker come back.
	// (How many rounds failed meanwhile depends on the machine's load, so
	// the threshold is 0: the verdict is a warning whatever the share.)
	p.out.waitUntil(t, "ok round after the outage", 30*time.Second, func(out string) bool {
		i := strings.Index(out, "FAIL at TCP")
		return i >= 0 && strings.Contains(out[i:], "  ok ")
	})
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	code := p.wait(t)
	out := p.out.String()
	if code != 0 {
		t.Fatalf("exit %d, want 0 (--min-availability 0 tolerates any failed round): %s\n%s", code, p.errOut.String(), out)
	}
	for _, want := range []string{"[warn] mqtt.availability", "failures_by_layer=", `"tcp":`, "OK with 1 warning(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckEveryFlagsAreWordedUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--every", "0s"}, "--every 0s: want a positive duration"},
		{[]string{"--every", "-1s"}, "--every -1s: want a positive duration"},
		{[]string{"--every", "30"}, "has no unit: give 30s"},
		{[]string{"--rounds", "3"}, "--rounds only applies to a watch: add --every"},
		{[]string{"--min-availability", "99"}, "--min-availability only applies to a watch"},
		{[]string{"--every", "1s", "--rounds", "3", "--duration", "1m"}, "--rounds and --duration both end a watch"},
		{[]string{"--every", "1s", "--rounds", "0"}, "--rounds 0: want 1 or more"},
		{[]string{"--every", "1s", "--min-availability", "100.5"}, "--min-availability 100.5: want a percentage from 0 to 100"},
		{[]string{"--every", "1s", "--deny-topic", "other/meter"}, "--deny-topic tests the broker's ACL once"},
	} {
		_, errOut, code := ectoolMQTT(t, append([]string{"check", "-b", "mqtt://127.0.0.1:1"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

// Ctrl-C during the first round: nothing to judge, said once (the report's
// skipped check on stdout, the words on stderr), exit 1.
func TestCheckEveryInterruptedInItsFirstRoundJudgesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never answered: CONNECT waits
		}
	}()
	p := startWatch(t, "-b", "mqtt://"+ln.Addr().String(), "--every", "1s", "--timeout", "30s", "-o", "json")
	var held net.Conn
	select {
	case held = <-accepted:
		defer held.Close()
	case <-time.After(30 * time.Second):
		t.Fatal("the watch did not connect")
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	code := p.wait(t)
	lines := testenv.AssertStream(t, []byte(p.out.String()))
	if code != 1 || len(lines) != 1 || !strings.Contains(string(lines[0]), `"status":"skipped"`) ||
		!strings.Contains(p.errOut.String(), "interrupted before the first round ended") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, p.out.String(), p.errOut.String())
	}
}
