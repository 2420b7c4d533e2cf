//go:build linux

package serialport

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab/pty"
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

// A UUCP lock file naming a live process (this test's parent, which is not
// ectool) is a holder too, even without an open file; in HDB (ASCII) or old
// binary form. A lock naming a dead process is stale and ignored.
func TestALockFileNamesItsHolder(t *testing.T) {
	m, err := pty.Open(9600, "")
	if err != nil {
		testenv.Missing(t, "no PTY: %v", err)
	}
	defer m.Close()
	lockName := "LCK.." + filepath.Base(m.Path())
	parent := os.Getppid()
	for name, body := range map[string][]byte{
		"HDB":    fmt.Appendf(nil, "%10d\n", parent),
		"binary": {byte(parent), byte(parent >> 8), byte(parent >> 16), byte(parent >> 24)},
	} {
		dir := t.TempDir()
		lock := filepath.Join(dir, lockName)
		if err := os.WriteFile(lock, body, 0o644); err != nil {
			t.Fatal(err)
		}
		hs, err := findHolders("/proc", []string{dir}, m.Path())
		if err != nil || len(hs) != 1 || hs[0].PID != parent || hs[0].How != "lock file "+lock || hs[0].Bridge {
			t.Errorf("%s lock: holders %+v (%v), want PID %d by its lock file", name, hs, err, parent)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, lockName), []byte("4194305\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if hs, err := findHolders("/proc", []string{dir}, m.Path()); err != nil || len(hs) != 0 {
		t.Errorf("stale lock: holders %+v (%v), want none", hs, err)
	}
}
