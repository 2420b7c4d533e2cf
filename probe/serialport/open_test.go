package serialport_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/probe/serialport"
)

func TestOpenOfAMissingPortSaysNotFound(t *testing.T) {
	if runtime.GOOS == "windows" {
		testenv.NotApplicable(t, "a Unix path")
	}
	path := filepath.Join(t.TempDir(), "ttyUSB9")
	p, _, err := serialport.Open(path, serialport.Default, serialport.Options{})
	if p != nil || !errors.Is(err, serialport.ErrMissing) || !strings.Contains(err.Error(), path) {
		t.Fatalf("open of a missing port: %v, want ErrMissing naming %s", err, path)
	}
}

// A file or a directory given for a port is named for what it is, before
// the holder check lists every program that has it open.
func TestAFileOrADirectoryIsNotASerialDevice(t *testing.T) {
	if runtime.GOOS == "windows" {
		testenv.NotApplicable(t, "Unix paths")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "capture.pcapng")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, what := range map[string]string{file: "is a regular file", dir: "is a directory"} {
		_, op, err := serialport.Open(path, serialport.Default, serialport.Options{Force: true})
		if !errors.Is(err, serialport.ErrNotSerial) || !strings.Contains(err.Error(), what) {
			t.Errorf("open %s: %v, want ErrNotSerial saying it %s", path, err, what)
		}
		if op.Bridges != nil || op.ForcedPast != nil || op.LatencyTimer != nil {
			t.Errorf("open %s: %+v, want nothing found past a refused check", path, op)
		}
	}
}

// Busy and permission read the same for every device; the rest are the
// caller's words, because the next step depends on what is plugged in.
func TestHintWordsTheFailuresEveryDeviceShares(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{serialport.ErrBusy, "fuser -v"},
		{serialport.ErrPermission, "dialout group"},
		{serialport.ErrMissing, ""},
		{serialport.ErrNotSerial, ""},
		{&serialport.HeldError{Path: "/dev/ttyUSB0", Holders: []serialport.Holder{{PID: 7, Command: "poller", How: "open file"}}}, ""},
		{errors.New("input/output error"), ""},
	} {
		hint, ok := serialport.Hint(fmt.Errorf("%w: /dev/ttyUSB0", c.err))
		if ok != (c.want != "") || !strings.Contains(hint, c.want) {
			t.Errorf("Hint(%v) = %q, %v; want %q", c.err, hint, ok, c.want)
		}
	}
}

func TestAHeldErrorNamesEveryHolder(t *testing.T) {
	err := error(&serialport.HeldError{Path: "/dev/ttyUSB0", Holders: []serialport.Holder{
		{PID: 812, Command: "ModemManager", How: "open file"},
		{PID: 913, How: "lock file /run/lock/LCK..ttyUSB0"},
	}})
	want := "/dev/ttyUSB0 is in use by ModemManager (PID 812, open file), PID 913 (lock file /run/lock/LCK..ttyUSB0)"
	if !errors.Is(err, serialport.ErrHeld) || err.Error() != want {
		t.Fatalf("%v (is ErrHeld: %v), want %q", err, errors.Is(err, serialport.ErrHeld), want)
	}
}

func TestSettingsRenderAndTheirWireTime(t *testing.T) {
	s := serialport.Settings{Baud: 19200, DataBits: 8, Parity: "E", StopBits: 1}
	if s.String() != "19200 8E1" || serialport.Default.String() != "9600 8N1" {
		t.Fatalf("%q, %q", s, serialport.Default)
	}
	// 11 bits (start, 8 data, parity, stop) at 19200 baud.
	if s.WireTime(8) != 8*572916*time.Nanosecond {
		t.Errorf("wire time of 8 characters: %v", s.WireTime(8))
	}
	for _, bad := range []serialport.Settings{{Baud: 9, DataBits: 8, Parity: "N", StopBits: 1}, {Baud: 9600, DataBits: 8, Parity: "X", StopBits: 1}, {Baud: 9600, DataBits: 8, Parity: "N", StopBits: 3}} {
		if bad.Validate() == nil {
			t.Errorf("%+v passed Validate", bad)
		}
	}
}
