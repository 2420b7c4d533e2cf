package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
)

// startSubProc runs `ectool mqtt sub -v` in the background, both streams
// watched, and returns once it has subscribed.
func startSubProc(t *testing.T, args ...string) *watchProc {
	t.Helper()
	p := startWatchCmd(t, append([]string{"mqtt", "sub", "-v"}, args...)...)
	p.errOut.waitFor(t, "debug: subscribed", 20*time.Second)
	return p
}

// seqPayload is what `pub --seq` sends, from publisher src.
func seqPayload(src string, n int) string {
	return fmt.Sprintf(`{"seq":%d,"ts":%d,"src":%q}`, n, time.Now().UnixNano(), src)
}

// tryMosquittoPub publishes once and says whether mosquitto_pub could.
func tryMosquittoPub(t *testing.T, b *testenv.Mosquitto, args ...string) bool {
	t.Helper()
	bin := testenv.Require(t, "mosquitto_pub")
	return exec.Command(bin, append([]string{"-h", b.Host, "-p", strconv.Itoa(b.Port)}, args...)...).Run() == nil
}

type subSummaryLine struct {
	Summary *struct {
		Received int  `json:"received"`
		Lost     *int `json:"lost"`
		Outages  []struct {
			Start           string         `json:"start"`
			End             string         `json:"end"`
			Reconnected     bool           `json:"reconnected"`
			Reason          string         `json:"reason"`
			Attempts        int            `json:"attempts"`
			Lost            *int           `json:"lost"`
			LostByPublisher map[string]int `json:"lost_by_publisher"`
		} `json:"outages"`
	} `json:"summary"`
}

// The broker is stopped and restarted on the same port under a running
// `sub --expect-seq`: sub reconnects, reports one outage, and counts the
// messages the publisher tried to send while the broker was down as lost
// across it, on MQTT 5 and 3.1.1.
func TestSubSurvivesABrokerRestartAndCountsWhatWasLostAcrossIt(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{NoQueueLimits: true})
	for _, v := range mqttVersions {
		topic := "restart/" + v.ectool
		p := startSubProc(t, "-b", b.URL, "--mqtt-version", v.ectool, "-t", topic, "-q", "1", "--expect-seq", "--timeout", "60s", "-o", "json")
		pub := func(n int) bool {
			return tryMosquittoPub(t, b, "-V", v.mosquitto, "-q", "1", "-t", topic, "-m", seqPayload("meter17", n))
		}
		seq := 0
		for ; seq < 5; seq++ {
			if !pub(seq + 1) {
				t.Fatalf("MQTT %s: publishing %d to the running broker failed", v.ectool, seq+1)
			}
		}
		p.out.waitFor(t, `"seq":5,`, 20*time.Second)

		b.Stop()
		p.errOut.waitFor(t, "connection to the broker lost at", 20*time.Second)
		down := 0 // counted from the publisher's side: sent while the broker was down
		for i := 0; i < 3; i++ {
			seq++
			if pub(seq) {
				t.Fatalf("MQTT %s: publishing %d succeeded with the broker stopped", v.ectool, seq)
			}
			down++
		}
		b.Restart()
		p.errOut.waitFor(t, "reconnected and subscribed again", 30*time.Second)
		for i := 0; i < 4; i++ {
			seq++
			if !pub(seq) {
				t.Fatalf("MQTT %s: publishing %d after the restart failed", v.ectool, seq)
			}
		}
		p.out.waitFor(t, fmt.Sprintf(`"seq":%d,`, seq), 20*time.Second)
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		code := p.wait(t)
		lines := testenv.AssertStream(t, []byte(p.out.String()))
		if code != 1 {
			t.Fatalf("MQTT %s: exit %d, want 1 (messages lost): %s", v.ectool, code, p.errOut.String())
		}
		var sum subSummaryLine
		for _, l := range lines {
			if strings.HasPrefix(string(l), `{"summary"`) {
				_ = json.Unmarshal(l, &sum)
			}
		}
		s := sum.Summary
		if s == nil || s.Lost == nil || len(s.Outages) != 1 {
			t.Fatalf("MQTT %s: summary %s", v.ectool, p.out.String())
		}
		g := s.Outages[0]
		if s.Received != seq-down || *s.Lost < down || !g.Reconnected || g.End == "" || g.Reason == "" || g.Attempts < 1 ||
			g.Lost == nil || *g.Lost != down || g.LostByPublisher["meter17"] != down {
			t.Fatalf("MQTT %s: %d sent while down; summary %+v, outage %+v", v.ectool, down, *s, g)
		}
		if !strings.Contains(p.errOut.String(), "lost") {
			t.Errorf("MQTT %s: stderr does not say messages were lost: %s", v.ectool, p.errOut.String())
		}
	}
}

// --no-reconnect keeps the old behaviour: the first loss ends the run.
func TestSubNoReconnectEndsAtTheFirstLoss(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	p := startSubProc(t, "-b", b.URL, "-t", "nr/#", "--no-reconnect", "--timeout", "60s")
	b.Stop()
	code := p.wait(t)
	if code != 1 || !strings.Contains(p.errOut.String(), "lost") || strings.Contains(p.errOut.String(), "reconnecting") {
		t.Fatalf("exit %d: %s", code, p.errOut.String())
	}
}

// Ctrl-C on a plain sub ends with what arrived, on stderr (stdout holds
// only the messages).
func TestSubCtrlCEndsWithTheSummary(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	p := startSubProc(t, "-b", b.URL, "-t", "cc/#", "-q", "1")
	for i := 0; i < 3; i++ {
		mosquittoPub(t, b, "-q", "1", "-t", "cc/a", "-m", fmt.Sprint(i))
	}
	p.out.waitFor(t, "cc/a 2\n", 20*time.Second)
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	code := p.wait(t)
	if code != 0 || p.out.String() != "cc/a 0\ncc/a 1\ncc/a 2\n" || !strings.Contains(p.errOut.String(), "summary: received 3 message(s)") {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, p.out.String(), p.errOut.String())
	}
}
