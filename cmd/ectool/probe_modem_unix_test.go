//go:build linux || darwin

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
	labmodem "github.com/ecdata/ectool/lab/modem"
	"github.com/ecdata/ectool/probe/modem/modemtest"
)

// Every lab scenario in every dialect through the command and the lab
// modem's PTY, opened like a USB modem's ttyUSB port.
func TestProbeModemOverThePTYNamesEveryScenarioInEveryDialect(t *testing.T) {
	runScenarios(t, true)
}

// A port another process holds is refused (exit 3) naming it and the
// modem's fix; --force opens it anyway. The holder is a copy of sleep(1)
// called ModemManager, the holder a modem port usually has.
func TestProbeModemRefusesAHeldPortUnlessForced(t *testing.T) {
	_, _, pty := labModemPorts(t, labmodem.Config{}, true)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		testenv.Missing(t, "no sleep(1): %v", err)
	}
	mm := filepath.Join(t.TempDir(), "ModemManager")
	if b, err := os.ReadFile(sleep); err != nil || os.WriteFile(mm, b, 0o755) != nil {
		t.Fatalf("copying %s: %v", sleep, err)
	}
	holder := exec.Command("sh", "-c", `exec 3<>"$0"; echo held; exec "$1" 60`, pty, mm)
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	buf := make([]byte, 5)
	if n, err := stdout.Read(buf); err != nil || string(buf[:n]) != "held\n" {
		t.Fatalf("the holder did not open the port: %q %v", buf[:n], err)
	}
	code, r, _, _ := probeModem(t, "--port", pty)
	if code != ExitCannotRun || r.FirstFailure == nil || r.FirstFailure.ID != "modem.port" ||
		!strings.Contains(r.Checks[0].Hint, "ModemManager (PID") || !strings.Contains(r.Checks[0].Hint, "systemctl stop ModemManager") ||
		!strings.Contains(r.Checks[0].Hint, "ID_MM_PORT_IGNORE") ||
		!strings.Contains(r.Checks[0].Hint, "--force") {
		t.Fatalf("held port: exit %d, %+v", code, r.Checks)
	}
	if code, r, _, _ = probeModem(t, "--port", pty, "--force", "--apn", labmodem.ExpectedAPN); code != 1 || r.FirstFailure == nil || r.FirstFailure.ID != "modem.pdp" {
		t.Fatalf("--force: exit %d, checks %q", code, r.statuses())
	}
}

func TestProbeModemOfAMissingOrWrongPortCannotRun(t *testing.T) {
	for _, port := range []string{"/dev/ttyNOSUCHMODEM", t.TempDir(), "tcp://127.0.0.1:1"} {
		code, r, _, _ := probeModem(t, "--port", port)
		if code != ExitCannotRun || r.statuses() != "failed skipped skipped skipped skipped skipped" || r.Checks[0].Hint == "" {
			t.Errorf("%s: exit %d, checks %q", port, code, r.statuses())
		}
	}
}

// --mmcli reads ModemManager's JSON (synthetic, mmcli 1.20's key layout)
// through a stub mmcli on PATH.
func TestProbeModemWithMMCLI(t *testing.T) {
	for _, c := range []struct {
		scenario string
		exit     int
		verdict  string
	}{
		{"ok", 0, "the bearer with APN 'm2m.example' has 10.64.3.7"},
		{"wrong-apn", 1, "the bearer with APN 'internet' has no IP address: the APN is probably wrong (expected 'm2m.example')"},
		{"pin-locked", 1, "the SIM waits for its PIN (2 attempts left)"},
		{"no-modem", ExitCannotRun, "ModemManager shows no modem"},
	} {
		dir, calls := modemtest.StubMMCLI(t, c.scenario)
		t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		code, r, _, _ := probeModem(t, "--mmcli", "--apn", labmodem.ExpectedAPN, "--timeout", "10s")
		if code != c.exit || !strings.Contains(r.Details.Verdict, c.verdict) {
			t.Errorf("%s: exit %d, verdict %q; want %d, %q", c.scenario, code, r.Details.Verdict, c.exit, c.verdict)
		}
		if len(calls()) == 0 {
			t.Errorf("%s: mmcli was not called", c.scenario)
		}
	}
}

// A slow modem (late answers in pieces, +COPS? over a second late) is
// waited for within the default per-command timeout.
func TestProbeModemWaitsForASlowModem(t *testing.T) {
	_, _, pty := labModemPorts(t, labmodem.Config{Scenario: "ok", Dialect: "ublox", Quirks: []string{"slow", "echo"}}, true)
	start := time.Now()
	code, r, _, _ := probeModem(t, "--port", pty, "--apn", labmodem.ExpectedAPN)
	if code != 0 || r.statuses() != "ok ok ok ok ok ok" {
		t.Fatalf("exit %d, checks %q after %s: %s", code, r.statuses(), time.Since(start), r.Details.Verdict)
	}
}
