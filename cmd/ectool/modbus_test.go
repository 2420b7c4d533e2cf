package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab/bus/bustest"
)

func TestModbusUsageErrorsExitTwoBeforeAnyIO(t *testing.T) {
	for _, args := range [][]string{
		{"modbus", "read", "/dev/ttyNOSUCH", "--reg", "40001"},                                      // no --unit
		{"modbus", "read", "/dev/ttyNOSUCH", "--unit", "1,2", "--reg", "40001"},                     // read takes one
		{"modbus", "read", "/dev/ttyNOSUCH", "--unit", "0", "--reg", "40001"},                       // read never broadcasts
		{"modbus", "read", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "40000"},                       // Modicon counts from 1
		{"modbus", "read", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "30001", "--table", "holding"}, // contradiction
		{"modbus", "read", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "40001", "--type", "f16"},
		{"modbus", "read", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "40001", "--order", "big"},
		{"modbus", "read", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "40001", "--type", "f64", "--count", "40"},
		{"modbus", "read", "/dev/ttyNOSUCH", "--unit", "1", "--meter", "sdm999"},
		{"modbus", "read", "tcp://127.0.0.1:1", "--unit", "1", "--reg", "1", "--talk-over-master"},
		{"modbus", "write", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "40001", "--value", "3"}, // no --yes off a terminal
		{"modbus", "write", "/dev/ttyNOSUCH", "--unit", "0", "--reg", "40001", "--value", "3", "--yes"},
		{"modbus", "write", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "30001", "--value", "3", "--yes"},
		{"modbus", "write", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "40001", "--value", "70000", "--yes"},
		{"modbus", "write", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "40001", "--value", "230.5", "--type", "f32", "--yes"}, // order needed
		{"modbus", "write", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "40001", "--value", "1,2", "--fc", "06", "--yes"},
		{"modbus", "write", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "00001", "--value", "1", "--fc", "16", "--yes"},
		{"modbus", "write", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "40001", "--yes"},
		{"modbus", "write", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "40001", "--value", "1", "--talk-over-master", "--yes"}, // never offered
		{"modbus", "watch", "/dev/ttyNOSUCH", "--unit", "1"},
		{"modbus", "watch", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "40001,x"},
		{"modbus", "watch", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "40001", "--max-error-rate", "120"},
		{"modbus", "watch", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "40001", "--type", "f32", "--count", "63"}, // 126 registers
		{"modbus", "profiles", "sdm999"},
	} {
		code, out, errOut := runMain(t, args...)
		if code != ExitUsage || strings.Contains(errOut, "strconv") {
			t.Errorf("%v: exit %d, want 2\n%s%s", args, code, out, errOut)
		}
	}
}

// Off a terminal, a write without --yes ends at once: it never reads
// stdin, which here would block for ever.
func TestModbusWriteNeverWaitsForInputOffATerminal(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	done := make(chan int, 1)
	var errOut bytes.Buffer
	go func() {
		done <- Main(context.Background(), []string{"modbus", "write", "/dev/ttyNOSUCH", "--unit", "1", "--reg", "40021", "--value", "5"},
			&Streams{In: r, Out: &bytes.Buffer{}, ErrOut: &errOut})
	}()
	select {
	case code := <-done:
		if code != ExitUsage || !strings.Contains(errOut.String(), "--yes") {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("write waited for input off a terminal")
	}
}

func TestModbusReadsTheLabSDM630ByItsProfile(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	code, out, errOut := runMain(t, "modbus", "read", pty.Path(), "--unit", "2", "--meter", "sdm630", "--listen", "200ms", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	testenv.AssertChecksDocumented(t, []byte(out))
	var r struct {
		Details struct {
			Profile string
			Values  []struct {
				Reference, Name, Value, Unit string
				RawHex                       string `json:"raw_hex"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Details.Profile != "sdm630" || len(r.Details.Values) != 14 {
		t.Fatalf("details %+v", r.Details)
	}
	for _, v := range r.Details.Values {
		if v.Value == "" || v.RawHex == "" || v.Reference == "" {
			t.Errorf("value %+v", v)
		}
	}
	code, out, _ = runMain(t, "modbus", "read", pty.Path(), "--unit", "2", "--meter", "sdm630", "--listen", "0")
	if code != ExitOK || !strings.Contains(out, "Total import active energy") || !strings.Contains(out, " kWh") || !strings.Contains(out, "30073 = input register 72 (0x0048), FC 04") {
		t.Fatalf("text: exit %d\n%s", code, out)
	}
}

// With -v the text shows every order --order auto weighed, and why each
// was dropped.
func TestModbusReadShowsTheOtherOrdersOnRequest(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	code, out, _ := runMain(t, "modbus", "read", pty.Path(), "--unit", "2", "--reg", "30001", "--type", "f32", "--meter", "sdm630", "--listen", "0", "-v")
	for _, want := range []string{"ABCD", "CDAB", "BADC", "DCBA", "plausible", "outside the quantity's range"} {
		if code != ExitOK || !strings.Contains(out, want) {
			t.Fatalf("exit %d, no %q:\n%s", code, want, out)
		}
	}
}

// The lab's iEM3255 sends its words swapped: the read says so and still
// gives the right values (a warning, exit 0).
func TestModbusReadFindsTheSwappedOrder(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	code, out, errOut := runMain(t, "modbus", "read", pty.Path(), "--unit", "3", "--listen", "0")
	if code != ExitOK || !strings.Contains(out, "[warn] modbus.order") || !strings.Contains(out, "words swapped against its manual") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestModbusReadWordsAMissingRegister(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	code, out, _ := runMain(t, "modbus", "read", pty.Path(), "--unit", "1", "--reg", "49000", "--listen", "0")
	if code != ExitProblem || !strings.Contains(out, "the meter has no holding register 49000") || !strings.Contains(out, "count from 0") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestModbusWriteWithYesReadsBack(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	code, out, errOut := runMain(t, "modbus", "write", pty.Path(), "--unit", "1", "--reg", "40021", "--value", "230.5", "--type", "s32", "--order", "CDAB", "--scale", "0.1", "--yes", "--listen", "0", "-o", "json")
	if code != ExitOK || !strings.Contains(out, `"id":"modbus.readback","title":"read back 40021","status":"ok"`) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	testenv.AssertChecksDocumented(t, []byte(out))
	code, out, _ = runMain(t, "modbus", "read", pty.Path(), "--unit", "1", "--reg", "40021", "--type", "s32", "--order", "CDAB", "--scale", "0.1", "--listen", "0")
	if code != ExitOK || !strings.Contains(out, "230.5") {
		t.Fatalf("read after write: exit %d\n%s", code, out)
	}
	// Eastron refuses FC 06; the failure names --fc 16.
	code, out, _ = runMain(t, "modbus", "write", pty.Path(), "--unit", "2", "--reg", "40021", "--value", "7", "--yes", "--listen", "0")
	if code != ExitProblem || !strings.Contains(out, "--fc 16") {
		t.Fatalf("FC 06 to an Eastron: exit %d\n%s", code, out)
	}
}

// On a terminal the write asks first: "y" writes, anything else does not.
func TestModbusWriteAsksOnATerminal(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	for _, c := range []struct {
		answer string
		code   int
	}{{"y\n", ExitOK}, {"n\n", ExitProblem}, {"", ExitProblem}} {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), []string{"modbus", "write", pty.Path(), "--unit", "1", "--reg", "40023", "--value", "9", "--listen", "0"},
			&Streams{In: strings.NewReader(c.answer), Out: &out, ErrOut: &errOut, InTTY: true, ErrTTY: true})
		if code != c.code || !strings.Contains(errOut.String(), "Write 9 (0009) with FC 06 to 40023 (holding register 22) of unit 1") {
			t.Errorf("answer %q: exit %d\n%s%s", c.answer, code, out.String(), errOut.String())
		}
		if c.code != ExitOK && strings.Contains(out.String(), "modbus.write") {
			t.Errorf("answer %q wrote:\n%s", c.answer, out.String())
		}
	}
}

// watch -o json: JSON Lines, one per change, then the report; the flaky
// meter fails its check, the clean ones pass.
func TestModbusWatchWritesJSONLinesAndFailsTheFlakyMeter(t *testing.T) {
	_, pty := bustest.StartPTY(t, "flaky")
	code, out, errOut := runMain(t, "modbus", "watch", pty.Path(), "--unit", "1,2", "--reg", "40001", "--every", "0", "--polls", "40", "--listen", "200ms", "-o", "json")
	if code != ExitProblem {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	lines := testenv.Lines(out)
	var last struct {
		Schema string
		Checks []struct{ ID, Status string }
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Schema != "ectool.report/v1" {
		t.Fatalf("last line is not the report: %v\n%s", err, out)
	}
	testenv.AssertChecksDocumented(t, []byte(lines[len(lines)-1]))
	status := map[string]string{}
	for _, c := range last.Checks {
		status[c.ID] = c.Status
	}
	if status["watch.unit1"] != "ok" || status["watch.unit2"] != "failed" {
		t.Fatalf("checks %v", status)
	}
	sc := bufio.NewScanner(strings.NewReader(strings.Join(lines[:len(lines)-1], "\n")))
	changes := 0
	for sc.Scan() {
		var c struct {
			UnitID    int `json:"unit_id"`
			Reference string
			Value     string
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil || c.Reference != "40001" || c.Value == "" {
			t.Fatalf("change line %q: %v", sc.Text(), err)
		}
		changes++
	}
	if changes < 2 {
		t.Errorf("%d change lines, want the first value of each unit at least", changes)
	}
}

// The text of a watch says each register back in both forms first: the
// change lines name only the reference.
func TestModbusWatchSaysTheRegistersBackInBothForms(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	code, out, errOut := runMain(t, "modbus", "watch", pty.Path(), "--unit", "1", "--reg", "16", "--count", "2", "--every", "0", "--polls", "2", "--listen", "0")
	if code != ExitOK || !strings.Contains(errOut, "watching 40017 (holding register 16, FC 03): 2 × u16 to 40018") || !strings.Contains(out, "unit 1  40018") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestModbusProfilesListsTheMeters(t *testing.T) {
	code, out, _ := runMain(t, "modbus", "profiles")
	for _, name := range []string{"em340", "sdm630", "sdm120", "iem3255"} {
		if code != ExitOK || !strings.Contains(out, name) {
			t.Fatalf("exit %d, no %s:\n%s", code, name, out)
		}
	}
	code, out, _ = runMain(t, "modbus", "profiles", "sdm630", "-o", "json")
	var r struct {
		Profiles []struct {
			Name     string
			Verified bool
			Source   struct{ Title string }
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != ExitOK || len(r.Profiles) != 1 || r.Profiles[0].Source.Title == "" {
		t.Fatalf("exit %d %v\n%s", code, err, out)
	}
}
