//go:build linux

package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
	labmodem "github.com/ecdata/ectool/lab/modem"
	"github.com/ecdata/ectool/probe/serialport"
)

// A modem behind a serial server, reached through a socat PTY: socat holds
// the PTY's master (and slave), it is the other end of the wire, so the
// probe opens the port without --force and names the bridge.
func TestProbeModemThroughASocatBridgeNamesTheBridge(t *testing.T) {
	socat := testenv.Require(t, "socat")
	_, url, _ := labModemPorts(t, labmodem.Config{Scenario: "ok", Dialect: "quectel"}, false)
	link := filepath.Join(t.TempDir(), "ttyModem")
	cmd := exec.Command(socat, "pty,raw,echo=0,link="+link, "tcp:"+url[len("tcp://"):])
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitForBridge(t, link, cmd.Process.Pid)
	code, r, out, errOut := probeModem(t, "--port", link, "--apn", labmodem.ExpectedAPN)
	if code != 0 || r.statuses() != "ok ok ok ok ok ok" {
		t.Fatalf("exit %d, checks %q\n%s%s", code, r.statuses(), out, errOut)
	}
	want := fmt.Sprintf("socat (pid %d) holds the other end", cmd.Process.Pid)
	if ev := r.Checks[0].Evidence; ev["bridge"] != want || ev["forced_past"] != nil || ev["serial"] != "115200 8N1" {
		t.Errorf("modem.port evidence %v: want bridge %q, 115200 8N1 and no holder forced past", ev, want)
	}
}

// waitForBridge waits until the process pid holds the PTY link points at.
func waitForBridge(t *testing.T, link string, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		hs, _ := serialport.FindHolders(link)
		for _, h := range hs {
			if h.PID == pid && h.Bridge {
				return
			}
		}
	}
	t.Fatalf("socat made no PTY at %s", link)
}
