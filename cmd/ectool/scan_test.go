package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab/bus"
	"github.com/ecdata/ectool/lab/bus/bustest"
	"github.com/ecdata/ectool/probe/modbus"
)

func TestScanUsageErrorsExitTwoBeforeAnyIO(t *testing.T) {
	for _, args := range [][]string{
		{"scan", "/dev/ttyUSB0", "--ids", "0-10"},
		{"scan", "/dev/ttyUSB0", "--ids", "240-255"},
		{"scan", "/dev/ttyUSB0", "--parity", "X"},
		{"scan", "/dev/ttyUSB0", "--stop-bits", "3"},
		{"scan", "/dev/ttyUSB0", "--probe", "fc06"},
		{"scan", "/dev/ttyUSB0", "--id-register", "abc"},
		{"scan", "tcp://127.0.0.1:1", "--auto-detect"},
		{"scan", "/dev/ttyUSB0", "--auto-detect", "--baud", "19200"},
		{"scan", "ftp://host"},
		{"scan", "rtuovertcp://host"},
		{"scan", "sniff", "tcp://127.0.0.1:502"},
		{"scan", "sniff", "/dev/ttyUSB0", "--duration", "0s"},
		{"scan", "tcp://127.0.0.1:1", "--talk-over-master"},
		{"scan", "sniff", "/dev/ttyUSB0", "--talk-over-master"}, // sniff never talks
	} {
		code, _, errOut := runMain(t, args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errOut)
		}
	}
}

// A bad value is one line that names the flag and what it wants, never
// strconv's or time's words.
func TestScanBadValuesNameTheFlagInWords(t *testing.T) {
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"--ids", "0"}, "--ids"},
		{[]string{"--ids", "248"}, "--ids"},
		{[]string{"--ids", "1-300"}, "--ids"},
		{[]string{"--ids", "garbage"}, "--ids"},
		{[]string{"--ids", "1-"}, "--ids"},
		{[]string{"--baud", "abc"}, "--baud"},
		{[]string{"--baud", "0"}, "--baud"},
		{[]string{"--parity", "X"}, "--parity"},
		{[]string{"--stop-bits", "x"}, "--stop-bits"},
		{[]string{"--data-bits", "9"}, "--data-bits"},
		{[]string{"--confirm", "many"}, "--confirm"},
		{[]string{"--retries", "x"}, "--retries"},
		{[]string{"--listen", "3"}, "--listen"},
		{[]string{"--timeout", "-1s"}, "--timeout"},
	} {
		code, _, errOut := runMain(t, append([]string{"scan", "/dev/ttyNOSUCHADAPTER"}, c.args...)...)
		first := strings.SplitN(strings.TrimSpace(errOut), "\n", 2)[0]
		if strings.Contains(first, "250") {
			t.Errorf("%v: %q gives an out-of-range id as an example", c.args, first)
		}
		if code != ExitUsage || !strings.Contains(first, c.flag) || strings.Contains(errOut, "strconv") || strings.Contains(errOut, "time: ") {
			t.Errorf("%v: exit %d, first line %q, want exit 2 naming %s in words", c.args, code, first, c.flag)
		}
	}
	code, _, errOut := runMain(t, "scan", "sniff", "/dev/ttyNOSUCHADAPTER", "--duration", "30")
	if code != ExitUsage || !strings.Contains(errOut, "--duration") || strings.Contains(errOut, "time: ") {
		t.Errorf("sniff --duration 30: exit %d, %q", code, errOut)
	}
	// mbpoll's spelling of parity is accepted: the port is missing, so exit 3, not 2.
	if code, _, errOut := runMain(t, "scan", "/dev/ttyNOSUCHADAPTER", "--parity", "even", "--listen", "0"); code != ExitCannotRun {
		t.Errorf("--parity even: exit %d, want 3 (missing port)\n%s", code, errOut)
	}
}

// A path that is not a serial device (a file, a directory) cannot run:
// exit 3, saying so, not "failed mid-scan" or a list of its holders.
func TestScanOfAPathThatIsNotASerialPortExitsThree(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/capture.log"
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, dir} {
		for _, force := range []string{"--force=false", "--force"} {
			code, out, errOut := runMain(t, "scan", p, "--ids", "1", "--listen", "0", force)
			if code != ExitCannotRun || !strings.Contains(out, "not a serial device") || strings.Contains(out, "mid-scan") {
				t.Errorf("scan %s %s: exit %d\n%s%s", p, force, code, out, errOut)
			}
		}
	}
}

func TestScanOfAMissingPortExitsThree(t *testing.T) {
	code, out, errOut := runMain(t, "scan", "/dev/ttyNOSUCHADAPTER", "-o", "json", "--listen", "0")
	if code != ExitCannotRun {
		t.Fatalf("exit %d, want 3\n%s\n%s", code, out, errOut)
	}
	var r struct {
		Checks []struct{ ID, Status, Hint string }
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not one JSON report: %v\n%s", err, out)
	}
	if r.Checks[0].ID != "bus.open" || r.Checks[0].Status != "failed" || !strings.Contains(r.Checks[0].Hint, "plugged in") {
		t.Fatalf("checks %+v", r.Checks)
	}
	testenv.AssertChecksDocumented(t, []byte(out))
}

func TestScanReportsTheCollisionOnTheLabBus(t *testing.T) {
	_, pty := bustest.StartPTY(t, "staggered")
	code, out, errOut := runMain(t, "scan", pty.Path(), "--ids", "1-3,17", "--listen", "300ms", "--timeout", "250ms", "-o", "json")
	if code != ExitProblem {
		t.Fatalf("exit %d, want 1 (a collision)\n%s\n%s", code, out, errOut)
	}
	testenv.AssertChecksDocumented(t, []byte(out))
	var r struct {
		Checks       []struct{ ID, Status string }
		FirstFailure struct{ ID, Hint string } `json:"first_failure"`
		Details      struct {
			Devices []struct {
				UnitID  int    `json:"unit_id"`
				Verdict string `json:"verdict"`
				Errors  map[string]int
				Latency *struct{ Min, P50, Max float64 } `json:"latency_ms"`
			}
			Bus      map[string]any
			Settings map[string]any
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	// Every device carries every field of the model, empty or not, so a
	// pipeline can read .hint and .identity without checking for them.
	var raw struct {
		Details struct{ Devices []map[string]json.RawMessage }
	}
	_ = json.Unmarshal([]byte(out), &raw)
	for _, d := range raw.Details.Devices {
		for _, k := range []string{"unit_id", "verdict", "responses", "errors", "latency_ms", "identity", "evidence", "hint"} {
			if _, ok := d[k]; !ok {
				t.Errorf("device %s lacks %q", d["unit_id"], k)
			}
		}
	}
	if r.FirstFailure.ID != "bus.unit17" || !strings.Contains(r.FirstFailure.Hint, "two devices answer at address 17") {
		t.Errorf("first failure %+v", r.FirstFailure)
	}
	var got []string
	for _, d := range r.Details.Devices {
		got = append(got, d.Verdict)
		if _, ok := d.Errors["timeout"]; !ok || d.Latency == nil {
			t.Errorf("device %d lacks errors.timeout or latency_ms: %+v", d.UnitID, d)
		}
	}
	if strings.Join(got, " ") != "ok ok ok collision" {
		t.Errorf("verdicts %v", got)
	}
	for _, k := range []string{"foreign_master", "echo", "noise_bytes", "listened_ms"} {
		if _, ok := r.Details.Bus[k]; !ok {
			t.Errorf("details.bus lacks %s: %v", k, r.Details.Bus)
		}
	}
	if r.Details.Settings["serial"] == nil {
		t.Errorf("details.settings lacks serial: %v", r.Details.Settings)
	}

	// The same scan as text: a table, then the report ending with the first failure.
	code, out, _ = runMain(t, "scan", pty.Path(), "--ids", "17", "--listen", "0", "--timeout", "250ms")
	lines := testenv.Lines(out)
	if code != ExitProblem || !strings.HasPrefix(lines[0], "UNIT") || !strings.Contains(lines[1], "collision") ||
		!strings.HasPrefix(lines[len(lines)-1], "FAILED at bus.unit17") {
		t.Fatalf("exit %d, text:\n%s", code, out)
	}
}

func TestScanSniffListensWithoutTransmitting(t *testing.T) {
	b, pty := bustest.StartPTY(t, "clean", func(cfg *bus.Config) {
		cfg.Faults.SecondMaster = &bus.SecondMaster{Unit: 2, Every: 150 * time.Millisecond}
	})
	before := b.Stats().Requests
	code, out, errOut := runMain(t, "scan", "sniff", pty.Path(), "--duration", "1s", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	testenv.AssertChecksDocumented(t, []byte(out))
	if !strings.Contains(out, `"id":"bus.unit2"`) {
		t.Errorf("no bus.unit2 check: %s", out)
	}
	// Only the other master's polls reached the meters.
	if got := b.Stats().Requests - before; got > 12 {
		t.Errorf("%d requests on the bus in 1s of sniffing: sniff must not transmit", got)
	}
}

func TestScanRefusesToTalkWhileAnotherMasterPolls(t *testing.T) {
	_, pty := bustest.StartPTY(t, "second-master", func(cfg *bus.Config) { cfg.Faults.SecondMaster.Every = 200 * time.Millisecond })
	code, out, errOut := runMain(t, "scan", pty.Path(), "--listen", "1s", "-o", "json")
	if code != ExitProblem {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	testenv.AssertChecksDocumented(t, []byte(out))
	var r struct {
		Checks []struct {
			ID, Status, Hint string
			SkippedReason    string `json:"skipped_reason"`
		}
		Details struct {
			Bus struct {
				ForeignMaster bool `json:"foreign_master"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Checks) != 3 || r.Checks[1].ID != "bus.listen" || r.Checks[1].Status != "failed" ||
		!strings.Contains(r.Checks[1].Hint, "scan sniff") || r.Checks[2].Status != "skipped" || !r.Details.Bus.ForeignMaster {
		t.Fatalf("checks %+v bus %+v", r.Checks, r.Details.Bus)
	}
}

func TestScanShowsProgressOnATerminal(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	var out, errOut strings.Builder
	code := Main(context.Background(), []string{"scan", pty.Path(), "--ids", "1-4", "--listen", "0", "--confirm", "0", "--no-color"},
		&Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, ErrTTY: true})
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), "address 4/4, 3 found") {
		t.Errorf("no progress on stderr: %q", errOut.String())
	}
	if strings.Contains(out.String(), "address 4/4") {
		t.Errorf("progress leaked to stdout: %q", out.String())
	}
}

// parseScan runs `scan` flag parsing only and returns its options.
func parseScan(t *testing.T, args ...string) (*ScanOptions, int) {
	t.Helper()
	app := &App{IO: &Streams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, Output: "text", Now: time.Now,
		Getenv: func(string) string { return "" }}
	var got *ScanOptions
	cmd := newCmdScan(app, func(_ context.Context, o *ScanOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	return got, app.handleError(cmd.Execute())
}

// --id-register and --probe share the register notation of the modbus
// commands: plain numbers keep meaning the wire address, as before.
func TestScanRegisterFlagsTakeTheSharedNotation(t *testing.T) {
	for _, c := range []struct {
		args  []string
		reg   int
		table modbus.Table
		probe modbus.ProbeSpec
	}{
		{[]string{"--id-register", "16"}, 16, modbus.TableHolding, modbus.DefaultProbe},
		{[]string{"--id-register", "0x10"}, 16, modbus.TableHolding, modbus.DefaultProbe},
		{[]string{"--id-register", "40017"}, 16, modbus.TableHolding, modbus.DefaultProbe},
		{[]string{"--id-register", "464513"}, 0xFC00, modbus.TableHolding, modbus.DefaultProbe},
		{[]string{"--id-register", "30017"}, 16, modbus.TableInput, modbus.DefaultProbe},
		{[]string{"--probe", "fc03:4000"}, -1, modbus.TableUnset, modbus.ProbeSpec{Function: 3, Address: 4000}},
		{[]string{"--probe", "fc04:30073"}, -1, modbus.TableUnset, modbus.ProbeSpec{Function: 4, Address: 72}},
	} {
		o, code := parseScan(t, append([]string{"/dev/ttyUSB0"}, c.args...)...)
		if code != 0 {
			t.Errorf("%v: exit %d", c.args, code)
			continue
		}
		if s := o.Scan; s.IDRegister != c.reg || s.IDTable != c.table || s.Probe != c.probe {
			t.Errorf("%v: id register %d in %v, probe %v", c.args, s.IDRegister, s.IDTable, s.Probe)
		}
	}
	for _, args := range [][]string{{"--id-register", "00001"}, {"--id-register", "40000"}, {"--probe", "fc03:30001"}} {
		if _, code := parseScan(t, append([]string{"/dev/ttyUSB0"}, args...)...); code != ExitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
