package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
)

// ectool runs the real binary and returns stdout, stderr and the exit code.
func ectool(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t), args...)
	cmd.Env = append(os.Environ(), "ECTOOL_MQTT_BROKER=", "ECTOOL_MQTT_PASSWORD=", "NO_COLOR=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("ectool %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

type checkJSON struct {
	Schema string `json:"schema"`
	Checks []struct {
		ID            string         `json:"id"`
		Status        string         `json:"status"`
		Evidence      map[string]any `json:"evidence"`
		Hint          string         `json:"hint"`
		SkippedReason string         `json:"skipped_reason"`
	} `json:"checks"`
	FirstFailure *struct {
		ID   string `json:"id"`
		Hint string `json:"hint"`
	} `json:"first_failure"`
}

// mqttCheck runs `ectool mqtt check -o json` and decodes its one report.
func mqttCheck(t *testing.T, wantCode int, args ...string) checkJSON {
	t.Helper()
	args = append([]string{"mqtt", "check", "-o", "json", "--timeout", "3s", "--count", "3"}, args...)
	out, errOut, code := ectool(t, args...)
	if code != wantCode {
		t.Fatalf("ectool %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out, errOut)
	}
	testenv.AssertChecksDocumented(t, []byte(out))
	var r checkJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("stdout is not one JSON report: %v\n%s", err, out)
	}
	if r.Schema != "ectool.report/v1" {
		t.Errorf("schema %q", r.Schema)
	}
	return r
}

func (r checkJSON) status(t *testing.T, id string) string {
	t.Helper()
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Status
		}
	}
	t.Fatalf("no check %s in %+v", id, r.Checks)
	return ""
}

func (r checkJSON) text(id string) string {
	for _, c := range r.Checks {
		if c.ID == id {
			return strings.ToLower(fmt.Sprintf("%v %s %s", c.Evidence, c.Hint, c.SkippedReason))
		}
	}
	return ""
}

func (r checkJSON) expect(t *testing.T, want map[string]string) {
	t.Helper()
	for id, st := range want {
		if got := r.status(t, id); got != st {
			t.Errorf("%s: %s, want %s (%s)", id, got, st, r.text(id))
		}
	}
}

var ladderOK = map[string]string{
	"mqtt.dns": "ok", "mqtt.tcp": "ok", "mqtt.connect": "ok", "mqtt.subscribe": "ok",
	"mqtt.acl_test_prefix": "ok", "mqtt.qos0": "ok", "mqtt.qos1": "ok", "mqtt.qos2": "ok",
	"mqtt.retained": "ok", "mqtt.will": "ok",
}

func TestMQTTCheckPassesAgainstMosquitto(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{NoQueueLimits: true})
	for _, v := range []string{"5", "3.1.1"} {
		t.Run(v, func(t *testing.T) {
			r := mqttCheck(t, 0, "-b", b.URL, "--mqtt-version", v)
			r.expect(t, ladderOK)
			r.expect(t, map[string]string{"mqtt.tls": "skipped", "mqtt.acl_deny": "skipped"})
			if r.FirstFailure != nil {
				t.Errorf("first_failure %+v", r.FirstFailure)
			}
			for _, id := range []string{"mqtt.qos0", "mqtt.qos1", "mqtt.qos2"} {
				for _, c := range r.Checks {
					if c.ID == id && (c.Evidence["sent"] != 3.0 || c.Evidence["received"] != 3.0 || c.Evidence["lost"] != 0.0) {
						t.Errorf("%s: %v", id, c.Evidence)
					}
				}
			}
		})
	}
	t.Run("text report", func(t *testing.T) {
		out, _, code := ectool(t, "mqtt", "check", "-b", b.URL, "--count", "2", "--qos-levels", "1")
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		lines := testenv.Lines(out)
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "OK") {
			t.Errorf("last line %q", last)
		}
		for _, want := range []string{"mqtt.qos1", "not asked for (--qos-levels)"} {
			if !strings.Contains(out, want) {
				t.Errorf("text report lacks %q:\n%s", want, out)
			}
		}
	})
}

func TestMQTTCheckDeadBrokerFailsAtTCPWithinTheTimeout(t *testing.T) {
	port := testenv.FreePort(t)
	start := time.Now()
	r := mqttCheck(t, 1, "-b", fmt.Sprintf("mqtt://127.0.0.1:%d", port))
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %s", d)
	}
	r.expect(t, map[string]string{"mqtt.dns": "ok", "mqtt.tcp": "failed", "mqtt.connect": "skipped", "mqtt.qos1": "skipped"})
	if !strings.Contains(r.text("mqtt.tcp"), "refused") {
		t.Errorf("mqtt.tcp does not say refused: %s", r.text("mqtt.tcp"))
	}
	if r.FirstFailure == nil || r.FirstFailure.ID != "mqtt.tcp" {
		t.Errorf("first_failure %+v", r.FirstFailure)
	}
	// The text form names the failed step on its last line.
	out, _, code := ectool(t, "mqtt", "check", "-b", fmt.Sprintf("mqtt://127.0.0.1:%d", port), "--timeout", "2s")
	lines := testenv.Lines(out)
	if code != 1 || !strings.HasPrefix(lines[len(lines)-1], "FAILED at mqtt.tcp") {
		t.Errorf("exit %d, text:\n%s", code, out)
	}
}

func TestMQTTCheckTLS(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true, NoQueueLimits: true})
	r := mqttCheck(t, 0, "-b", b.URL, "--ca", b.CAFile)
	r.expect(t, ladderOK)
	r.expect(t, map[string]string{"mqtt.tls": "ok"})

	r = mqttCheck(t, 1, "-b", b.URL)
	r.expect(t, map[string]string{"mqtt.tls": "failed", "mqtt.connect": "skipped"})
	if !strings.Contains(r.text("mqtt.tls"), "unknown authority") {
		t.Errorf("mqtt.tls: %s", r.text("mqtt.tls"))
	}
}

func TestMQTTCheckMutualTLS(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true, RequireCert: true, NoQueueLimits: true})
	r := mqttCheck(t, 0, "-b", b.URL, "--ca", b.CAFile, "--cert", b.ClientCert, "--key", b.ClientKey)
	r.expect(t, ladderOK)
	if !strings.Contains(r.text("mqtt.tls"), "client_cert_accepted:true") {
		t.Errorf("mqtt.tls: %s", r.text("mqtt.tls"))
	}
	r = mqttCheck(t, 1, "-b", b.URL, "--ca", b.CAFile)
	r.expect(t, map[string]string{"mqtt.tls": "failed", "mqtt.connect": "skipped"})
	if !strings.Contains(r.text("mqtt.tls"), "broker requires a client certificate") {
		t.Errorf("mqtt.tls: %s", r.text("mqtt.tls"))
	}
}

func TestMQTTCheckServerCertificateProblems(t *testing.T) {
	exp := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true, ServerCert: "expired"})
	r := mqttCheck(t, 1, "-b", exp.URL, "--ca", exp.CAFile)
	r.expect(t, map[string]string{"mqtt.tls": "failed"})
	if !strings.Contains(r.text("mqtt.tls"), "expired") {
		t.Errorf("mqtt.tls: %s", r.text("mqtt.tls"))
	}
	wrong := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true, ServerCert: "wrong-host"})
	r = mqttCheck(t, 1, "-b", wrong.URL, "--ca", wrong.CAFile)
	r.expect(t, map[string]string{"mqtt.tls": "failed"})
	if !strings.Contains(r.text("mqtt.tls"), "--servername") {
		t.Errorf("mqtt.tls hint lacks --servername: %s", r.text("mqtt.tls"))
	}
}

func TestMQTTCheckPasswordsAndACL(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{
		NoQueueLimits: true,
		Users:         map[string]string{"meter": "s3cret"},
		ACL:           "user meter\ntopic readwrite devices/meter/#\n",
	})
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	_ = os.WriteFile(good, []byte("s3cret\n"), 0o600)
	_ = os.WriteFile(bad, []byte("nope\n"), 0o600)

	r := mqttCheck(t, 1, "-b", b.URL, "-u", "meter", "--password-file", bad)
	r.expect(t, map[string]string{"mqtt.connect": "failed", "mqtt.subscribe": "skipped"})
	if !strings.Contains(r.text("mqtt.connect"), "not authorized") {
		t.Errorf("mqtt.connect: %s", r.text("mqtt.connect"))
	}

	r = mqttCheck(t, 0, "-b", b.URL, "-u", "meter", "--password-file", good)
	r.expect(t, map[string]string{"mqtt.connect": "ok", "mqtt.acl_test_prefix": "warning", "mqtt.qos0": "skipped", "mqtt.will": "skipped"})
	if !strings.Contains(r.text("mqtt.acl_test_prefix"), "--topic-prefix") {
		t.Errorf("mqtt.acl_test_prefix: %s", r.text("mqtt.acl_test_prefix"))
	}
	mqttCheck(t, 1, "-b", b.URL, "-u", "meter", "--password-file", good, "--strict")

	// This broker (max_queued_messages 0) closes the connection after each
	// refused publish (mosquitto issue 3244): the ACL holds, with a warning.
	r = mqttCheck(t, 0, "-b", b.URL, "-u", "meter", "--password-file", good,
		"--topic-prefix", "devices/meter/check", "--deny-topic", "devices/other/telemetry")
	r.expect(t, ladderOK)
	r.expect(t, map[string]string{"mqtt.acl_deny": "warning"})
	if !strings.Contains(r.text("mqtt.acl_deny"), "max_queued_messages") {
		t.Errorf("mqtt.acl_deny: %s", r.text("mqtt.acl_deny"))
	}

	queued := testenv.StartMosquitto(t, testenv.MosquittoConfig{
		Users: map[string]string{"meter": "s3cret"},
		ACL:   "user meter\ntopic readwrite devices/meter/#\n",
	})
	r = mqttCheck(t, 0, "-b", queued.URL, "-u", "meter", "--password-file", good,
		"--topic-prefix", "devices/meter/check", "--deny-topic", "devices/other/telemetry")
	r.expect(t, ladderOK)
	r.expect(t, map[string]string{"mqtt.acl_deny": "ok"})
}

func TestMQTTCheckUsageErrorsExitTwoBeforeAnyIO(t *testing.T) {
	// A listener that counts connections: a usage error must be found before
	// ectool dials anything.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var dialled atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			dialled.Add(1)
			c.Close()
		}
	}()
	broker := "mqtt://" + l.Addr().String()
	for _, args := range [][]string{
		{"--count", "0"},
		{"--qos-levels", "3"},
		{"--timeout", "0s"},
		{"--deny-topic", "devices/+/telemetry"},
		{"--topic-prefix", "a/#"},
		{"--topic-prefix", "devices/meter/"},
		{"--ca", "/nonexistent/ca.pem"},
		{"--mqtt-version", "4.2"},
	} {
		before := dialled.Load()
		full := append([]string{"mqtt", "check", "-b", broker}, args...)
		out, errOut, code := ectool(t, full...)
		if code != 2 || out != "" || len(testenv.Lines(errOut)) > 2 {
			t.Errorf("ectool %v: exit %d, stdout %q, stderr %q; want exit 2 and one line", args, code, out, errOut)
		}
		if dialled.Load() != before {
			t.Errorf("ectool %v connected to the broker before rejecting its flags", args)
		}
	}
	_, errOut, code := ectool(t, "mqtt", "check")
	if code != 2 || !strings.Contains(errOut, "--broker") {
		t.Errorf("no broker: exit %d, %q", code, errOut)
	}
}

// Under --strict the deciding warning is the report's first
// failure (and the text does not end "OK"); an explicit --topic-prefix the
// ACL refuses is a failure without --strict.
func TestMQTTCheckStrictAndExplicitPrefix(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{
		Users: map[string]string{"meter": "s3cret"},
		ACL:   "user meter\ntopic readwrite devices/meter/#\n",
	})
	pw := filepath.Join(t.TempDir(), "pw")
	_ = os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	login := []string{"-b", b.URL, "-u", "meter", "--password-file", pw}

	r := mqttCheck(t, 1, append(login, "--strict")...)
	if r.status(t, "mqtt.acl_test_prefix") != "failed" || r.FirstFailure == nil || r.FirstFailure.ID != "mqtt.acl_test_prefix" {
		t.Fatalf("--strict: acl_test_prefix %s, first failure %+v", r.status(t, "mqtt.acl_test_prefix"), r.FirstFailure)
	}
	out, _, code := ectool(t, append([]string{"mqtt", "check", "--count", "1", "--strict"}, login...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; code != 1 || strings.HasPrefix(last, "OK") || !strings.Contains(last, "mqtt.acl_test_prefix") {
		t.Fatalf("--strict text: exit %d, last line %q", code, last)
	}

	r = mqttCheck(t, 1, append(login, "--topic-prefix", "devices/other/check")...)
	if r.status(t, "mqtt.acl_test_prefix") != "failed" || r.FirstFailure == nil {
		t.Fatalf("explicit prefix: acl_test_prefix %s, first failure %+v", r.status(t, "mqtt.acl_test_prefix"), r.FirstFailure)
	}
	// The default prefix stays a warning.
	r = mqttCheck(t, 0, login...)
	if r.status(t, "mqtt.acl_test_prefix") != "warning" {
		t.Fatalf("default prefix: acl_test_prefix %s", r.status(t, "mqtt.acl_test_prefix"))
	}
	// The text run says how many checks that skipped.
	_, errOut, code := ectool(t, append([]string{"mqtt", "check", "--count", "1"}, login...)...)
	if code != 0 || !strings.Contains(errOut, "check(s) skipped because these credentials may not use the test prefix") {
		t.Fatalf("default prefix text: exit %d\n%s", code, errOut)
	}
}

// Check --client-id "" sends an empty id, so "does this broker assign
// ids?" can be tested; the helper connections get ids of their own.
func TestMQTTCheckWithAnEmptyClientID(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	r := mqttCheck(t, 0, "-b", b.URL, "--client-id", "", "--count", "1")
	for _, c := range r.Checks {
		if c.ID == "mqtt.connect" {
			if id, _ := c.Evidence["assigned_client_id"].(string); id == "" {
				t.Fatalf("mqtt.connect evidence %v: want the id the broker assigned", c.Evidence)
			}
		}
	}
	r.expect(t, map[string]string{"mqtt.retained": "ok", "mqtt.will": "ok"})
}
