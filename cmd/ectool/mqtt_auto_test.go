package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
)

// connectEvidence is mqtt.connect's evidence in a check report.
func (r checkJSON) connectEvidence(t *testing.T) map[string]any {
	t.Helper()
	for _, c := range r.Checks {
		if c.ID == "mqtt.connect" {
			return c.Evidence
		}
	}
	t.Fatalf("no mqtt.connect in %+v", r.Checks)
	return nil
}

// mqtt check's default is auto: aedes (3.1.1 only) passes the whole ladder
// on 3.1.1 and the report says it fell back and why; mosquitto is spoken
// to in 5 with no fallback.
func TestMQTTCheckAutoFallsBackOnAedesNotOnMosquitto(t *testing.T) {
	a := testenv.StartAedes(t, testenv.AedesConfig{})
	r := mqttCheck(t, 0, "-b", a.URL)
	r.expect(t, ladderOK)
	ev := r.connectEvidence(t)
	if ev["version"] != "3.1.1" || ev["version_asked"] != "auto" || ev["fell_back"] != true || !strings.Contains(ev["fallback_reason"].(string), "CONNACK 0x01") {
		t.Fatalf("aedes: mqtt.connect evidence %v", ev)
	}
	out, _, code := ectool(t, "mqtt", "check", "-b", a.URL, "--count", "1", "--qos-levels", "1")
	if code != 0 || !strings.Contains(out, "fell_back=true") || !strings.Contains(out, "version=3.1.1") {
		t.Fatalf("aedes, text: exit %d:\n%s", code, out)
	}

	m := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	r = mqttCheck(t, 0, "-b", m.URL)
	r.expect(t, ladderOK)
	if ev := r.connectEvidence(t); ev["version"] != "5" || ev["fell_back"] != false || ev["fallback_reason"] != nil {
		t.Fatalf("mosquitto: mqtt.connect evidence %v", ev)
	}
	// An explicit version is spoken as asked, without the auto fields.
	r = mqttCheck(t, 1, "-b", a.URL, "--mqtt-version", "5")
	if ev := r.connectEvidence(t); ev["version"] != "5" || ev["fell_back"] != nil || !strings.Contains(r.text("mqtt.connect"), "or auto") {
		t.Fatalf("aedes with --mqtt-version 5: %v", r.text("mqtt.connect"))
	}
}

// A refused password is the broker's answer to MQTT 5, not a version
// problem: no fallback on mosquitto. On aedes the version is refused first,
// so the bad password is reported from 3.1.1, with the fallback said.
func TestMQTTCheckAutoDoesNotFallBackOnARefusedPassword(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := testenv.StartMosquitto(t, testenv.MosquittoConfig{Users: map[string]string{"meter": "right"},
		ACL: "user meter\ntopic readwrite ec-data/meter/#\n"})
	r := mqttCheck(t, 1, "-b", m.URL, "-u", "meter", "--password-file", pw)
	ev := r.connectEvidence(t)
	if r.status(t, "mqtt.connect") != "failed" || ev["fell_back"] != false || ev["version"] != "5" || !strings.Contains(r.text("mqtt.connect"), "not authorized") {
		t.Fatalf("bad password on mosquitto: %s", r.text("mqtt.connect"))
	}

	a := testenv.StartAedes(t, testenv.AedesConfig{User: "meter", Password: "right"})
	r = mqttCheck(t, 1, "-b", a.URL, "-u", "meter", "--password-file", pw)
	ev = r.connectEvidence(t)
	if r.status(t, "mqtt.connect") != "failed" || ev["fell_back"] != true || !strings.Contains(r.text("mqtt.connect"), "bad user name or password") {
		t.Fatalf("bad password on aedes: %s", r.text("mqtt.connect"))
	}
}

// pub and sub take auto (their default stays 5): on aedes they say on
// stderr that they speak 3.1.1, and a message goes through.
func TestPubSubAutoOnAedes(t *testing.T) {
	a := testenv.StartAedes(t, testenv.AedesConfig{})
	wait := startSub(t, "-b", a.URL, "--mqtt-version", "auto", "-t", "auto/#", "--count", "1", "--timeout", "20s", "-F", "%t %p")
	out, errOut, code := ectoolMQTT(t, "pub", "-b", a.URL, "--mqtt-version", "auto", "-t", "auto/x", "-m", "hi", "-q", "1", "-o", "json")
	if code != 0 || !strings.Contains(errOut, "speaking MQTT 3.1.1") {
		t.Fatalf("pub: exit %d: %s %s", code, out, errOut)
	}
	var rep struct {
		Checks []struct {
			ID       string         `json:"id"`
			Evidence map[string]any `json:"evidence"`
		} `json:"checks"`
		Details map[string]any `json:"details"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Checks) == 0 {
		t.Fatalf("pub report: %v: %s", err, out)
	}
	if ev := rep.Checks[0].Evidence; rep.Checks[0].ID != "mqtt.connect" || ev["mqtt_version"] != "3.1.1" || ev["fell_back"] != true || rep.Details["mqtt_version"] != "3.1.1" {
		t.Fatalf("pub report: %s", out)
	}
	out, errOut, code = wait()
	if code != 0 || out != "auto/x hi\n" || !strings.Contains(errOut, "speaking MQTT 3.1.1") {
		t.Fatalf("sub: exit %d: stdout %q, stderr %s", code, out, errOut)
	}
	// Without auto, pub speaks 5 and its refusal points at auto.
	if _, errOut, code := ectoolMQTT(t, "pub", "-b", a.URL, "-t", "auto/x", "-m", "hi"); code != 1 || !strings.Contains(errOut, "or auto") {
		t.Fatalf("pub on aedes without auto: exit %d: %s", code, errOut)
	}
}
