package modem

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/testenv"
	labmodem "github.com/ecdata/ectool/lab/modem"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// labModem starts a lab modem and connects to its TCP AT port.
func labModem(t *testing.T, cfg labmodem.Config) (*labmodem.Modem, net.Conn, string) {
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
	c, err := net.DialTimeout("tcp", tcp.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return m, c, tcp.URL()
}

// scenarioWants: each check's status (port, sim, signal, registration,
// operator, pdp) and words the verdict must hold.
var scenarioWants = map[string]struct {
	statuses string
	verdict  string
}{
	"wrong-apn":           {"ok ok ok ok ok failed", "registered (home, LTE), signal -71 dBm good, but PDP context 1 with APN 'internet' has no IP address: the APN is probably wrong (expected 'm2m.example')"},
	"ok":                  {"ok ok ok ok ok ok", "PDP context 1 with APN 'm2m.example' has 10.64.3.7: the data path through the modem is up"},
	"no-sim":              {"ok failed ok skipped skipped skipped", "but no SIM"},
	"pin-locked":          {"ok failed ok skipped skipped skipped", "the SIM waits for its PIN (3 attempts left)"},
	"no-signal":           {"ok ok failed failed skipped skipped", "no signal"},
	"registration-denied": {"ok ok ok failed skipped skipped", "registration denied (LTE, reject cause 7: EPS services not allowed): the network refuses this SIM"},
	"roaming":             {"ok ok ok ok ok ok", "registered (roaming, LTE), signal -79 dBm good"},
	"garbage":             {"failed skipped skipped skipped skipped skipped", "bytes that are not AT text"},
	"mute":                {"", "the modem stopped answering mid-session"},
}

func statuses(r *Result) string {
	var s []string
	for _, c := range r.Checks {
		s = append(s, string(c.Status))
	}
	return strings.Join(s, " ")
}

// Every lab scenario in every dialect, with echo on and URCs amid the
// answers, gives the verdict the scenario is built to show, and the modem
// hears no setter. The probes run at once (the silent scenarios spend their
// timeouts side by side), then each is judged in a subtest of its own.
func TestProbeNamesEveryLabScenarioInEveryDialect(t *testing.T) {
	type run struct {
		scenario, dialect string
		m                 *labmodem.Modem
		r                 *Result
	}
	var runs []*run
	var wg sync.WaitGroup
	for _, sc := range labmodem.Scenarios() {
		for _, d := range labmodem.Dialects {
			x := &run{scenario: sc.Name, dialect: d}
			var port net.Conn
			var url string
			x.m, port, url = labModem(t, labmodem.Config{Scenario: sc.Name, Dialect: d, Quirks: []string{"echo", "urc"}})
			timeout := 3 * time.Second // costs nothing where the modem answers
			if sc.Name == "garbage" || sc.Name == "mute" {
				timeout = time.Second
			}
			runs = append(runs, x)
			wg.Add(1)
			go func() {
				defer wg.Done()
				x.r = Probe(context.Background(), Options{Port: port, Target: url, Timeout: timeout, ExpectedAPN: labmodem.ExpectedAPN})
			}()
		}
	}
	wg.Wait()
	for _, x := range runs {
		t.Run(x.scenario+"/"+x.dialect, func(t *testing.T) {
			want, ok := scenarioWants[x.scenario]
			if !ok {
				t.Fatalf("no expectation for the lab scenario %q", x.scenario)
			}
			r := x.r
			if want.statuses != "" && statuses(r) != want.statuses {
				t.Errorf("checks %q, want %q", statuses(r), want.statuses)
			}
			if !strings.Contains(r.Verdict, want.verdict) {
				t.Errorf("verdict %q\nwant it to hold %q", r.Verdict, want.verdict)
			}
			if r.Modem.Dialect != x.dialect && x.scenario != "garbage" {
				t.Errorf("dialect %q, want %q", r.Modem.Dialect, x.dialect)
			}
			if s := labmodem.Setters(x.m.Commands()); len(s) > 0 {
				t.Errorf("the probe sent setters: %q", s)
			}
			assertConsistent(t, r)
		})
	}
}

// assertConsistent: a failed check has a hint, the first failure is what
// the verdict tells, and skipped checks say why.
func assertConsistent(t *testing.T, r *Result) {
	t.Helper()
	if len(r.Checks) != len(CheckOrder) {
		t.Fatalf("%d checks, want %d", len(r.Checks), len(CheckOrder))
	}
	for i, c := range r.Checks {
		if c.ID != CheckOrder[i] {
			t.Errorf("check %d is %s, want %s", i, c.ID, CheckOrder[i])
		}
		switch c.Status {
		case report.Failed, report.Warning:
			if c.Hint == "" {
				t.Errorf("%s %s without a hint", c.ID, c.Status)
			}
		case report.Skipped:
			if c.SkippedReason == "" {
				t.Errorf("%s skipped without a reason", c.ID)
			}
		}
	}
}

// The mute modem stops mid-session: the probe gives up after two silent
// commands instead of waiting on every remaining one, and leaves the
// settings it could not put back said so.
func TestProbeGivesUpOnAMuteModem(t *testing.T) {
	t.Parallel()
	m, port, url := labModem(t, labmodem.Config{Scenario: "mute", Dialect: "quectel"})
	r := Probe(context.Background(), Options{Port: port, Target: url, Timeout: time.Second})
	if !r.Port.Mute || r.Port.Restored {
		t.Errorf("port %+v: want mute, not restored", r.Port)
	}
	sent := len(m.Commands())
	if sent > 12 {
		t.Errorf("%d commands sent to a modem that stopped answering after 10", sent)
	}
	if r.Checks[0].Status != report.OK {
		t.Errorf("the port answered at first: %s", r.Checks[0].Status)
	}
}

// Slow answers in pieces (and +COPS? late by more than a second) are
// waited for, not taken for silence.
func TestProbeWaitsForASlowModem(t *testing.T) {
	t.Parallel()
	_, port, url := labModem(t, labmodem.Config{Scenario: "ok", Dialect: "sierra", Quirks: []string{"slow"}})
	r := Probe(context.Background(), Options{Port: port, Target: url, Timeout: 3 * time.Second, ExpectedAPN: labmodem.ExpectedAPN})
	if statuses(r) != "ok ok ok ok ok ok" {
		t.Fatalf("checks %q: %s", statuses(r), r.Verdict)
	}
}

func TestProbeSendsThePINOnceAndNeverRetries(t *testing.T) {
	m, port, url := labModem(t, labmodem.Config{Scenario: "pin-locked", Dialect: "generic", Quirks: []string{"echo"}})
	r := Probe(context.Background(), Options{Port: port, Target: url, PIN: "9999", Timeout: 3 * time.Second, ExpectedAPN: labmodem.ExpectedAPN})
	if r.Checks[1].Status != report.Failed || !strings.Contains(r.Verdict, "refused the PIN") || !strings.Contains(r.Verdict, "(2 attempts left)") {
		t.Fatalf("wrong PIN: %s, verdict %q", r.Checks[1].Status, r.Verdict)
	}
	n := 0
	for _, c := range m.Commands() {
		if strings.HasPrefix(strings.ToUpper(c.Line), "AT+CPIN=") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d PIN attempts, want exactly 1", n)
	}
	if r.SIM.PIN != "sent once: refused" {
		t.Errorf("pin %q", r.SIM.PIN)
	}
	_, port2, _ := labModem(t, labmodem.Config{Scenario: "pin-locked"})
	r = Probe(context.Background(), Options{Port: port2, Target: url, PIN: labmodem.LabPIN, Timeout: 3 * time.Second, ExpectedAPN: labmodem.ExpectedAPN})
	if statuses(r) != "ok ok ok ok ok ok" || r.SIM.PIN != "sent once: accepted" {
		t.Fatalf("right PIN: checks %q, pin %q, verdict %q", statuses(r), r.SIM.PIN, r.Verdict)
	}
	for _, e := range r.Transcript {
		if strings.Contains(e.Command, labmodem.LabPIN) || strings.Contains(e.Answer, `"`+labmodem.LabPIN+`"`) {
			t.Errorf("the PIN shows in the transcript: %+v", e)
		}
	}
}

// Interrupted (Ctrl-C), the probe stops at once and says so.
func TestProbeStopsWhenInterrupted(t *testing.T) {
	m, port, url := labModem(t, labmodem.Config{Scenario: "ok"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := Probe(ctx, Options{Port: port, Target: url})
	if statuses(r) != "failed skipped skipped skipped skipped skipped" || !strings.Contains(r.Verdict, "interrupted") {
		t.Fatalf("checks %q, verdict %q", statuses(r), r.Verdict)
	}
	if n := len(m.Commands()); n != 0 {
		t.Fatalf("%d commands sent after the interrupt", n)
	}
}

// The probe puts back what it changed: the lab modem starts with echo on
// and +CMEE 0; after the probe the last commands it heard restore both,
// and the CMEE=2 it set came before them.
func TestProbeRestoresEchoAndErrorModeAsFound(t *testing.T) {
	t.Parallel()
	m, port, url := labModem(t, labmodem.Config{Scenario: "wrong-apn", Dialect: "generic", Quirks: []string{"echo"}})
	r := Probe(context.Background(), Options{Port: port, Target: url, Timeout: 3 * time.Second, ExpectedAPN: labmodem.ExpectedAPN})
	if !r.Port.EchoWasOn || r.Port.CMEEWas != 0 || !r.Port.Restored {
		t.Fatalf("port %+v: want echo found on, +CMEE 0 found, settings restored", r.Port)
	}
	if got := r.Checks[0].Evidence["settings_restored"]; got != "yes" {
		t.Errorf("modem.port evidence settings_restored = %v, want yes", got)
	}
	var lines []string
	for _, c := range m.Commands() {
		lines = append(lines, strings.ToUpper(c.Line))
	}
	set := -1
	for i, l := range lines {
		if l == "AT+CMEE=2" && set < 0 {
			set = i
		}
	}
	n := len(lines)
	if set < 0 || n < 2 || lines[n-2] != "AT+CMEE=0" || lines[n-1] != "ATE1" || set >= n-2 {
		t.Fatalf("commands %q: want AT+CMEE=2 during the probe, then AT+CMEE=0 and ATE1 last", lines)
	}
}
