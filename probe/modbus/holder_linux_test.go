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

// fdinfo of a /dev/ptmx fd names the slave it is the master of (Linux 4.14
// and later); other fds have no tty-index.
func TestTTYIndexIsReadFromAPTYMastersFdinfo(t *testing.T) {
	for in, want := range map[string]int{
		"pos:\t0\nflags:\t02100002\nmnt_id:\t23\nino:\t89\ntty-index:\t7\n": 7,
		"pos:\t0\nflags:\t02\nmnt_id:\t28\nino:\t3\n":                       -1,
		"tty-index:\tx\n": -1,
		"tty-index: 12":   12,
		"":                -1,
	} {
		if got := parseTTYIndex([]byte(in)); got != want {
			t.Errorf("parseTTYIndex(%q) = %d, want %d", in, got, want)
		}
	}
}
