package modem

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecdata/ectool/probe/modem/modemtest"
)

// mmcli's JSON (synthetic, in mmcli 1.20's key layout) through a stub mmcli:
// the same checks and verdicts as over AT, and only reads asked of mmcli.
func TestProbeMMCLIReadsModemManagersView(t *testing.T) {
	for _, c := range []struct {
		scenario, target, statuses, verdict string
		cannotRun                           bool
	}{
		{"ok", "", "ok ok ok ok ok ok", "registered (home, LTE), signal quality 67% good, the bearer with APN 'm2m.example' has 10.64.3.7: the data path through the modem is up", false},
		{"ok", "/dev/ttyUSB2", "ok ok ok ok ok ok", "the data path through the modem is up", false},
		{"ok", "/dev/ttyACM0", "warning ok ok ok ok ok", "the data path through the modem is up", false},
		{"wrong-apn", "", "ok ok ok ok ok failed", "registered (home, LTE), signal quality 67% good, but the bearer with APN 'internet' has no IP address: the APN is probably wrong (expected 'm2m.example')", false},
		{"pin-locked", "", "ok failed failed skipped skipped skipped", "the SIM waits for its PIN (2 attempts left)", false},
		{"no-sim", "", "ok failed failed skipped skipped skipped", "no SIM", false},
		{"no-modem", "", "failed skipped skipped skipped skipped skipped", "ModemManager shows no modem", true},
	} {
		t.Run(c.scenario+c.target, func(t *testing.T) {
			dir, calls := modemtest.StubMMCLI(t, c.scenario)
			r := ProbeMMCLI(context.Background(), Options{MMCLI: filepath.Join(dir, "mmcli"), Target: c.target, ExpectedAPN: "m2m.example"})
			if got := statuses(r); got != c.statuses {
				t.Errorf("checks %q, want %q (verdict %q)", got, c.statuses, r.Verdict)
			}
			if !strings.Contains(r.Verdict, c.verdict) {
				t.Errorf("verdict %q, want it to hold %q", r.Verdict, c.verdict)
			}
			var me *MMCLIError
			if (r.Err != nil) != c.cannotRun || c.cannotRun && (!errors.As(r.Err, &me) || !strings.Contains(me.Hint(), "ModemManager knows no modem")) {
				t.Errorf("err %v, cannot run: want %v", r.Err, c.cannotRun)
			}
			for _, call := range calls() {
				if call != "-m any -J" && !strings.HasPrefix(call, "-i /org/freedesktop/ModemManager1/SIM/") && !strings.HasPrefix(call, "-b /org/freedesktop/ModemManager1/Bearer/") {
					t.Errorf("mmcli called with %q", call)
				}
			}
			if r.Via != "mmcli" || len(r.Transcript) == 0 {
				t.Errorf("via %q, transcript %d", r.Via, len(r.Transcript))
			}
			assertConsistent(t, r)
		})
	}
}

func TestProbeMMCLIWithoutMMCLICannotRun(t *testing.T) {
	r := ProbeMMCLI(context.Background(), Options{MMCLI: filepath.Join(t.TempDir(), "no-mmcli-here")})
	var me *MMCLIError
	if !errors.As(r.Err, &me) || r.Checks[0].Hint == "" {
		t.Fatalf("err %v, hint %q", r.Err, r.Checks[0].Hint)
	}
}
