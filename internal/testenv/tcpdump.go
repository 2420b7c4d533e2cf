package testenv

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Tcpdump is a running tcpdump writing a capture file: the reference a
// capture test compares ectool's counts with.
type Tcpdump struct {
	// File is the capture it writes (pcap, packet-buffered with -U).
	File  string
	cmd   *exec.Cmd
	lines chan string
}

// StartTcpdump runs tcpdump -i iface -n -U -w FILE --print FILTER in
// namespace ns ("" is the test's own) and returns once it listens. extra
// arguments go before the filter (-y LINUX_SLL2, -B 4096).
func StartTcpdump(t testing.TB, ns, iface, filter string, extra ...string) *Tcpdump {
	t.Helper()
	bin := Require(t, "tcpdump")
	file := filepath.Join(t.TempDir(), "tcpdump.pcap")
	args := append([]string{"-i", iface, "-n", "-U", "-l", "--print", "-w", file, "-Z", "root"}, extra...)
	args = append(args, filter)
	cmd := InNetns(ns, bin, args...)
	stderr, _ := cmd.StderrPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.SysProcAttr = peerProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &Tcpdump{cmd: cmd, File: file, lines: make(chan string, 1<<16)}
	ready := make(chan string, 2)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				ready <- ""
			}
		}
		ready <- "tcpdump ended before listening"
	}()
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case r.lines <- sc.Text():
			default: // nobody waits for lines this old
			}
		}
		close(r.lines)
	}()
	select {
	case msg := <-ready:
		if msg != "" {
			t.Fatal(msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump does not listen after 10s")
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return r
}

// WaitFor waits until tcpdump prints a line containing s (its -n summary,
// e.g. "UDP, length 333").
func (r *Tcpdump) WaitFor(t testing.TB, s string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("tcpdump ended before printing %q", s)
			}
			if strings.Contains(l, s) {
				return
			}
		case <-deadline:
			t.Fatalf("tcpdump did not print %q within 15s", s)
		}
	}
}

// Stop ends tcpdump (SIGINT, so it closes the file cleanly) and returns
// the file.
func (r *Tcpdump) Stop() string {
	_ = r.cmd.Process.Signal(os.Interrupt)
	_ = r.cmd.Wait()
	return r.File
}
