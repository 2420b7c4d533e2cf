package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/internal/testenv"
	labmodem "github.com/ecdata/ectool/lab/modem"
)

// modemReport is the part of `probe modem -o json` the tests read.
type modemReport struct {
	Checks []struct {
		ID       string         `json:"id"`
		Status   string         `json:"status"`
		Evidence map[string]any `json:"evidence"`
		Hint     string         `json:"hint"`
	} `json:"checks"`
	FirstFailure *struct{ ID, Hint string } `json:"first_failure"`
	Details      struct {
		Verdict string `json:"verdict"`
	} `json:"details"`
}

func (r modemReport) statuses() string {
	var s []string
	for _, c := range r.Checks {
		s = append(s, c.Status)
	}
	return strings.Join(s, " ")
}

// probeModem runs `ectool probe modem ... -o json` in-process.
func probeModem(t *testing.T, args ...string) (int, modemReport, string, string) {
	t.Helper()
	code, out, errOut := runMain(t, append([]string{"probe", "modem", "-o", "json"}, args...)...)
	var r modemReport
	if code != ExitUsage {
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("probe modem %v: exit %d, not JSON: %v\n%s\n%s", args, code, err, out, errOut)
		}
		testenv.AssertChecksDocumented(t, []byte(out))
	}
	return code, r, out, errOut
}

// labModemPorts starts a lab modem with its TCP AT port (and its PTY where
// asked) and returns its URL and PTY path.
func labModemPorts(t *testing.T, cfg labmodem.Config, pty bool) (*labmodem.Modem, string, string) {
	t.Helper()
	m, err := labmodem.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tcp, err := m.ServeTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	path := ""
	if pty {
		x, err := m.OpenPTY(filepath.Join(t.TempDir(), "modem"))
		if err != nil {
			t.Fatal(err)
		}
		path = x.Link()
	}
	return m, tcp.URL(), path
}

// modemScenarios: each lab scenario's check statuses (port, sim, signal,
// registration, operator, pdp), exit code and verdict words.
var modemScenarios = map[string]struct {
	statuses string
	exit     int
	verdict  string
}{
	"wrong-apn":           {"ok ok ok ok ok failed", 1, "registered (home, LTE), signal -71 dBm good, but PDP context 1 with APN 'internet' has no IP address: the APN is probably wrong (expected 'm2m.example')"},
	"ok":                  {"ok ok ok ok ok ok", 0, "the data path through the modem is up"},
	"no-sim":              {"ok failed ok skipped skipped skipped", 1, "but no SIM"},
	"pin-locked":          {"ok failed ok skipped skipped skipped", 1, "the SIM waits for its PIN (3 attempts left)"},
	"no-signal":           {"ok ok failed failed skipped skipped", 1, "no signal"},
	"registration-denied": {"ok ok ok failed skipped skipped", 1, "registration denied (LTE, reject cause 7: EPS services not allowed)"},
	"roaming":             {"ok ok ok ok ok ok", 0, "registered (roaming, LTE)"},
	"garbage":             {"failed skipped skipped skipped skipped skipped", 1, "bytes that are not AT text"},
	"mute":                {"", 1, "the modem stopped answering mid-session"},
}

// scenarioRun is one `probe modem -o json` run against a lab modem.
type scenarioRun struct {
	scenario, dialect string
	m                 *labmodem.Modem
	code              int
	out, errOut       string
}

// runScenarios starts a lab modem per scenario and dialect, runs the
// command against each at once (the silent scenarios spend their timeouts
// side by side) and judges each in a subtest of its own: over the TCP AT
// port, or with pty over the PTY.
func runScenarios(t *testing.T, pty bool) {
	var runs []*scenarioRun
	var wg sync.WaitGroup
	for _, sc := range labmodem.Scenarios() {
		for _, d := range labmodem.Dialects {
			x := &scenarioRun{scenario: sc.Name, dialect: d}
			m, url, path := labModemPorts(t, labmodem.Config{Scenario: sc.Name, Dialect: d, Quirks: []string{"echo", "urc"}}, pty)
			x.m = m
			port := url
			if pty {
				port = path
			}
			// The timeout only costs time where the modem is silent
			// (garbage, mute); elsewhere a generous one keeps a loaded
			// machine from looking like a mute modem.
			timeout := "3s"
			if sc.Name == "garbage" || sc.Name == "mute" {
				timeout = "1s"
			}
			runs = append(runs, x)
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out, errOut bytes.Buffer
				x.code = Main(context.Background(), []string{"probe", "modem", "-o", "json", "--port", port, "--apn", labmodem.ExpectedAPN, "--timeout", timeout},
					&Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
				x.out, x.errOut = out.String(), errOut.String()
			}()
		}
	}
	wg.Wait()
	for _, x := range runs {
		t.Run(x.scenario+"/"+x.dialect, func(t *testing.T) { judgeScenario(t, x) })
	}
}

func judgeScenario(t *testing.T, x *scenarioRun) {
	want, ok := modemScenarios[x.scenario]
	if !ok {
		t.Fatalf("no expectation for the lab scenario %q", x.scenario)
	}
	var r modemReport
	if err := json.Unmarshal([]byte(x.out), &r); err != nil {
		t.Fatalf("exit %d, not JSON: %v\n%s\n%s", x.code, err, x.out, x.errOut)
	}
	testenv.AssertChecksDocumented(t, []byte(x.out))
	if x.code != want.exit {
		t.Errorf("exit %d, want %d\n%s%s", x.code, want.exit, x.out, x.errOut)
	}
	if want.statuses != "" && r.statuses() != want.statuses {
		t.Errorf("checks %q, want %q", r.statuses(), want.statuses)
	}
	if !strings.Contains(r.Details.Verdict, want.verdict) {
		t.Errorf("verdict %q\nwant it to hold %q", r.Details.Verdict, want.verdict)
	}
	if s := labmodem.Setters(x.m.Commands()); len(s) > 0 {
		t.Errorf("the probe sent setters: %q", s)
	}
}

// Every lab scenario in every dialect through the command and the lab
// modem's TCP AT port: verdicts, exit codes, no setter heard.
func TestProbeModemOverTCPNamesEveryScenarioInEveryDialect(t *testing.T) {
	runScenarios(t, false)
}

func TestProbeModemUsageErrorsExitTwoBeforeAnyIO(t *testing.T) {
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte("12ab34\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--port is required"},
		{[]string{"--port", "rtu:///dev/ttyUSB2"}, "not rtu://"},
		{[]string{"--port", "tcp://host"}, "tcp://host:port"},
		{[]string{"--port", "tcp://:5000"}, "tcp://host:port"},
		{[]string{"--port", "tcp://h:70000"}, "1 to 65535"},
		{[]string{"--port", "/dev/ttyUSB2", "--baud", "0"}, "--baud"},
		{[]string{"--port", "/dev/ttyUSB2", "--parity", "X"}, "--parity"},
		{[]string{"--port", "/dev/ttyUSB2", "--timeout", "0s"}, "--timeout"},
		{[]string{"--port", "/dev/ttyUSB2", "--apn", "m2m example"}, "--apn"},
		{[]string{"--port", "/dev/ttyUSB2", "--pin-file", "/no/such/pin"}, "no such file"},
		{[]string{"--port", "/dev/ttyUSB2", "--pin-file", pinFile}, "does not hold a PIN"},
		{[]string{"--mmcli", "--pin-file", pinFile}, "--pin-file works over AT only"},
		{[]string{"--port", "/dev/ttyUSB2", "extra"}, "takes no arguments"},
	} {
		code, out, errOut := runMain(t, append([]string{"probe", "modem"}, c.args...)...)
		if code != ExitUsage || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 saying %q", c.args, code, out, errOut, c.want)
		}
		if strings.Contains(errOut, "12ab34") {
			t.Errorf("%v: the PIN file's content shows: %q", c.args, errOut)
		}
	}
}

// The PIN goes once: the wrong one is refused with the attempts left and
// never retried; the right one unlocks; neither shows anywhere.
func TestProbeModemSendsThePINFileOnce(t *testing.T) {
	dir := t.TempDir()
	wrong, right := filepath.Join(dir, "wrong"), filepath.Join(dir, "right")
	_ = os.WriteFile(wrong, []byte("9876\n"), 0o600)
	_ = os.WriteFile(right, []byte(labmodem.LabPIN+"\n"), 0o600)
	m, url, _ := labModemPorts(t, labmodem.Config{Scenario: "pin-locked", Dialect: "telit"}, false)
	code, r, out, errOut := probeModem(t, "--port", url, "--pin-file", wrong, "--apn", labmodem.ExpectedAPN)
	if code != 1 || r.FirstFailure == nil || r.FirstFailure.ID != "modem.sim" || !strings.Contains(r.Details.Verdict, "refused the PIN") ||
		!strings.Contains(r.Details.Verdict, "(2 attempts left)") {
		t.Fatalf("wrong PIN: exit %d, verdict %q", code, r.Details.Verdict)
	}
	if strings.Contains(out+errOut, "9876") {
		t.Fatal("the PIN shows in the output")
	}
	pins := 0
	for _, c := range m.Commands() {
		if strings.HasPrefix(c.Line, "AT+CPIN=") {
			pins++
		}
	}
	if pins != 1 {
		t.Fatalf("%d PIN attempts, want 1", pins)
	}
	code, r, out, errOut = probeModem(t, "--port", url, "--pin-file", right, "--apn", labmodem.ExpectedAPN)
	if code != 0 || r.statuses() != "ok ok ok ok ok ok" || strings.Contains(out+errOut, `"`+labmodem.LabPIN+`"`) {
		t.Fatalf("right PIN: exit %d, checks %q\n%s", code, r.statuses(), out)
	}
}

func TestProbeModemTextStartsWithTheVerdictAndEndsWithTheFailure(t *testing.T) {
	_, url, _ := labModemPorts(t, labmodem.Config{}, false)
	code, out, _ := runMain(t, "probe", "modem", "--port", url, "--apn", labmodem.ExpectedAPN)
	lines := testenv.Lines(out)
	if code != 1 || len(lines) < 3 || !strings.HasPrefix(lines[0], "verdict: registered (home, LTE)") ||
		!strings.HasPrefix(lines[len(lines)-1], "FAILED at modem.pdp: next, set the APN to 'm2m.example'") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// The serial group gives a modem 115200 baud and a bus 9600: one flag, one
// meaning, a default per command.
func TestSerialFlagsDefaultPerCommand(t *testing.T) {
	root := NewRootCmd(&App{IO: &Streams{}, Output: "text", Getenv: os.Getenv})
	find := func(path ...string) *cobra.Command {
		c, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, c := range []struct {
		cmd  *cobra.Command
		baud string
	}{{find("probe", "modem"), "115200"}, {find("scan"), "9600"}, {find("scan", "sniff"), "9600"}} {
		f := c.cmd.Flags().Lookup("baud")
		if f == nil || f.DefValue != c.baud || f.Usage != "serial baud rate" {
			t.Errorf("%s --baud: %+v, want default %s", c.cmd.CommandPath(), f, c.baud)
		}
	}
}
