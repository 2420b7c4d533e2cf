//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
)

// The systemd unit passes systemd-analyze verify and rates an exposure of
// at most 3.0 in systemd-analyze security, with the directives the issue
// names.
func TestCaptureServiceUnitVerifiesAndIsConfined(t *testing.T) {
	analyze := testenv.Require(t, "systemd-analyze")
	src := filepath.Join(testenv.ModuleRoot(t), "scripts", "systemd", "ectool-capture.service")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"User=", "AmbientCapabilities=CAP_NET_RAW", "CapabilityBoundingSet=CAP_NET_RAW",
		"ProtectSystem=strict", "StateDirectory=", "ReadWritePaths=", "EnvironmentFile=-/etc/ectool/capture.env", "--wait-iface"} {
		if !strings.Contains(unit, "\n"+want) && !strings.Contains(unit, " "+want) {
			t.Errorf("the unit lacks %s", want)
		}
	}
	// verify wants ExecStart's binary to exist: point it at the one under test.
	dir := t.TempDir()
	path := filepath.Join(dir, "ectool-capture.service")
	unit = strings.ReplaceAll(unit, "/usr/local/bin/ectool", testenv.Binary(t))
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, _ := exec.Command(analyze, "security", "--offline=true", path).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, _ := strconv.ParseFloat(m[1], 64)
	if level > 3.0 {
		t.Fatalf("exposure %.1f > 3.0:\n%s", level, out)
	}
	t.Logf("exposure level %.1f", level)
}
