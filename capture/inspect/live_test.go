package inspect_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ecdata/ectool/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// proc is a peer started by a test, with its output watched line by line.
type proc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	seen  chan struct{} // a new line arrived
	done  chan struct{}
	err   error
}

// start runs a program; stdout and stderr are both watched, line buffered
// (stdbuf: mosquitto_sub buffers a pipe otherwise).
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	stdbuf := testenv.Require(t, "stdbuf")
	p := &proc{t: t, name: filepath.Base(name), cmd: exec.Command(stdbuf, append([]string{"-oL", "-eL", name}, args...)...),
		seen: make(chan struct{}, 1), done: make(chan struct{})}
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.seen <- struct{}{}:
			default:
			}
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		w.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// count is how many output lines contain s.
func (p *proc) count(s string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// waitFor waits until n output lines contain s (the event, never a sleep).
func (p *proc) waitFor(s string, n int, within time.Duration) {
	p.t.Helper()
	deadline := time.After(within)
	for p.count(s) < n {
		select {
		case <-p.seen:
		case <-p.done:
			if p.count(s) >= n {
				return
			}
			p.t.Fatalf("%s exited (%v) before printing %q %d time(s):\n%s", p.name, p.err, s, n, p.output())
		case <-deadline:
			p.t.Fatalf("%s did not print %q %d time(s) within %s:\n%s", p.name, s, n, within, p.output())
		}
	}
}

// wait waits for the process to exit and wants exit status 0.
func (p *proc) wait(within time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			p.t.Fatalf("%s: %v\n%s", p.name, p.err, p.output())
		}
	case <-time.After(within):
		p.t.Fatalf("%s still running after %s:\n%s", p.name, within, p.output())
	}
}

// tcpdump records TCP port on lo into a file until stop is called.
type tcpdump struct {
	p    *proc
	file string
	addr string
}

func startTcpdump(t *testing.T, port int) *tcpdump {
	return startTcpdumpPorts(t, port)
}

// startTcpdumpPorts records several TCP ports; the end-of-capture marker
// goes to the first.
func startTcpdumpPorts(t *testing.T, ports ...int) *tcpdump {
	t.Helper()
	bin := testenv.Require(t, "tcpdump")
	file := filepath.Join(t.TempDir(), "lo.pcap")
	filter := []string{"tcp", "and", "("}
	for i, p := range ports {
		if i > 0 {
			filter = append(filter, "or")
		}
		filter = append(filter, "port", strconv.Itoa(p))
	}
	filter = append(filter, ")")
	p := start(t, bin, append([]string{"-i", "lo", "-B", "16384", "-U", "-s", "0", "-w", file}, filter...)...)
	p.waitFor("listening on lo", 1, 10*time.Second)
	return &tcpdump{p: p, file: file, addr: "127.0.0.1:" + strconv.Itoa(ports[0])}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// stop ends the capture once tcpdump has written everything sent so far:
// a last connection's FIN marks the end, and stop waits until the file
// holds it (tcpdump reads the kernel's queue behind the traffic), then
// sends SIGINT.
func (d *tcpdump) stop() string {
	d.p.t.Helper()
	c, err := net.Dial("tcp", d.addr)
	if err != nil {
		d.p.t.Fatalf("end-of-capture marker: %v", err)
	}
	port := uint16(c.LocalAddr().(*net.TCPAddr).Port)
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !finInFile(d.file, port) {
		if time.Now().After(deadline) {
			d.p.t.Fatalf("tcpdump did not write the end-of-capture marker within 10s")
		}
		time.Sleep(20 * time.Millisecond) // polling the file for the event, not a guess
	}
	_ = d.p.cmd.Process.Signal(syscall.SIGINT)
	d.p.waitFor("packets captured", 1, 10*time.Second)
	<-d.p.done
	return d.file
}

// finInFile reports whether the capture holds a FIN from port.
func finInFile(path string, port uint16) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return false
	}
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return false
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.NoCopy)
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.FIN && uint16(tcp.SrcPort) == port {
			return true
		}
	}
}

// run runs a program to its end and fails the test on a non-zero exit.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// tsharkCounts counts, with tshark, MQTT packets per type, publishes per
// QoS, and topic occurrences (PUBLISH topics and SUBSCRIBE/UNSUBSCRIBE
// filters, as mqtt.topic holds both).
func tsharkCounts(t *testing.T, file string, port int, version string) (types, qos, topics map[string]int) {
	types, qos, topics, _ = tsharkCountsByStream(t, file, port, version)
	return types, qos, topics
}

// tsharkCountsByStream adds the packet types per TCP stream ("3/publish"):
// ectool numbers streams as tcp.stream does.
func tsharkCountsByStream(t *testing.T, file string, port int, version string) (types, qos, topics, streams map[string]int) {
	t.Helper()
	bin := testenv.Require(t, "tshark")
	args := []string{"-r", file, "-d", fmt.Sprintf("tcp.port==%d,mqtt", port), "-T", "fields",
		"-e", "mqtt.msgtype", "-e", "mqtt.qos", "-e", "mqtt.topic", "-e", "tcp.stream", "-E", "occurrence=a", "-E", "separator=/t", "-E", "aggregator=,"}
	if version != "" {
		args = append(args, "-o", "mqtt.default_version:"+version)
	}
	out := run(t, bin, args...)
	types, qos, topics, streams = map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		cols := strings.Split(line, "\t")
		if len(cols) < 4 {
			continue
		}
		for i, m := range []map[string]int{types, qos, topics} {
			for _, v := range strings.Split(cols[i], ",") {
				if v != "" {
					m[v]++
					if i == 0 {
						streams[cols[3]+"/"+v]++
					}
				}
			}
		}
	}
	return types, qos, topics, streams
}

func ectoolStreams(recs []record) map[string]int {
	m := map[string]int{}
	for _, r := range recs {
		m[fmt.Sprintf("%d/%d", r.Stream, int(r.Type))]++
	}
	return m
}

// ectoolCounts are the same counts from ectool's decode.
func ectoolCounts(recs []record) (types, qos, topics map[string]int) {
	types, qos, topics = map[string]int{}, map[string]int{}, map[string]int{}
	for _, r := range recs {
		types[strconv.Itoa(int(r.Type))]++
		switch r.Type {
		case 3:
			qos[strconv.Itoa(int(r.QoS))]++
			topics[r.Topic]++
		case 8, 10:
			for _, f := range r.Filters {
				topics[f.Filter]++
			}
		}
	}
	return types, qos, topics
}

func sameCounts(t *testing.T, what string, ectool, tshark map[string]int) {
	t.Helper()
	keys := map[string]bool{}
	for k := range ectool {
		keys[k] = true
	}
	for k := range tshark {
		keys[k] = true
	}
	for k := range keys {
		if ectool[k] != tshark[k] {
			t.Errorf("%s %q: ectool %d, tshark %d (ectool %v, tshark %v)", what, k, ectool[k], tshark[k], ectool, tshark)
		}
	}
}
