//go:build linux

package serialport_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/probe/serialport"
)

// socatPTY makes a PTY the way a site reaches an RS-485 serial server:
// socat holds its master (and keeps the slave open too) and carries the
// bytes to the far end, here a second PTY. It returns the link to the
// first PTY and socat's PID once socat holds it.
func socatPTY(t *testing.T) (string, int) {
	t.Helper()
	socat := testenv.Require(t, "socat")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "ttyV0"), filepath.Join(dir, "ttyV1")
	cmd := exec.Command(socat, "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		hs, _ := serialport.FindHolders(a)
		for _, h := range hs {
			if h.PID == pid && h.Bridge {
				return a, pid
			}
		}
	}
	t.Fatalf("socat made no PTY at %s", a)
	return "", 0
}

// holdSlave starts a second program (sleep) with the PTY slave open, as a
// second poller would.
func holdSlave(t *testing.T, path string) int {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(testenv.Require(t, "sleep"), "600")
	cmd.Stdin = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// socat holds the PTY's master and its slave: it is the other end of the
// wire, so the port opens without force and socat is named as a bridge.
func TestABridgeIsTheOtherEndNotAHolder(t *testing.T) {
	link, socat := socatPTY(t)
	p, op, err := serialport.Open(link, serialport.Default, serialport.Options{})
	if err != nil {
		t.Fatalf("open beside the bridge: %v", err)
	}
	p.Close()
	if len(op.Bridges) != 1 || op.Bridges[0].PID != socat || op.Bridges[0].How != "pty master and slave" || op.ForcedPast != nil {
		t.Fatalf("opened %+v: want socat (pid %d) as the only bridge", op, socat)
	}
	if got := serialport.BridgeNames(op.Bridges); got != "socat (pid "+itoa(socat)+") holds the other end" {
		t.Errorf("bridge words %q", got)
	}
}

// A second program on the slave competes for every byte: refused, naming
// it and not the bridge; Force opens the port past it and says so.
func TestASecondProgramOnThePortIsRefusedUnlessForced(t *testing.T) {
	link, socat := socatPTY(t)
	sleep := holdSlave(t, link)
	_, op, err := serialport.Open(link, serialport.Default, serialport.Options{})
	var held *serialport.HeldError
	if !errors.As(err, &held) || !errors.Is(err, serialport.ErrHeld) || len(held.Holders) != 1 || held.Holders[0].PID != sleep || held.Holders[0].Command != "sleep" {
		t.Fatalf("open of a held port: %v (%+v), want a HeldError naming sleep (pid %d) only", err, held, sleep)
	}
	if op.Bridges != nil {
		t.Errorf("refused open found %+v", op)
	}
	p, op, err := serialport.Open(link, serialport.Default, serialport.Options{Force: true})
	if err != nil {
		t.Fatalf("forced open: %v", err)
	}
	p.Close()
	if len(op.ForcedPast) != 1 || op.ForcedPast[0].PID != sleep || len(op.Bridges) != 1 || op.Bridges[0].PID != socat {
		t.Fatalf("forced open %+v: want past sleep, socat still the bridge", op)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
