package main

import (
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
)

func TestClearRetainedRemovesAndListsWhatItCleared(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	for _, topic := range []string{"site/m1/status", "site/m2/status", "site/m3/status"} {
		mosquittoPub(t, b, "-t", topic, "-m", "online", "-r")
	}
	mosquittoPub(t, b, "-t", "other/x", "-m", "keep", "-r")

	out, errOut, code := ectoolMQTT(t, "clear-retained", "-b", b.URL, "-t", "site/#", "--dry-run")
	if code != 0 || !strings.Contains(out, "3 retained message(s) under site/#; nothing cleared") {
		t.Fatalf("dry run: exit %d: %s %s", code, out, errOut)
	}
	out, errOut, code = ectoolMQTT(t, "clear-retained", "-b", b.URL, "-t", "site/#", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	r := decodeReport(t, out)
	if len(r.Details.Cleared) != 3 || r.Details.Cleared[0].Topic != "site/m1/status" {
		t.Fatalf("cleared: %+v", r.Details.Cleared)
	}
	out, _, code = ectoolMQTT(t, "sub", "-b", b.URL, "-t", "#", "--retained-only", "--timeout", "5s")
	if code != 0 || out != "other/x keep\n" {
		t.Fatalf("after clearing, retained left: exit %d: %q", code, out)
	}
	out, _, code = ectoolMQTT(t, "clear-retained", "-b", b.URL, "-t", "site/#", "--mqtt-version", "3.1.1")
	if code != 0 || !strings.Contains(out, "cleared 0 retained message(s)") {
		t.Fatalf("second clear: exit %d: %q", code, out)
	}
}
