//go:build linux

package modbus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFTDILatencyTimerIsSetToOneMillisecond(t *testing.T) {
	dir := t.TempDir()
	dev := filepath.Join(dir, "dev", "ttyUSB0")
	sysfs := filepath.Join(dir, "sys", "class", "tty")
	timer := filepath.Join(sysfs, "ttyUSB0", "device", "latency_timer")
	for _, d := range []string{filepath.Dir(dev), filepath.Dir(timer)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(dev, nil, 0o644)
	os.WriteFile(timer, []byte("16\n"), 0o644)
	lt := setLowLatency(sysfs, dev)
	b, _ := os.ReadFile(timer)
	if lt.Before != 16 || lt.After != 1 || lt.Err != "" || strings.TrimSpace(string(b)) != "1" {
		t.Fatalf("latency timer %+v, file %q", lt, b)
	}
	// An adapter without the file (CH340, CP210x, a PTY) is left alone.
	if lt := setLowLatency(sysfs, filepath.Join(dir, "dev", "nope")); lt.Path != "" {
		t.Fatalf("no adapter: %+v", lt)
	}
}
