//go:build linux

package modbus_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab/bus/bustest"
	"github.com/ecdata/ectool/probe/modbus"
	"github.com/ecdata/ectool/probe/serialport"
)

// A second program on the same PTY slave (a poller, a forgotten minicom)
// competes for every byte: refused, naming it and not the bridge.
func TestScanRefusesAPortAnotherProcessHolds(t *testing.T) {
	a, _ := socatPair(t)
	holdSlave(t, a)
	_, err := modbus.Scan(context.Background(), scanOpts(a, []byte{1}))
	var held *serialport.HeldError
	if !errors.As(err, &held) || !errors.Is(err, serialport.ErrHeld) {
		t.Fatalf("scan of a held port: %v, want a HeldError", err)
	}
	if len(held.Holders) != 1 || held.Holders[0].Command != "sleep" || !strings.Contains(err.Error(), "sleep") || strings.Contains(err.Error(), "socat") {
		t.Fatalf("holders %+v (%v): want sleep named, and not the bridge", held.Holders, err)
	}
	if _, cannotRun := modbus.OpenFailure(err); !cannotRun {
		t.Errorf("a held port must be exit 3 (could not run)")
	}
}

// The usual way to reach an RS-485 serial server: socat makes a PTY and
// carries its bytes to the server's TCP port. socat keeps the PTY's slave
// open, and its master: it is the other end of the wire, so the scan opens
// the port without --force and names the bridge.
func TestScanThroughASocatBridgeToASerialServerNamesTheBridge(t *testing.T) {
	socat := testenv.Require(t, "socat")
	b, _ := bustest.StartPTY(t, "default")
	srv, err := b.ServeRTUOverTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	link := filepath.Join(t.TempDir(), "ttyV0")
	cmd := exec.Command(socat, "pty,raw,echo=0,link="+link, "tcp:"+srv.Addr())
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitBridge(t, link, cmd.Process.Pid)

	code, rep := ectoolScan(t, link, "--ids", "1-4,17")
	open := rep.check("bus.open")
	if code != 1 || open.Status != "ok" || rep.verdicts() != "1:ok 2:ok 3:ok 17:collision" {
		t.Fatalf("exit %d, bus.open %+v, verdicts %q: want the lab's meters and its collision through the bridge", code, open, rep.verdicts())
	}
	want := fmt.Sprintf("socat (pid %d) holds the other end", cmd.Process.Pid)
	if open.Evidence["bridge"] != want || open.Evidence["forced"] != nil {
		t.Errorf("bus.open evidence %v: want bridge %q and no --force", open.Evidence, want)
	}
}

// A PTY simulator written in Go, like the lab's: the process that holds
// the master is the bus. It is named as the other end whether it keeps the
// slave closed (the lab does) or open (many simulators do). A second
// process on the slave is refused, exit 3, naming it; --force opens the
// port past it and says so.
func TestScanOfASimulatorsPTYNamesItAndRefusesASecondHolder(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	us := fmt.Sprintf("(pid %d) holds the other end", os.Getpid())

	code, rep := ectoolScan(t, pty.Path(), "--ids", "1-4")
	if open := rep.check("bus.open"); code != 0 || !strings.HasSuffix(fmt.Sprint(open.Evidence["bridge"]), us) || rep.verdicts() != "1:ok 2:ok 3:ok" {
		t.Fatalf("master only: exit %d, bus.open %+v, verdicts %q", code, open, rep.verdicts())
	}

	slave, err := os.OpenFile(pty.Path(), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	code, rep = ectoolScan(t, pty.Path(), "--ids", "1-4")
	if open := rep.check("bus.open"); code != 0 || !strings.HasSuffix(fmt.Sprint(open.Evidence["bridge"]), us) || rep.verdicts() != "1:ok 2:ok 3:ok" {
		t.Fatalf("master and slave: exit %d, bus.open %+v, verdicts %q", code, open, rep.verdicts())
	}

	poller := holdSlave(t, pty.Path())
	code, rep = ectoolScan(t, pty.Path(), "--ids", "1-4")
	open := rep.check("bus.open")
	held := fmt.Sprint(open.Evidence["held_by"])
	if code != 3 || open.Status != "failed" || !strings.Contains(held, fmt.Sprintf("sleep (PID %d", poller.Process.Pid)) || strings.Contains(held, fmt.Sprint(os.Getpid())) {
		t.Fatalf("second holder: exit %d, bus.open %+v: want exit 3 naming sleep only", code, open)
	}

	code, rep = ectoolScan(t, pty.Path(), "--ids", "1-4", "--force")
	open = rep.check("bus.open")
	if code != 0 || !strings.Contains(fmt.Sprint(open.Evidence["forced_past"]), "sleep") || !strings.HasSuffix(fmt.Sprint(open.Evidence["bridge"]), us) {
		t.Fatalf("--force: exit %d, bus.open %+v: want it opened past sleep, the bridge still named", code, open)
	}
}

// holdSlave starts a second process (sleep) holding the PTY slave at path
// open, as a second poller would.
func holdSlave(t *testing.T, path string) *exec.Cmd {
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
	return cmd
}

// waitBridge waits until the process pid holds the PTY that link points at.
func waitBridge(t *testing.T, link string, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if hs, err := serialport.FindHolders(link); err == nil {
			for _, h := range hs {
				if h.PID == pid && h.Bridge {
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("socat made no PTY at %s", link)
}

// scanReport is the part of scan's JSON report these tests read.
type scanReport struct {
	Checks []struct {
		ID       string         `json:"id"`
		Status   string         `json:"status"`
		Evidence map[string]any `json:"evidence"`
	} `json:"checks"`
	Details struct {
		Devices []struct {
			UnitID  int    `json:"unit_id"`
			Verdict string `json:"verdict"`
		} `json:"devices"`
	} `json:"details"`
}

type checkJSON = struct {
	ID       string         `json:"id"`
	Status   string         `json:"status"`
	Evidence map[string]any `json:"evidence"`
}

func (r scanReport) check(id string) checkJSON {
	for _, c := range r.Checks {
		if c.ID == id {
			return c
		}
	}
	return checkJSON{}
}

func (r scanReport) verdicts() string {
	var parts []string
	for _, d := range r.Details.Devices {
		parts = append(parts, fmt.Sprintf("%d:%s", d.UnitID, d.Verdict))
	}
	return strings.Join(parts, " ")
}

// ectoolScan runs the ectool binary (another process than the test, which
// holds the lab's PTY master) and returns its exit code and JSON report.
func ectoolScan(t *testing.T, target string, args ...string) (int, scanReport) {
	t.Helper()
	args = append([]string{"scan", target, "--listen", "200ms", "--timeout", "250ms", "-o", "json"}, args...)
	cmd := exec.Command(testenv.Binary(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	var r scanReport
	if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil {
		t.Fatalf("ectool %v: not a JSON report: %v\n%s\n%s", args, jerr, out.String(), errOut.String())
	}
	testenv.AssertChecksDocumented(t, out.Bytes())
	return cmd.ProcessState.ExitCode(), r
}

// A real master (mbpoll) keeps polling an address where no meter answers;
// scan sniff on the other end of the wire (a socat pair: the bridge holds
// it, so sniff opens it without --force) names it no_answer.
func TestSniffNamesTheAddressMbpollPollsInVain(t *testing.T) {
	mbpoll := testenv.Require(t, "mbpoll")
	stdbuf := testenv.Require(t, "stdbuf") // mbpoll's stdout is block-buffered into a pipe
	a, b := socatPair(t)
	cmd := exec.Command(stdbuf, "-oL", mbpoll, "-m", "rtu", "-b", "9600", "-P", "none", "-a", "9", "-t", "4", "-r", "1", "-l", "100", "-o", "0.05", a)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// Sniff once mbpoll polls.
	polling := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "-- Polling slave 9") {
				select {
				case polling <- true:
				default:
				}
			}
		}
		polling <- false
	}()
	if !<-polling {
		t.Fatal("mbpoll exited before polling")
	}
	tg, _ := modbus.ParseTarget(b)
	res, err := modbus.Sniff(context.Background(), modbus.SniffOptions{Target: tg, Duration: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Settings.Bridges) != 1 || res.Settings.Bridges[0].Command != "socat" {
		t.Errorf("bridges %+v: want socat", res.Settings.Bridges)
	}
	if len(res.Devices) != 1 || res.Devices[0].UnitID != 9 || res.Devices[0].Verdict != modbus.VerdictNoAnswer || res.Devices[0].NoResponse < 2 {
		t.Fatalf("sniff %+v devices %+v: want address 9 polled by mbpoll and never answering", res, res.Devices)
	}
}
