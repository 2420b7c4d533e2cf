//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/certs"
	"github.com/ecdata/ectool/internal/testenv"
)

// netReport is the JSON report of probe net.
type netReport struct {
	Checks []struct {
		ID            string         `json:"id"`
		Target        string         `json:"target"`
		Status        string         `json:"status"`
		Evidence      map[string]any `json:"evidence"`
		Hint          string         `json:"hint"`
		SkippedReason string         `json:"skipped_reason"`
	} `json:"checks"`
	FirstFailure *struct {
		ID     string `json:"id"`
		Target string `json:"target"`
	} `json:"first_failure"`
}

// check is the first check with id (for target, when given).
func (r netReport) check(id string, target ...string) (status, text string) {
	for _, c := range r.Checks {
		if c.ID == id && (len(target) == 0 || c.Target == target[0]) {
			b, _ := json.Marshal(c)
			return c.Status, string(b)
		}
	}
	return "", ""
}

// probeNet runs the binary in namespace ns ("" the test's own) as uid (-1
// the test's user) and decodes its JSON report.
func probeNet(t *testing.T, ns string, uid int, wantCode int, args ...string) netReport {
	t.Helper()
	bin := testenv.Binary(t)
	if uid >= 0 {
		bin = reachableBinary(t)
	}
	args = append([]string{"probe", "net", "-o", "json", "--timeout", "2s"}, args...)
	cmd := testenv.ProbeCommand(ns, uid, bin, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "NO_COLOR=1", "HOME=/"}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { <-ctx.Done(); _ = cmd.Process.Kill() }()
	err := cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != wantCode {
		t.Fatalf("ectool %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out.String(), errOut.String())
	}
	testenv.AssertChecksDocumented(t, out.Bytes())
	var r netReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not one JSON report: %v\n%s", err, out.String())
	}
	return r
}

func TestProbeNetMQTTLogsInThroughTheLadder(t *testing.T) {
	t.Parallel()
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true, Users: map[string]string{"meter": "s3cret"}})
	pw := testenv.PrivateDir(t) + "/pw"
	writeFileT(t, pw, "s3cret\n")
	r := probeNet(t, "", -1, 0, b.URL, "--ca", b.CAFile, "--mqtt", "-u", "meter", "--password-file", pw)
	for _, id := range []string{"net.iface", "net.dns", "net.icmp", "net.tcp", "net.pmtu", "net.tls", "net.mqtt"} {
		if s, text := r.check(id); s != "ok" {
			t.Errorf("%s: %s", id, text)
		}
	}
	writeFileT(t, pw, "wrong\n")
	r = probeNet(t, "", -1, 1, b.URL, "--ca", b.CAFile, "--mqtt", "-u", "meter", "--password-file", pw)
	if s, text := r.check("net.mqtt"); s != "failed" || !strings.Contains(text, "not authori") || r.FirstFailure.ID != "net.mqtt" {
		t.Errorf("wrong password: %s", text)
	}
}

func TestProbeNetNamesTheFailingTargetAmongSeveral(t *testing.T) {
	t.Parallel()
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	closed := "127.0.0.1:1"
	r := probeNet(t, "", -1, 1, b.URL, closed)
	if s, _ := r.check("net.tcp", b.URL); s != "ok" {
		t.Errorf("net.tcp for %s: %s", b.URL, s)
	}
	if s, text := r.check("net.tcp", closed); s != "failed" || !strings.Contains(text, `"result":"refused"`) {
		t.Errorf("net.tcp for %s: %s", closed, text)
	}
	if r.FirstFailure == nil || r.FirstFailure.ID != "net.tcp" || r.FirstFailure.Target != closed {
		t.Errorf("first failure %+v, want net.tcp for %s", r.FirstFailure, closed)
	}
	out, _, code := ectool(t, "probe", "net", "--timeout", "2s", b.URL, closed)
	if code != 1 || !strings.Contains(out, "target "+closed+"\n") || !strings.Contains(out, "FAILED at net.tcp ("+closed+")") {
		t.Errorf("text report (exit %d):\n%s", code, out)
	}
}

func TestProbeNetMissingInterfaceExitsThree(t *testing.T) {
	t.Parallel()
	r := probeNet(t, "", -1, 3, "--iface", "wwan9", "127.0.0.1:8883")
	if s, text := r.check("net.iface"); s != "failed" || !strings.Contains(text, `no interface \"wwan9\"`) {
		t.Errorf("net.iface: %s", text)
	}
}

func writeFileT(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestProbeNetAsAnUnprivilegedUser runs the binary as uid 65534 with no
// capabilities in a client namespace, bound to its veth (SO_BINDTODEVICE
// needs no privilege since Linux 5.7): ICMP goes over a ping socket when
// ping_group_range lets the group in, and is skipped with the reason when
// it does not.
func TestProbeNetAsAnUnprivilegedUser(t *testing.T) {
	t.Parallel()
	testenv.Require(t, "setpriv")
	for _, c := range []struct {
		name, groups, icmp, words string
	}{
		{"ping socket allowed", "65534 65534", "ok", `"socket":"ping socket"`},
		{"no ICMP socket allowed", "1 0", "skipped", "ping_group_range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			client, server := testenv.NewNetns(t), testenv.NewNetns(t)
			link := testenv.ProbeLink(t, client, server)
			set, err := certs.WriteSet(testenv.PrivateDir(t), "broker.test")
			if err != nil {
				t.Fatal(err)
			}
			testenv.StartProbeDnsmasq(t, server, link.AddrB, map[string][]string{"broker.test": {link.AddrB.String()}})
			b := testenv.StartMosquitto(t, testenv.MosquittoConfig{Netns: server, Host: link.AddrB.String(), TLS: true, Certs: set})
			testenv.ProbeSysctl(t, client, "net.ipv4.ping_group_range", c.groups)
			r := probeNet(t, client, testenv.Nobody, 0, "mqtts://broker.test:"+strconv.Itoa(b.Port), "--iface", link.A, "--dns", link.AddrB.String(), "--ca", set.CAFile)
			s, text := r.check("net.icmp")
			if s != c.icmp || !strings.Contains(text, c.words) {
				t.Errorf("net.icmp %s, want %s with %q: %s", s, c.icmp, c.words, text)
			}
			if s, text := r.check("net.dns"); s != "ok" || !strings.Contains(text, `"through":"`+link.A+`"`) {
				t.Errorf("net.dns, bound: %s", text)
			}
			for _, id := range []string{"net.iface", "net.tcp", "net.tls"} {
				if s, text := r.check(id); s != "ok" {
					t.Errorf("%s as uid 65534: %s", id, text)
				}
			}
			if s, text := r.check("net.iface"); s != "ok" || !strings.Contains(text, `"bound":true`) {
				t.Errorf("net.iface: %s", text)
			}
			if c.icmp == "skipped" {
				if s, text := r.check("net.pmtu"); s != "skipped" || !strings.Contains(text, "ping_group_range") {
					t.Errorf("net.pmtu: %s", text)
				}
			}
		})
	}
}

// mqtt check runs the same TLS step: --pin holds there too.
func TestMQTTCheckPinFailsTLSWhenTheBrokerPresentsAnotherKey(t *testing.T) {
	t.Parallel()
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true})
	r := mqttCheck(t, 0, "-b", b.URL, "--ca", b.CAFile, "--qos-levels", "1")
	var pins []any
	for _, c := range r.Checks {
		if c.ID == "mqtt.tls" {
			pins, _ = c.Evidence["pins"].([]any)
		}
	}
	if len(pins) == 0 {
		t.Fatal("mqtt.tls lists no pins")
	}
	own := pins[0].(map[string]any)["pin"].(string)
	if r := mqttCheck(t, 0, "-b", b.URL, "--ca", b.CAFile, "--qos-levels", "1", "--pin", own); r.status(t, "mqtt.tls") != "ok" {
		t.Errorf("--pin %s (the broker's own): %s", own, r.text("mqtt.tls"))
	}
	wrong := "sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMjE="
	r = mqttCheck(t, 1, "-b", b.URL, "--ca", b.CAFile, "--qos-levels", "1", "--pin", wrong)
	if r.status(t, "mqtt.tls") != "failed" || !strings.Contains(r.text("mqtt.tls"), strings.ToLower(own)) || r.status(t, "mqtt.connect") != "skipped" {
		t.Errorf("--pin %s: %s", wrong, r.text("mqtt.tls"))
	}
}
