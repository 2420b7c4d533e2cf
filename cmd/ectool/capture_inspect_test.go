package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/pcapsynth"
	"github.com/ecdata/ectool/internal/testenv"
)

var inspectT0 = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

// plantedPassword must never appear in any output.
const plantedPassword = "Pl4nted-S3cret-pw"

// writeCapture synthesises a capture in dir and returns its path.
func writeCapture(t *testing.T, name string, opts pcapsynth.Options, fn func(w *pcapsynth.Writer)) string {
	t.Helper()
	path := filepath.Join(testenv.PrivateDir(t), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapsynth.NewWriter(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	fn(w)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_ = os.Chmod(path, 0o644)
	return path
}

// gatewayNight is a gateway's night: MQTT 3.1.1 and 5 sessions with a
// password, QoS 1 telemetry, a refused login, and one QoS 1 publish the
// broker never acknowledges.
func gatewayNight(t *testing.T) string {
	return writeCapture(t, "night.pcap", pcapsynth.Options{}, func(w *pcapsynth.Writer) {
		broker := netip.MustParseAddrPort("10.1.0.1:1883")
		ts := inspectT0
		for i, level := range []byte{4, 5} {
			c := w.NewConn(netip.AddrPortFrom(netip.MustParseAddr("10.1.0.20"), uint16(50000+i)), broker)
			c.Open(ts)
			c.Send(pcapsynth.ToServer, ts, pcapsynth.Connect(level, "gw-01", 60, true, "gw", plantedPassword))
			c.Send(pcapsynth.ToClient, ts, pcapsynth.Connack(level, 0))
			for id := uint16(1); id <= 5; id++ {
				ts = ts.Add(10 * time.Second)
				c.Send(pcapsynth.ToServer, ts, pcapsynth.Publish(level, "ec-data/site1/meter1/telemetry", []byte(`{"p":1200,"pw":"not-this"}`), 1, id, false, false))
				c.Send(pcapsynth.ToClient, ts.Add(5*time.Millisecond), pcapsynth.Ack(4, level, id, 0))
			}
			ts = ts.Add(time.Second)
			c.Send(pcapsynth.ToServer, ts, pcapsynth.Disconnect)
			c.Close(ts)
		}
		// A refused login (3.1.1 return code 4), then a publish never acknowledged.
		c := w.NewConn(netip.MustParseAddrPort("10.1.0.21:50100"), broker)
		c.Open(ts)
		c.Send(pcapsynth.ToServer, ts, pcapsynth.Connect(4, "gw-02", 60, true, "gw", plantedPassword+"x"))
		c.Send(pcapsynth.ToClient, ts, pcapsynth.Connack(4, 4))
		c.Close(ts)
		c = w.NewConn(netip.MustParseAddrPort("10.1.0.21:50101"), broker)
		c.Open(ts)
		c.Send(pcapsynth.ToServer, ts, pcapsynth.Connect(4, "gw-02", 60, true, "gw", plantedPassword))
		c.Send(pcapsynth.ToClient, ts, pcapsynth.Connack(4, 0))
		c.Send(pcapsynth.ToServer, ts, pcapsynth.Publish(4, "ec-data/site1/meter2/telemetry", []byte("42"), 1, 9, false, false))
		for i := 0; i < 3; i++ {
			ts = ts.Add(20 * time.Second)
			c.Send(pcapsynth.ToServer, ts, pcapsynth.Pingreq)
			c.Send(pcapsynth.ToClient, ts, pcapsynth.Pingresp)
		}
	})
}

func runInspect(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runMain(t, append([]string{"capture", "inspect"}, args...)...)
}

func TestInspectFindsTheRefusedLoginAndTheLostPublish(t *testing.T) {
	path := gatewayNight(t)
	code, out, errOut := runInspect(t, path, "-o", "json")
	if code != ExitProblem {
		t.Fatalf("exit %d, want 1 (stderr %q)", code, errOut)
	}
	testenv.AssertChecksDocumented(t, []byte(out))
	var rep struct {
		Checks []struct {
			ID, Status string
			Evidence   map[string]any
		}
		FirstFailure *struct{ ID, Hint string } `json:"first_failure"`
		Details      struct {
			Connections []map[string]any
			Topics      []map[string]any
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	status := map[string]string{}
	for _, c := range rep.Checks {
		status[c.ID] = c.Status
	}
	want := map[string]string{"inspect.input": "ok", "inspect.decode": "ok", "inspect.connect": "failed", "inspect.qos": "failed",
		"inspect.reconnects": "ok", "inspect.keepalive": "ok", "inspect.subscribe": "ok", "inspect.size": "ok", "inspect.tls": "ok", "inspect.tcp": "ok"}
	for id, s := range want {
		if status[id] != s {
			t.Errorf("%s is %q, want %q", id, status[id], s)
		}
	}
	if rep.FirstFailure == nil || rep.FirstFailure.ID != "inspect.connect" || !strings.Contains(rep.FirstFailure.Hint, "gw-02") {
		t.Errorf("first failure %+v, want inspect.connect naming gw-02", rep.FirstFailure)
	}
	if len(rep.Details.Connections) != 4 || len(rep.Details.Topics) != 2 {
		t.Errorf("%d connections, %d topics; want 4 and 2", len(rep.Details.Connections), len(rep.Details.Topics))
	}
}

func TestInspectMessagesJSONLinesHaveTheListedFields(t *testing.T) {
	path := gatewayNight(t)
	code, out, _ := runInspect(t, path, "--messages", "-o", "json")
	if code != ExitProblem {
		t.Fatalf("exit %d, want 1", code)
	}
	lines := testenv.Lines(out)
	fields := []string{"time", "stream", "src", "dst", "direction", "type", "client_id", "packet_id", "topic", "qos", "retain", "dup", "reason_code", "reason", "payload_size"}
	publishes := 0
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i, err, l)
		}
		if i == len(lines)-1 {
			if _, ok := m["report"]; !ok {
				t.Errorf("last line is not the report: %s", l)
			}
			continue
		}
		for _, f := range fields {
			if _, ok := m[f]; !ok {
				t.Errorf("line %d lacks %q: %s", i, f, l)
			}
		}
		if m["type"] == "publish" {
			publishes++
			if _, ok := m["payload"]; ok {
				t.Errorf("payload without --payload: %s", l)
			}
			if m["payload_preview"] == nil {
				t.Errorf("publish without payload_preview: %s", l)
			}
		}
	}
	if publishes != 11 {
		t.Errorf("%d publish lines, want 11", publishes)
	}
	_, out, _ = runInspect(t, path, "--messages", "--payload", "-o", "json", "-t", "ec-data/+/meter2/#")
	lines = testenv.Lines(out)
	if len(lines) != 2 || !strings.Contains(lines[0], `"payload":"42"`) {
		t.Errorf("-t meter2 --payload: %q", lines)
	}
}

// TestNoOutputShowsAPassword runs every output form on captures holding
// planted passwords (MQTT 3.1.1, 5, a refused login) and greps for them.
func TestNoOutputShowsAPassword(t *testing.T) {
	path := gatewayNight(t)
	for _, args := range [][]string{
		{}, {"-o", "json"}, {"--messages"}, {"--messages", "-o", "json"}, {"--messages", "--payload"},
		{"--messages", "--payload", "-o", "json"}, {"-v", "--messages", "--payload"}, {"--client", "gw-02", "--messages", "--payload", "-o", "json"},
	} {
		_, out, errOut := runInspect(t, append([]string{path}, args...)...)
		if strings.Contains(out+errOut, plantedPassword) || strings.Contains(out+errOut, "Pl4nted") {
			t.Errorf("ectool capture inspect %v shows the password:\n%s\n%s", args, out, errOut)
		}
		if len(out) == 0 {
			t.Errorf("%v: no output", args)
		}
	}
}

func TestInspectUsageErrorsExitTwo(t *testing.T) {
	dir := testenv.PrivateDir(t)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not a capture\n"), 0o644)
	good := gatewayNight(t)
	for _, args := range [][]string{
		{},
		{filepath.Join(dir, "missing.pcap")},
		{text},
		{dir},
		{good, "--ports", "1883,http"},
		{good, "--ports", "70000"},
		{good, "--assume-version", "4"},
		{good, "-t", "a/#/b"},
		{good, "--since", "yesterday"},
		{good, "--since", "1m", "--until", "2m"},
		{good, "--payload"},
		{"-", "-"},
		{"-", "--since", "30s"},
	} {
		code, out, errOut := runInspect(t, args...)
		if code != ExitUsage || out != "" || !strings.HasPrefix(errOut, "error: ") {
			t.Errorf("capture inspect %v: exit %d, stdout %q, stderr %q; want exit 2 with one error", args, code, out, errOut)
		}
	}
	code, out, _ := runInspect(t, text, "-o", "json")
	var doc struct {
		Error struct {
			Message  string
			ExitCode int `json:"exit_code"`
		}
	}
	if code != ExitUsage || json.Unmarshal([]byte(out), &doc) != nil || doc.Error.ExitCode != 2 || doc.Error.Message == "" {
		t.Errorf("-o json usage error: exit %d, stdout %q; want one {\"error\":...} document", code, out)
	}
}

func TestInspectUnreadableCaptureCannotRun(t *testing.T) {
	path := gatewayNight(t)
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runAs(t, testenv.CopyBinary(t), asUser{"nobody", 65534}, time.Minute, "capture", "inspect", path)
	if code != ExitCannotRun || !strings.Contains(errOut, "permission denied") {
		t.Errorf("as nobody: exit %d, stderr %q; want exit 3 naming the permission", code, errOut)
	}
	// A ring whose one file cannot be read: the rest is inspected and
	// reported, and the exit code says part could not be read.
	ring := testenv.PrivateDir(t)
	data, _ := os.ReadFile(gatewayNight(t))
	os.WriteFile(filepath.Join(ring, "ring_00001_20261201T030000Z.pcap"), data, 0o644)
	os.WriteFile(filepath.Join(ring, "ring_00002_20261201T040000Z.pcap"), data, 0o600)
	code, out, errOut := runAs(t, testenv.CopyBinary(t), asUser{"nobody", 65534}, time.Minute, "capture", "inspect", ring, "-o", "json")
	if code != ExitCannotRun || !strings.Contains(out, `"io_error":true`) || !strings.Contains(out, `"inspect.connect"`) {
		t.Errorf("ring with an unreadable file: exit %d, stdout %q, stderr %q; want the report and exit 3", code, out, errOut)
	}
}

func TestInspectReadsStandardInputAndWindows(t *testing.T) {
	path := gatewayNight(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"capture", "inspect", "-", "-o", "json"}, &Streams{In: bytes.NewReader(data), Out: &out, ErrOut: &errOut})
	if code != ExitProblem || !strings.Contains(out.String(), `"inspect.connect"`) {
		t.Fatalf("stdin: exit %d, stderr %q", code, errOut.String())
	}
	// The last 25 s of the capture hold only gw-02's pings: its lost
	// publish and refused login are before the window.
	code, o, e := runInspect(t, path, "--since", "25s", "-o", "json")
	if code != ExitOK || !strings.Contains(o, `"outside_window"`) {
		t.Errorf("--since 25s: exit %d, stderr %q\n%s", code, e, o)
	}
	code, _, e = runInspect(t, path, "--until", inspectT0.Add(30*time.Second).Format(time.RFC3339), "-o", "json")
	if code != ExitOK {
		t.Errorf("--until the first 30 s: exit %d (%s)", code, e)
	}
}

func TestInspectFlagsParse(t *testing.T) {
	app := &App{IO: &Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, Output: "text", Now: time.Now, Getenv: os.Getenv}
	var got *CaptureInspectOptions
	cmd := newCmdCaptureInspect(app, func(_ context.Context, o *CaptureInspectOptions) error { got = o; return nil })
	path := gatewayNight(t)
	cmd.SetArgs([]string{path, "--ports", "1883, 9001", "--client", "a", "--client", "b", "-t", "x/#", "--assume-version", "5",
		"--since", "2h", "--messages", "--payload"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	o := got.Inspect
	if len(o.Ports) != 2 || o.Ports[1] != 9001 || len(o.Clients) != 2 || o.Topics[0] != "x/#" || o.AssumeVersion != "5" ||
		!got.Window.relative() || !got.Messages || !got.Payload {
		t.Errorf("parsed %+v / %+v", o, got)
	}
}
