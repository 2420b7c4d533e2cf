package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

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

// The flags reach mqtt.ClearOptions as they say (the runF seam stops
// before any I/O).
func TestClearRetainedFlagsBecomeTheClearOptions(t *testing.T) {
	var got *MQTTClearOptions
	build := func(app *App) *cobra.Command { return newCmdMQTTClearRetained(app, recordOptions(&got)) }
	_, errOut, code := seamRun(t, build, "", "-b", "mqtt://127.0.0.1:1884", "-t", "a/#", "-t", "b/c", "--dry-run", "--timeout", "4s")
	if code != 0 || got == nil {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	c := got.Clear
	if strings.Join(c.Filters, " ") != "a/# b/c" || !c.DryRun || c.ConnectTimeout != 4*time.Second || c.Broker != "mqtt://127.0.0.1:1884" {
		t.Errorf("clear options: %+v", c)
	}
	got = nil
	if _, errOut, code := seamRun(t, build, "", "-b", "mqtt://127.0.0.1:1884"); code != ExitUsage || got != nil {
		t.Fatalf("no -t: exit %d, ran %v: %s", code, got != nil, errOut)
	}
}

// clear-retained in-process, through its real run function with fake
// streams: a dry run lists, a run clears and reports what it cleared.
func TestClearRetainedInProcessListsThenClears(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	mosquittoPub(t, b, "-t", "seam/clear/a", "-m", "1", "-r")
	mosquittoPub(t, b, "-t", "seam/clear/b", "-m", "22", "-r")
	out, errOut, code := seamRun(t, NewCmdMQTTClearRetained, "", "-b", b.URL, "-t", "seam/clear/#", "--dry-run")
	if code != 0 || !strings.Contains(out, "2 retained message(s) under seam/clear/#; nothing cleared") {
		t.Fatalf("dry run: exit %d: %q %s", code, out, errOut)
	}
	out, errOut, code = seamRun(t, NewCmdMQTTClearRetained, "", "-b", b.URL, "-t", "seam/clear/#", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if r := decodeReport(t, out); len(r.Details.Cleared) != 2 || r.Details.Cleared[1].Topic != "seam/clear/b" {
		t.Fatalf("cleared: %+v", r.Details.Cleared)
	}
	out, _, code = seamRun(t, NewCmdMQTTSub, "", "-b", b.URL, "-t", "seam/clear/#", "--retained-only", "--timeout", "10s")
	if code != 0 || out != "" {
		t.Fatalf("after clearing: exit %d: %q", code, out)
	}
}

// Clear-retained goes on past a refused topic and lists what it
// cleared and what it could not.
func TestClearRetainedListsClearedAndRefused(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{
		Users: map[string]string{"admin": "adm1n", "tech": "t3ch"},
		ACL:   "user admin\ntopic readwrite #\n\nuser tech\ntopic read cr/#\ntopic write cr/a/#\n",
	})
	for _, topic := range []string{"cr/a/x", "cr/b/y", "cr/c/z"} {
		mosquittoPub(t, b, "-u", "admin", "-P", "adm1n", "-t", topic, "-m", "v", "-r", "-q", "1")
	}
	pw := filepath.Join(t.TempDir(), "pw")
	_ = os.WriteFile(pw, []byte("t3ch\n"), 0o600)
	out, errOut, code := ectoolMQTT(t, "clear-retained", "-b", b.URL, "-u", "tech", "--password-file", pw, "-t", "cr/#")
	if code != 1 || !strings.Contains(out, "cleared cr/a/x") || !strings.Contains(out, "NOT cleared cr/b/y") ||
		!strings.Contains(out, "NOT cleared cr/c/z") || !strings.Contains(out, "found 3 retained message(s) under cr/#: 1 cleared, 2 not") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}
