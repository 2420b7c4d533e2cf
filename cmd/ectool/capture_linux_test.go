//go:build linux

package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ecdata/ectool/capture"
	"github.com/ecdata/ectool/internal/testenv"
)

// captureProc is the ectool binary capturing in the background.
type captureProc struct {
	cmd    *exec.Cmd
	dir    string
	stderr *lineLog
	done   chan struct{}
	code   int
}

// lineLog collects a process's stderr lines and lets a test wait for one.
type lineLog struct {
	mu    sync.Mutex
	lines []string
	cond  *sync.Cond
}

func newLineLog(r io.Reader) *lineLog {
	l := &lineLog{}
	l.cond = sync.NewCond(&l.mu)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, sc.Text())
			l.cond.Broadcast()
			l.mu.Unlock()
		}
		l.mu.Lock()
		l.lines = append(l.lines, "<EOF>")
		l.cond.Broadcast()
		l.mu.Unlock()
	}()
	return l
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// waitLine waits until a line contains s (false when the stream ended).
func (l *lineLog) waitLine(s string, timeout time.Duration) bool {
	timer := time.AfterFunc(timeout, func() { l.mu.Lock(); l.cond.Broadcast(); l.mu.Unlock() })
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		for _, line := range l.lines {
			if strings.Contains(line, s) {
				return true
			}
			if line == "<EOF>" {
				return false
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		l.cond.Wait()
	}
}

// startCapture runs `ectool capture ARGS --dir dir` (as uid when uid ≥ 0)
// and waits until status.json exists (the ring is open).
func startCapture(t *testing.T, bin string, uid int, dir string, args ...string) *captureProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"capture", "--dir", dir}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "NO_COLOR=1"}
	if uid >= 0 {
		testenv.RunAs(t, cmd, uid)
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	errPipe, _ := cmd.StderrPipe()
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &captureProc{cmd: cmd, dir: dir, stderr: newLineLog(errPipe), done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.done })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, capture.StatusFile)); err == nil {
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("ectool capture ended (exit %d) before opening the ring:\n%s", p.code, p.stderr)
		case <-time.After(20 * time.Millisecond): // polling for the file to appear
		}
		if time.Now().After(deadline) {
			t.Fatalf("no status.json after 20s:\n%s", p.stderr)
		}
	}
}

// stop sends SIGTERM and returns the exit code.
func (p *captureProc) stop(t *testing.T) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("ectool capture did not end after SIGTERM:\n%s", p.stderr)
	}
	return p.code
}

// udpFlow sends numbered UDP datagrams to addr every interval until stop.
type udpFlow struct {
	stopc chan struct{}
	done  chan struct{}
	sent  int
}

func startUDPFlow(t *testing.T, addr string, interval time.Duration, size int) *udpFlow {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &udpFlow{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		defer c.Close()
		buf := make([]byte, size)
		tick := time.NewTicker(interval) // pacing the load, not synchronising
		defer tick.Stop()
		for seq := uint32(0); ; seq++ {
			binary.BigEndian.PutUint32(buf, 0xec7ec7ec)
			binary.BigEndian.PutUint32(buf[4:], seq)
			_, _ = c.Write(buf)
			f.sent++
			select {
			case <-f.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(f.stop)
	return f
}

func (f *udpFlow) stop() {
	select {
	case <-f.stopc:
	default:
		close(f.stopc)
	}
	<-f.done
}

// flowSeqs reads the flow's sequence numbers (with capture times) from
// capture files.
func flowSeqs(t *testing.T, paths ...string) map[uint32]time.Time {
	t.Helper()
	out := map[uint32]time.Time{}
	m, err := capture.MergeFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for {
		p, err := m.Next()
		if err != nil {
			return out
		}
		d := p.Data
		for i := 0; i+8 <= len(d); i++ {
			if binary.BigEndian.Uint32(d[i:]) == 0xec7ec7ec {
				out[binary.BigEndian.Uint32(d[i+4:])] = p.Timestamp
				break
			}
		}
	}
}

func ringPaths(t *testing.T, dir string) []string {
	t.Helper()
	files, err := capture.ListRing(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	return out
}

// nobodyDir is a ring directory uid 65534 may write.
func nobodyDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(testenv.PrivateDir(t), "ring")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, testenv.Nobody, testenv.Nobody); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCaptureWithoutCapNetRawExitsThreeAndASetcapCopyCaptures(t *testing.T) {
	setcap := testenv.Require(t, "setcap")
	bin := testenv.CopyBinary(t)
	dir := nobodyDir(t)
	cmd := exec.Command(bin, "capture", "--iface", "lo", "--dir", dir)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "NO_COLOR=1"}
	testenv.RunAs(t, cmd, testenv.Nobody)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != ExitCannotRun || !strings.Contains(string(out), "setcap cap_net_raw+ep") {
		t.Fatalf("as uid %d without CAP_NET_RAW: %v\n%s", testenv.Nobody, err, out)
	}
	if b, err := exec.Command(setcap, "cap_net_raw+ep", bin).CombinedOutput(); err != nil {
		testenv.Missing(t, "setcap on %s: %v %s (file capabilities unsupported here?)", bin, err, b)
	}
	p := startCapture(t, bin, testenv.Nobody, dir, "--iface", "lo", "--ports", "9", "--flush", "100ms")
	c, _ := net.Dial("udp", "127.0.0.1:9")
	_, _ = c.Write([]byte("hello"))
	c.Close()
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.stderr)
	}
	sums := mustRing(t, dir).Summarize()
	if len(sums) == 0 || sums[0].Packets < 1 {
		t.Fatalf("the setcap copy captured nothing: %+v", sums)
	}
}

func mustRing(t *testing.T, dir string) *capture.Ring {
	t.Helper()
	r, err := capture.OpenRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// capLine reads one capability line (CapEff, CapPrm ...) of a task.
func capLine(t *testing.T, statusFile, name string) string {
	t.Helper()
	b, err := os.ReadFile(statusFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestCaptureRunAsNobodyKeepsOnlyNetRawAndRecapturesARecreatedVeth(t *testing.T) {
	ns := testenv.NewNetns(t)
	v := testenv.Veth(t, "", ns)
	bin := testenv.Binary(t)
	dir := nobodyDir(t)
	p := startCapture(t, bin, -1, dir, "--iface", v.A, "--run-as", "nobody", "--ports", "9", "--flush", "100ms")
	const netRaw = "0000000000002000"
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", p.cmd.Process.Pid))
	if len(tasks) < 2 {
		t.Fatalf("tasks: %v", tasks)
	}
	for _, st := range tasks {
		for _, name := range []string{"CapEff", "CapPrm", "CapAmb", "CapBnd"} {
			if got := capLine(t, st, name); got != netRaw {
				t.Errorf("%s %s = %s, want %s (cap_net_raw only)", st, name, got, netRaw)
			}
		}
		if uid := capLine(t, st, "Uid"); !strings.HasPrefix(uid, "65534\t65534") {
			t.Errorf("%s Uid %q", st, uid)
		}
	}
	send := func(tag byte) {
		c, err := net.Dial("udp", v.AddrB.String()+":9")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte{0xec, tag})
		c.Close()
	}
	send(1)
	if err := v.Delete(); err != nil {
		t.Fatal(err)
	}
	if !p.stderr.waitLine("vanished", 10*time.Second) {
		t.Fatalf("no word of the vanished interface:\n%s", p.stderr)
	}
	v.Recreate(t)
	if !p.stderr.waitLine("is back", 10*time.Second) {
		t.Fatalf("the re-created interface was not reopened:\n%s", p.stderr)
	}
	send(2)
	// Stop only once the packet is in the ring: on a loaded host it may
	// still wait for the re-created link's ARP, or in the new socket's
	// queue, when "is back" is printed.
	deadline := time.Now().Add(10 * time.Second)
	for taggedPackets(t, dir, 2) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // polling the ring, flushed every --flush
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.stderr)
	}
	if seen := taggedPackets(t, dir, 2); seen != 1 {
		t.Fatalf("the packet sent after the re-creation was captured %d times:\n%s", seen, p.stderr)
	}
}

// taggedPackets counts the packets in the ring in dir whose payload ends
// 0xec, tag.
func taggedPackets(t *testing.T, dir string, tag byte) int {
	t.Helper()
	m, _ := mustRing(t, dir).Packets()
	defer m.Close()
	seen := 0
	for {
		pk, err := m.Next()
		if err != nil {
			return seen
		}
		if n := len(pk.Data); n >= 2 && pk.Data[n-2] == 0xec && pk.Data[n-1] == tag {
			seen++
		}
	}
}

// The lab records its broker as uid 65534, without CAP_NET_RAW, and
// `capture status` finds that ring live and fresh.
func TestLabRecordsItsBrokerAsNobody(t *testing.T) {
	bin := testenv.CopyBinary(t)
	dir := nobodyDir(t)
	cmd := exec.Command(bin, "lab", "-o", "json", "--dir", filepath.Join(dir, "lab"), "--no-bus", "--interval", "200ms")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "NO_COLOR=1"}
	testenv.RunAs(t, cmd, testenv.Nobody)
	stdout, _ := cmd.StdoutPipe()
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var ep struct {
		Capture struct {
			Dir   string `json:"dir"`
			Error string `json:"error"`
		} `json:"capture"`
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil || json.Unmarshal(line, &ep) != nil || ep.Capture.Dir == "" || ep.Capture.Error != "" {
		t.Fatalf("endpoints: %v %s\n%s", err, line, errOut.String())
	}
	// The gateway publishes every 200ms: wait until the ring holds some.
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := capture.OpenRing(ep.Capture.Dir)
		if err == nil {
			if _, _, n := capture.Span(r.Summarize()); n >= 10 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lab ring holds nothing after 20s:\n%s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond) // polling the ring for the event
	}
	st := exec.Command(bin, "capture", "status", "--dir", ep.Capture.Dir, "-o", "json")
	testenv.RunAs(t, st, testenv.Nobody)
	out, err := st.Output()
	if err != nil {
		t.Fatalf("capture status of the lab ring as uid %d: %v\n%s", testenv.Nobody, err, out)
	}
	testenv.AssertChecksDocumented(t, out)
}
