package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/capture"
	"github.com/ecdata/ectool/internal/testenv"
)

// parseCapture runs `ectool capture` up to its run function and returns
// the options the flags produced.
func parseCapture(t *testing.T, args ...string) (*CaptureOptions, int, string) {
	t.Helper()
	var got *CaptureOptions
	app := &App{IO: &Streams{In: strings.NewReader(""), Out: &strings.Builder{}, ErrOut: &strings.Builder{}}, Output: "text", Now: time.Now, Getenv: os.Getenv}
	root := NewRootCmd(app)
	for _, c := range root.Commands() {
		if c.Name() == "capture" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newCmdCapture(app, func(_ context.Context, o *CaptureOptions) error { got = o; return nil }))
	root.SetArgs(append([]string{"capture"}, args...))
	code := app.handleError(root.Execute())
	return got, code, app.IO.ErrOut.(*strings.Builder).String()
}

func TestCaptureFlagsBecomeOneFilterAndARing(t *testing.T) {
	o, code, errOut := parseCapture(t, "--iface", "eth0", "--iface", "wwan0", "--dir", "/srv/ring", "--ports", "1883",
		"--host", "10.0.0.5", "--filter", "not udp", "--file-size", "4MiB", "--files", "32", "--snaplen", "1500",
		"--flush", "500ms", "--fsync", "10s", "--buffer", "8MiB", "--wait-iface")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	l := o.Live
	if strings.Join(l.Ifaces, ",") != "eth0,wwan0" || !l.WaitIface || l.Snaplen != 1500 || l.Buffer != 8<<20 {
		t.Fatalf("live options: %+v", l)
	}
	if l.Filter != "(port 1883) and (host 10.0.0.5) and (not udp)" {
		t.Fatalf("filter %q", l.Filter)
	}
	r := l.Ring
	if r.Dir != "/srv/ring" || r.FileSize != 4<<20 || r.Files != 32 || r.Flush != 500*time.Millisecond || r.Fsync != 10*time.Second {
		t.Fatalf("ring options: %+v", r)
	}
	o, _, _ = parseCapture(t, "--iface", "lo", "--dir", "d")
	if o.Live.Filter != "port 1883 or port 8883" || o.Live.Ring.FileSize != 8<<20 || o.Live.Ring.Files != 16 {
		t.Fatalf("defaults: %q %+v", o.Live.Filter, o.Live.Ring)
	}
	// --filter alone is taken as written; --host narrows the default ports.
	for args, want := range map[string]string{
		"--filter|host 10.0.0.5":             "host 10.0.0.5",
		"--host|10.0.0.5":                    "(port 1883 or port 8883) and (host 10.0.0.5)",
		"--filter|udp|--ports|1883,1883,502": "(port 502 or port 1883) and (udp)",
	} {
		o, code, errOut := parseCapture(t, append([]string{"--iface", "lo", "--dir", "d"}, strings.Split(args, "|")...)...)
		if code != 0 || o.Live.Filter != want {
			t.Errorf("%s: filter %q (exit %d %s), want %q", args, o.Live.Filter, code, errOut, want)
		}
	}
}

func TestCaptureBadFlagsAreOneLineExitTwo(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--iface", "lo", "--dir", "d", "--file-size", "8X"}, `--file-size: "8X" is not valid: want a size such as 8MiB`},
		{[]string{"--iface", "lo", "--dir", "d", "--filter", "portrange 1-100"}, `"portrange" is not supported (`},
		{[]string{"--iface", "lo", "--dir", "d", "--ports", "99999"}, `--ports: "99999" is not valid`},
		{[]string{"--iface", "lo", "--dir", "d", "--files", "1"}, "--files: 1: keep at least 2 files"},
		{[]string{"--iface", "lo", "--dir", "d", "--file-size", "64KiB"}, "--file-size: 65536 bytes cannot hold one packet of --snaplen 262144"},
		{[]string{"--iface", "lo", "--dir", "d", "--pcap-format", "erf"}, `--pcap-format: "erf": use pcapng or pcap`},
		{[]string{"--iface", "lo", "--dir", "d", "--flush", "soon"}, `--flush: "soon" is not valid`},
		{[]string{"--dir", "d"}, "--iface: name at least one interface"},
		{[]string{"--iface", "lo"}, "--dir: name the ring directory"},
	} {
		_, code, errOut := parseCapture(t, tc.args...)
		lines := testenv.Lines(errOut)
		if code != ExitUsage || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
			t.Errorf("capture %v: exit %d, stderr %q; want exit 2 and one line with %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestCaptureRingCommandsOnAMissingDirAreUsageErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	for _, args := range [][]string{
		{"capture", "ls", "--dir", missing},
		{"capture", "status", "--dir", missing},
		{"capture", "export", "--dir", missing, "-w", filepath.Join(t.TempDir(), "x.pcapng")},
		{"capture", "export", "--dir", missing},
		{"capture", "export", "--dir", missing, "-w", "x.pcapng", "--since", "yesterday"},
	} {
		code, _, errOut := runMain(t, args...)
		if code != ExitUsage || len(testenv.Lines(errOut)) > 2 {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
		}
	}
}

// An empty directory is a ring without files: ls says so, status fails
// capture.running (nobody writes it) with every check documented.
func TestCaptureStatusOfAnEmptyRing(t *testing.T) {
	dir := t.TempDir()
	code, out, _ := runMain(t, "capture", "status", "--dir", dir, "-o", "json")
	if code != ExitProblem {
		t.Fatalf("exit %d: %s", code, out)
	}
	testenv.AssertChecksDocumented(t, []byte(out))
	var rep struct {
		FirstFailure struct{ ID string } `json:"first_failure"`
	}
	_ = json.Unmarshal([]byte(out), &rep)
	if rep.FirstFailure.ID != "capture.running" {
		t.Fatalf("first failure %q", rep.FirstFailure.ID)
	}
	code, out, _ = runMain(t, "capture", "ls", "--dir", dir)
	if code != 0 || !strings.Contains(out, "0 files, no packets") {
		t.Fatalf("ls: exit %d: %s", code, out)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// Where live capture does not exist (every OS but Linux) the command says so
// and exits 3; the typed errors of the capture package map to their codes,
// each that cannot run with its next step.
func TestCaptureFailuresMapToExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		want string
	}{
		{fmt.Errorf("--run-as: %w", capture.ErrNotSupported), ExitCannotRun, "capture is not supported on"},
		{&capture.PermissionError{Err: errors.New("operation not permitted")}, ExitCannotRun, "CAP_NET_RAW"},
		{&capture.IfaceError{Name: "wwan0", Err: capture.ErrNoSuchIface}, ExitCannotRun, "interface wwan0"},
		{&capture.LockedError{Dir: "/srv/ring", PID: 42}, ExitCannotRun, "pid 42"},
		{&capture.DirError{Dir: "/srv/ring", Op: "creating", Err: errors.New("permission denied")}, ExitCannotRun, "creating /srv/ring"},
		{&capture.FilterError{Msg: `"portrange" is not supported`}, ExitUsage, "portrange"},
		{capture.ErrRunAsCgo, ExitCannotRun, "CGO_ENABLED=0"},
	} {
		var ee *ExitError
		if !errors.As(captureFailure(tc.err), &ee) || ee.Code != tc.code || !strings.Contains(ee.Error(), tc.want) || (tc.code == ExitCannotRun && ee.Hint == "") {
			t.Errorf("%v: got %+v, want exit %d mentioning %q", tc.err, ee, tc.code, tc.want)
		}
	}
}

// Export of a window with two link types to a .pcap name is the user's
// choice of file name to change (exit 2, "write pcapng"), not a disk
// problem (exit 3, "check that the directory is writable").
func TestCaptureExportOfTwoLinkTypesToPcapIsAUsageError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ring")
	start := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	w, err := capture.NewRingWriter(capture.RingOptions{Dir: dir, FileSize: 1 << 20, Files: 4, Flush: time.Second, Fsync: 30 * time.Second,
		Interfaces: []capture.IfaceSpec{{Name: "eth0", LinkType: capture.LinkEthernet, Snaplen: 2048}, {Name: "wwan0", LinkType: 101, Snaplen: 2048}},
		Clock:      func() time.Time { return start }})
	if err != nil {
		t.Fatal(err)
	}
	ip := make([]byte, 28)
	ip[0], ip[9] = 0x45, 17
	eth := append(append(make([]byte, 12), 0x08, 0x00), ip...)
	if err := w.WritePacket(1, start, ip, len(ip)); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(0, start.Add(time.Millisecond), eth, len(eth)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "incident.pcap")
	code, _, errOut := runMain(t, "capture", "export", "--dir", dir, "-w", out)
	if code != ExitUsage || !strings.Contains(errOut, "pcapng") || !strings.Contains(errOut, "wwan0") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s left behind: %v", out, err)
	}
}
