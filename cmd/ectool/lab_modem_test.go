package main

import (
	"encoding/json"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
)

func TestLabRefusesBadModemFlagsBeforeStarting(t *testing.T) {
	for _, args := range [][]string{
		{"lab", "--modem-scenario", "nope"},
		{"lab", "--modem-dialect", "huawei"},
		{"lab", "--modem-quirks", "echo,loud"},
		{"lab", "tour", "--modem-scenario", "nope"},
	} {
		code, out, errOut := runMain(t, args...)
		if code != ExitUsage || out != "" || !strings.Contains(errOut, "--modem-") || len(testenv.Lines(errOut)) != 1 {
			t.Errorf("ectool %v: exit %d, stdout %q, stderr %q; want exit 2 in one line naming the flag", args, code, out, errOut)
		}
	}
}

func TestLabPrintsTheModemEndpoints(t *testing.T) {
	code, out, errOut := runMain(t, "lab", "-o", "json", "--duration", "300ms", "--modem-scenario", "pin-locked", "--modem-dialect", "sierra", "--modem-quirks", "echo")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var ep struct {
		Modem struct {
			Scenario    string   `json:"scenario"`
			Dialect     string   `json:"dialect"`
			Quirks      []string `json:"quirks"`
			TCP         string   `json:"tcp"`
			PTY         string   `json:"pty"`
			APN         string   `json:"apn"`
			ExpectedAPN string   `json:"expected_apn"`
			PINFile     string   `json:"pin_file"`
		} `json:"modem"`
	}
	if err := json.Unmarshal([]byte(out), &ep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	m := ep.Modem
	if m.Scenario != "pin-locked" || m.Dialect != "sierra" || len(m.Quirks) != 1 || !strings.HasPrefix(m.TCP, "tcp://127.0.0.1:") ||
		m.APN != "m2m.example" || m.ExpectedAPN != "m2m.example" || m.PINFile == "" {
		t.Errorf("modem endpoints: %+v", m)
	}
	if (runtime.GOOS == "linux" || runtime.GOOS == "darwin") && !strings.HasPrefix(m.PTY, "/dev/") {
		t.Errorf("no PTY on %s: %+v", runtime.GOOS, m)
	}
	code, out, _ = runMain(t, "lab", "--duration", "300ms")
	if code != 0 || !strings.Contains(out, "cellular modem (generic dialect), scenario wrong-apn") || !strings.Contains(out, "ectool probe modem --port tcp://") {
		t.Errorf("text endpoints lack the modem:\n%s", out)
	}
	if _, out, _ = runMain(t, "lab", "-o", "json", "--duration", "300ms", "--no-modem"); strings.Contains(out, `"modem"`) {
		t.Errorf("--no-modem still has a modem:\n%s", out)
	}
}

// With --port-base the modem listens on BASE+20: taken, the lab cannot run
// and says which port and what to do. The ports are below the ephemeral
// range, so no other test's free port can land on them.
func TestLabModemOnATakenPortCannotRun(t *testing.T) {
	var taken net.Listener
	base := 0
	for b := 20000 + os.Getpid()%5000*2; b < 30000 && taken == nil; b += 37 {
		if !free(b, b+1, b+2, b+3, b+10, b+11) {
			continue
		}
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(b+20))); err == nil {
			taken, base = ln, b
		}
	}
	if taken == nil {
		t.Fatal("no free block of ports between 20000 and 30000")
	}
	defer taken.Close()
	code, _, errOut := runMain(t, "lab", "--port-base", strconv.Itoa(base), "--duration", "1s")
	port := strconv.Itoa(base + 20)
	if code != ExitCannotRun || !strings.Contains(errOut, port) || !strings.Contains(errOut, "--port-base") {
		t.Errorf("modem on a taken port: exit %d, stderr %q; want exit 3 naming %s and --port-base", code, errOut, port)
	}
}
