package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/internal/testenv"
)

type subJSONLine struct {
	Time          string   `json:"time"`
	Topic         string   `json:"topic"`
	QoS           int      `json:"qos"`
	Retain        bool     `json:"retain"`
	Dup           bool     `json:"dup"`
	Payload       *string  `json:"payload"`
	PayloadBase64 *string  `json:"payload_base64"`
	Seq           *uint64  `json:"seq"`
	LatencyMS     *float64 `json:"latency_ms"`
	Properties    *struct {
		ContentType    string `json:"content_type"`
		UserProperties []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"user_properties"`
	} `json:"properties"`
	Summary *struct {
		Received   int `json:"received"`
		Lost       int `json:"lost"`
		Duplicated int `json:"duplicated"`
		OutOfOrder int `json:"out_of_order"`
	} `json:"summary"`
}

func decodeLines(t *testing.T, out string) []subJSONLine {
	t.Helper()
	var lines []subJSONLine
	for _, l := range testenv.Lines(out) {
		var v subJSONLine
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("not a JSON line: %q: %v", l, err)
		}
		lines = append(lines, v)
	}
	return lines
}

// startSub runs `ectool mqtt sub -v` in the background and returns once it
// has subscribed (it says so on stderr); the returned function waits for it.
func startSub(t *testing.T, args ...string) func() (string, string, int) {
	t.Helper()
	wait, _ := startSubWatching(t, args...)
	return wait
}

// watchedBuffer is a process's stdout that a test can wait on.
type watchedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced at each write
}

func newWatchedBuffer() *watchedBuffer { return &watchedBuffer{changed: make(chan struct{})} }

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.changed)
	w.changed = make(chan struct{})
	return w.buf.Write(p)
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor waits until the output contains s.
func (w *watchedBuffer) waitFor(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	w.waitUntil(t, fmt.Sprintf("%q", s), timeout, func(out string) bool { return strings.Contains(out, s) })
}

// waitUntil waits until ok holds for the output so far.
func (w *watchedBuffer) waitUntil(t *testing.T, what string, timeout time.Duration, ok func(out string) bool) {
	t.Helper()
	limit := time.After(timeout)
	for {
		w.mu.Lock()
		found, changed := ok(w.buf.String()), w.changed
		w.mu.Unlock()
		if found {
			return
		}
		select {
		case <-changed:
		case <-limit:
			t.Fatalf("no %s after %s: %q", what, timeout, w.String())
		}
	}
}

// startSubWatching is startSub that also returns the subscriber's stdout,
// to wait for a message to arrive while it runs.
func startSubWatching(t *testing.T, args ...string) (func() (string, string, int), *watchedBuffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, testenv.Binary(t), append([]string{"mqtt", "sub", "-v"}, args...)...)
	cmd.Env = append(os.Environ(), "ECTOOL_MQTT_BROKER=", "ECTOOL_MQTT_PASSWORD=", "NO_COLOR=1")
	out := newWatchedBuffer()
	cmd.Stdout = out
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var errOut strings.Builder
	subscribed := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "debug: subscribed") {
				once.Do(func() { close(subscribed) })
				continue
			}
			if !strings.HasPrefix(line, "debug: ") {
				errOut.WriteString(line + "\n")
			}
		}
		once.Do(func() { close(subscribed) })
	}()
	select {
	case <-subscribed:
	case <-time.After(20 * time.Second):
		t.Fatal("ectool mqtt sub did not subscribe within 20s")
	}
	return func() (string, string, int) {
		<-done
		err := cmd.Wait()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String(), code
	}, out
}

func TestSubReceivesFromMosquittoPubOnBothVersions(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{NoQueueLimits: true})
	for _, v := range mqttVersions {
		for q := 0; q <= 2; q++ {
			topic := fmt.Sprintf("rx/%s/%d", v.ectool, q)
			wait := startSub(t, "-b", b.URL, "--mqtt-version", v.ectool, "-t", "rx/"+v.ectool+"/#", "-q", "2", "--count", "20", "--timeout", "20s", "-o", "json")
			for i := 0; i < 20; i++ {
				mosquittoPub(t, b, "-V", v.mosquitto, "-t", topic, "-m", fmt.Sprintf("m%d", i), "-q", fmt.Sprint(q))
			}
			out, errOut, code := wait()
			if code != 0 {
				t.Fatalf("MQTT %s QoS %d: exit %d: %s", v.ectool, q, code, errOut)
			}
			lines := decodeLines(t, out)
			if len(lines) != 20 {
				t.Fatalf("MQTT %s QoS %d: %d lines", v.ectool, q, len(lines))
			}
			for i, l := range lines {
				if l.Topic != topic || l.QoS != q || l.Payload == nil || *l.Payload != fmt.Sprintf("m%d", i) || !strings.HasSuffix(l.Time, "Z") {
					t.Fatalf("MQTT %s QoS %d line %d: %+v", v.ectool, q, i, l)
				}
			}
		}
	}
}

func TestSubShowsRetainedBinaryAndProperties(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	mosquittoPub(t, b, "-t", "site/a", "-m", "kept", "-r")
	mosquittoPub(t, b, "-t", "site/b", "-m", "also", "-r")
	out, errOut, code := ectoolMQTT(t, "sub", "-b", b.URL, "-t", "site/#", "--retained-only", "--timeout", "10s", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := decodeLines(t, out)
	if len(lines) != 2 || !lines[0].Retain || !lines[1].Retain {
		t.Fatalf("retained-only: %s", out)
	}

	wait := startSub(t, "-b", b.URL, "-t", "bin/#", "--count", "2", "--timeout", "20s", "-o", "json")
	if _, errOut, code := ectoolMQTT(t, "pub", "-b", b.URL, "-t", "bin/props", "-m", "{}", "--content-type", "application/json", "--user-property", "site=A", "--expiry", "1h"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	mosquittoPub(t, b, "-t", "bin/raw", "-m", "\xff\xfe")
	out, errOut, code = wait()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines = decodeLines(t, out)
	if p := lines[0].Properties; p == nil || p.ContentType != "application/json" || len(p.UserProperties) != 1 || p.UserProperties[0].Value != "A" {
		t.Errorf("properties: %s", out)
	}
	if lines[1].Payload != nil || lines[1].PayloadBase64 == nil || *lines[1].PayloadBase64 != "//4=" {
		t.Errorf("binary payload: %s", out)
	}
}

func TestSeqCountsAcrossPubAndSub(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{NoQueueLimits: true})
	for _, v := range mqttVersions {
		wait := startSub(t, "-b", b.URL, "--mqtt-version", v.ectool, "-t", "seq/x", "-q", "1", "--count", "300", "--timeout", "30s", "--expect-seq", "-o", "json")
		if _, errOut, code := ectoolMQTT(t, "pub", "-b", b.URL, "--mqtt-version", v.ectool, "-t", "seq/x", "-q", "1", "--count", "300", "--seq"); code != 0 {
			t.Fatalf("pub: exit %d: %s", code, errOut)
		}
		out, errOut, code := wait()
		if code != 0 {
			t.Fatalf("MQTT %s: exit %d: %s", v.ectool, code, errOut)
		}
		lines := decodeLines(t, out)
		if len(lines) != 301 {
			t.Fatalf("MQTT %s: %d lines", v.ectool, len(lines))
		}
		for i, l := range lines[:300] {
			if l.Seq == nil || *l.Seq != uint64(i+1) || l.LatencyMS == nil {
				t.Fatalf("MQTT %s line %d: %+v", v.ectool, i, l)
			}
		}
		s := lines[300].Summary
		if s == nil || s.Received != 300 || s.Lost != 0 || s.Duplicated != 0 || s.OutOfOrder != 0 {
			t.Fatalf("MQTT %s summary: %+v", v.ectool, s)
		}
	}
}

func TestExpectSeqFindsLossDuplicatesAndReordering(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	wait := startSub(t, "-b", b.URL, "-t", "seq/y", "-q", "1", "--count", "5", "--timeout", "20s", "--expect-seq")
	for _, n := range []int{1, 2, 5, 4, 4} { // 3 lost, 4 late, 4 twice
		mosquittoPub(t, b, "-t", "seq/y", "-q", "1", "-m", fmt.Sprintf(`{"seq":%d,"ts":%d,"src":"p"}`, n, time.Now().UnixNano()))
	}
	out, errOut, code := wait()
	if code != 1 || !strings.Contains(out, "summary: received 5, lost 1, duplicated 1, out of order 1") || !strings.Contains(errOut, "1 message(s) lost") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

func TestSubWithTooFewMessagesSaysHowManyArrived(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	wait := startSub(t, "-b", b.URL, "-t", "few", "--count", "5", "--timeout", "2s")
	mosquittoPub(t, b, "-t", "few", "-m", "one")
	mosquittoPub(t, b, "-t", "few", "-m", "two")
	out, errOut, code := wait()
	if code != 1 || !strings.Contains(errOut, "only 2 of 5 message(s) arrived within 2s") || out != "few one\nfew two\n" {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, out, errOut)
	}
}

func TestSubEndsWhenTheBrokerGoesAway(t *testing.T) {
	for _, v := range mqttVersions {
		// --no-reconnect: the loss ends the run at once; without it sub
		// tries again until --timeout, then says the broker stayed away.
		for _, extra := range [][]string{{"--no-reconnect"}, {"--timeout", "2s"}} {
			b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
			wait, stdout := startSubWatching(t, append([]string{"-b", b.URL, "--mqtt-version", v.ectool, "-t", "gone/#", "--count", "5"}, extra...)...)
			mosquittoPub(t, b, "-t", "gone/1", "-m", "one")
			stdout.waitFor(t, "gone/1 one\n", 20*time.Second)
			b.Stop()
			out, errOut, code := wait()
			want := "after 1 message(s)"
			if extra[0] != "--no-reconnect" {
				want = "was not back before the end"
			}
			if code != 1 || out != "gone/1 one\n" || !strings.Contains(errOut, want) {
				t.Fatalf("MQTT %s %v: exit %d\nstdout %q\nstderr %s", v.ectool, extra, code, out, errOut)
			}
		}
	}
}

// The flags reach mqtt.SubscribeOptions as they say (the runF seam stops
// before any I/O).
func TestSubFlagsBecomeTheSubscribeOptions(t *testing.T) {
	var got *MQTTSubOptions
	build := func(app *App) *cobra.Command { return newCmdMQTTSub(app, recordOptions(&got)) }
	_, errOut, code := seamRun(t, build, "", "-b", "mqtt://127.0.0.1:1884", "-t", "a/#", "-t", "b/+/c",
		"-q", "1", "--count", "3", "--timeout", "2s", "--expect-seq")
	if code != 0 || got == nil {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	s := got.Subscribe
	if strings.Join(s.Filters, " ") != "a/# b/+/c" || s.QoS != 1 || s.Count != 3 || s.Wait != 2*time.Second ||
		!s.ExpectSeq || s.RetainedOnly || s.ConnectTimeout != 2*time.Second {
		t.Errorf("subscribe options: %+v", s)
	}
	got = nil
	if _, errOut, code := seamRun(t, build, "", "-b", "mqtt://127.0.0.1:1884", "-t", "a/#/b"); code != ExitUsage || got != nil {
		t.Fatalf("bad filter: exit %d, ran %v: %s", code, got != nil, errOut)
	}
}

// sub in-process, through its real run function with fake streams: the
// retained messages as text lines, then as a JSON Lines stream, and a
// short count ending the stream with its error line (exit 1).
func TestSubInProcessPrintsRetainedMessagesAndEndsTheStream(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	mosquittoPub(t, b, "-t", "seam/sub/a", "-m", "1", "-r")
	mosquittoPub(t, b, "-t", "seam/sub/b", "-m", "2", "-r")
	out, errOut, code := seamRun(t, NewCmdMQTTSub, "", "-b", b.URL, "-t", "seam/sub/#", "--retained-only", "--timeout", "10s")
	if code != 0 || out != "seam/sub/a 1\nseam/sub/b 2\n" {
		t.Fatalf("text: exit %d: %q %s", code, out, errOut)
	}
	out, errOut, code = seamRun(t, NewCmdMQTTSub, "", "-b", b.URL, "-t", "seam/sub/#", "--retained-only", "--timeout", "10s", "-o", "json")
	if code != 0 {
		t.Fatalf("json: exit %d: %s", code, errOut)
	}
	if lines := testenv.AssertStream(t, []byte(out)); len(lines) != 2 {
		t.Errorf("json: %d lines, want the 2 messages:\n%s", len(lines), out)
	}
	out, errOut, code = seamRun(t, NewCmdMQTTSub, "", "-b", b.URL, "-t", "seam/sub/#", "--retained-only", "--count", "3", "--timeout", "10s", "-o", "json")
	lines := testenv.AssertStream(t, []byte(out))
	if code != ExitProblem || len(lines) == 0 || !strings.Contains(string(lines[len(lines)-1]), `"error"`) {
		t.Fatalf("short count: exit %d, stream %s, stderr %s", code, out, errOut)
	}
}

// --retained-only --count N with fewer than N retained messages is a
// failure that says how many there were.
func TestSubRetainedOnlyWithTooFewRetainedExitsOne(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	mosquittoPub(t, b, "-t", "rv/a", "-m", "one", "-r")
	out, errOut, code := ectoolMQTT(t, "sub", "-b", b.URL, "-t", "rv/#", "--retained-only", "--count", "2", "--timeout", "5s")
	if code != 1 || out != "rv/a one\n" || !strings.Contains(errOut, "only 1 of 2 retained message(s)") {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, out, errOut)
	}
	// Nothing retained at all is the same failure, with a JSON error line.
	out, errOut, code = ectoolMQTT(t, "sub", "-b", b.URL, "-t", "nothing/#", "--retained-only", "--count", "3", "-o", "json")
	if code != 1 || !strings.Contains(errOut, "only 0 of 3") || !strings.Contains(out, `"error"`) || !strings.Contains(out, `"received":0`) {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, out, errOut)
	}
	// Enough is a success.
	if out, errOut, code := ectoolMQTT(t, "sub", "-b", b.URL, "-t", "rv/#", "--retained-only", "--count", "1"); code != 0 {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, out, errOut)
	}
}

// An MQTT 5 broker that disconnects (with a reason) or just closes
// during SUBSCRIBE is named at once, never waited out as a timeout.
func TestMQTT5SubscribeEndsWhenTheBrokerDisconnects(t *testing.T) {
	withReason := fakeBroker(t, func(c net.Conn, r *bufio.Reader) {
		_, _ = c.Write(connack5)
		if _, ok := untilPacket(r, 8); ok {
			_, _ = c.Write([]byte{0xE0, 0x01, 0x98}) // DISCONNECT: administrative action
			_, _ = io.Copy(io.Discard, r)            // the DISCONNECT alone must end ectool: the socket stays open until it leaves
		}
	})
	closing := fakeBroker(t, func(c net.Conn, r *bufio.Reader) {
		_, _ = c.Write(connack5)
		untilPacket(r, 8)
		// Close our side only and read on: closing outright can reset the
		// connection when bytes from ectool arrive after it
		// (seen once in -count=5 under load: "connection was reset"), and
		// this case is about a close.
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, r)
	})
	const timeout = 20 * time.Second // far longer than the test may take
	for _, tc := range []struct {
		url  string
		args []string
		want string
	}{
		{withReason, []string{"sub", "-t", "a"}, "administrative action (DISCONNECT 0x98)"},
		{withReason, []string{"clear-retained", "-t", "a/#"}, "administrative action (DISCONNECT 0x98)"},
		{closing, []string{"sub", "-t", "a"}, "the broker closed the connection"},
	} {
		args := append([]string{"mqtt"}, tc.args...)
		_, errOut, code, took := timed(t, append(args, "-b", tc.url, "--timeout", timeout.String())...)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "raise --timeout") || strings.Contains(errOut, "EOF") {
			t.Fatalf("%v (%s): exit %d\n%s", tc.args, tc.want, code, errOut)
		}
		if took > timeout/2 {
			t.Fatalf("%v took %s: it waited for the timeout", tc.args, took)
		}
	}
}

// --expect-seq counts loss from the first number received, and
// judges nothing received as a failure.
func TestExpectSeqJoinsLateAndFailsOnNothing(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	wait := startSub(t, "-b", b.URL, "-t", "seq/late", "-q", "1", "--count", "4", "--timeout", "20s", "--expect-seq")
	for n := 9; n <= 12; n++ { // 1 to 8 went out before the subscriber joined
		mosquittoPub(t, b, "-t", "seq/late", "-q", "1", "-m", fmt.Sprintf(`{"seq":%d,"ts":%d,"src":"p"}`, n, time.Now().UnixNano()))
	}
	out, errOut, code := wait()
	if code != 0 || !strings.Contains(out, "summary: received 4, lost 0, duplicated 0, out of order 0 (8 numbered before the first received") {
		t.Fatalf("late join: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	out, errOut, code = ectoolMQTT(t, "sub", "-b", b.URL, "-t", "seq/none", "--expect-seq", "--timeout", "1s", "-o", "json")
	if code != 1 || !strings.Contains(errOut, "no sequenced message arrived") || !strings.Contains(out, `"summary"`) || !strings.Contains(out, `"error"`) {
		t.Fatalf("nothing: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

// Sub -o json ends its stream with an {"error":...} line on failure.
func TestSubJSONFailureEndsWithAnErrorLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // refused from now on
	out, _, code := ectoolMQTT(t, "sub", "-b", "mqtt://"+addr, "-t", "a", "-o", "json")
	var line struct {
		Error struct {
			Step    string `json:"step"`
			Message string `json:"message"`
			Hint    string `json:"hint"`
		} `json:"error"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &line) != nil || line.Error.Step != "mqtt.tcp" || line.Error.Message == "" {
		t.Fatalf("exit %d\nstdout %q", code, out)
	}
}
