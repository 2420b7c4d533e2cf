//go:build linux

package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/ecdata/ectool/internal/testenv"
)

// tcpdumpRun wraps testenv's tcpdump with a count.
type tcpdumpRun struct{ *testenv.Tcpdump }

func startTcpdump(t *testing.T, ns, iface, filter string, extra ...string) *tcpdumpRun {
	t.Helper()
	return &tcpdumpRun{testenv.StartTcpdump(t, ns, iface, filter, extra...)}
}

func (r *tcpdumpRun) waitFor(t *testing.T, s string) { t.Helper(); r.WaitFor(t, s) }

func (r *tcpdumpRun) stop(t *testing.T) int {
	t.Helper()
	n, _ := readFile(t, r.Stop())
	return n
}

// liveRun is Live running in the background.
type liveRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	res    *LiveResult
	err    error
	dir    string
}

func startLive(t *testing.T, o LiveOptions) *liveRun {
	t.Helper()
	if o.Ring.Dir == "" {
		o.Ring.Dir = filepath.Join(t.TempDir(), "ring")
	}
	if o.Ring.Flush == 0 {
		o.Ring.Flush = 50 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	lr := &liveRun{cancel: cancel, done: make(chan struct{}), dir: o.Ring.Dir}
	ready := make(chan struct{})
	o.Ready = func() { close(ready) }
	o.Warn = func(s string) { t.Log("warning: " + s) }
	go func() {
		defer close(lr.done)
		lr.res, lr.err = Live(ctx, o)
	}()
	select {
	case <-ready:
	case <-lr.done:
		t.Fatalf("Live ended at start: %v", lr.err)
	case <-time.After(20 * time.Second):
		t.Fatal("Live not ready after 20s")
	}
	t.Cleanup(func() { cancel(); <-lr.done })
	return lr
}

func (lr *liveRun) stop(t *testing.T) *LiveResult {
	t.Helper()
	lr.cancel()
	<-lr.done
	if lr.err != nil {
		t.Fatalf("Live: %v", lr.err)
	}
	return lr.res
}

// waitRing waits until the ring holds a packet for which match is true.
func waitRing(t *testing.T, dir string, match func(p Packet) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		r, err := OpenRing(dir)
		if err == nil {
			if m, err := r.Packets(); err == nil {
				for {
					p, err := m.Next()
					if err != nil {
						break
					}
					if match(p.Packet) {
						m.Close()
						return
					}
				}
				m.Close()
			}
		}
		time.Sleep(20 * time.Millisecond) // polling for the event, not a fixed wait
	}
	t.Fatal("the marker packet never reached the ring")
}

// markerLen is the UDP payload length of the packet that ends a run: both
// capturers have seen everything once they have seen it.
const markerLen = 333

func sendMarker(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(make([]byte, markerLen)); err != nil {
		t.Fatal(err)
	}
}

func isMarker(p Packet) bool {
	// UDP length field = 8 + payload, wherever the IP header starts.
	var want [2]byte
	binary.BigEndian.PutUint16(want[:], 8+markerLen)
	return strings.Contains(string(p.Data), string(want[:])) && len(p.Data) >= markerLen
}

// mqttTraffic publishes n messages with mosquitto_pub (a connection each).
func mqttTraffic(t *testing.T, host string, port, n int) {
	t.Helper()
	pub := testenv.Require(t, "mosquitto_pub")
	for i := 0; i < n; i++ {
		out, err := exec.Command(pub, "-h", host, "-p", strconv.Itoa(port), "-t", "ec-data/t", "-m", "reading "+strconv.Itoa(i), "-q", "1").CombinedOutput()
		if err != nil {
			t.Fatalf("mosquitto_pub: %v %s", err, out)
		}
	}
}

func ringCount(t *testing.T, dir string) int {
	t.Helper()
	seqs := 0
	r, _ := OpenRing(dir)
	for _, s := range r.Summarize() {
		seqs += s.Packets
	}
	return seqs
}

// compareWithTcpdump runs MQTT traffic between capturers and compares.
func compareWithTcpdump(t *testing.T, iface string, b *testenv.Mosquitto, markerAddr string, extraTcpdump ...string) *LiveResult {
	t.Helper()
	mport := strings.Split(markerAddr, ":")
	filter := fmt.Sprintf("port %d or port %s", b.Port, mport[len(mport)-1])
	td := startTcpdump(t, "", iface, filter, extraTcpdump...)
	lr := startLive(t, LiveOptions{Ifaces: []string{iface}, Filter: filter, Snaplen: 65535, Buffer: 4 << 20,
		Ring: RingOptions{FileSize: 512 << 10, Files: 50}})
	mqttTraffic(t, b.Host, b.Port, 15)
	sendMarker(t, markerAddr)
	td.waitFor(t, fmt.Sprintf("length %d", markerLen))
	waitRing(t, lr.dir, isMarker)
	res := lr.stop(t)
	theirs := td.stop(t)
	ours := ringCount(t, lr.dir)
	if ours != theirs || ours < 15*8 {
		t.Fatalf("on %s ectool kept %d packets, tcpdump %d", iface, ours, theirs)
	}
	if res.Interfaces[0].KernelDropped == nil {
		t.Fatalf("no kernel drop counters: %+v", res.Interfaces[0])
	}
	t.Logf("%s: %d packets each, %d files, kernel drops %s", iface, ours, len(res.Files), res.DropsText())
	return res
}

func TestLiveOnLoopbackCountsWhatTcpdumpCounts(t *testing.T) {
	testenv.RequireRoot(t)
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	res := compareWithTcpdump(t, "lo", b, "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)))
	if res.Interfaces[0].LinkType != "EN10MB" {
		t.Fatalf("lo recorded as %s", res.Interfaces[0].LinkType)
	}
	if want := map[bool]string{true: "tpacket_v3", false: "recvfrom"}[tpacketAvailable]; res.Interfaces[0].Reader != want {
		t.Fatalf("reader %q, want %q", res.Interfaces[0].Reader, want)
	}
	// Statistics blocks carry the counters.
	r, _ := OpenRing(res.Dir)
	sums := r.Summarize()
	if !sums[0].CountersKnown {
		t.Fatalf("first file has no counters: %+v", sums[0])
	}
}

// The recvmsg reader (32-bit targets, qemu-user, the any device) counts
// what tcpdump counts on lo too, where 64-bit builds use TPACKET_V3.
func TestLiveRecvmsgReaderOnLoopbackCountsWhatTcpdumpCounts(t *testing.T) {
	testenv.RequireRoot(t)
	t.Setenv(readerEnv, "recvfrom")
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	res := compareWithTcpdump(t, "lo", b, "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)))
	if res.Interfaces[0].Reader != "recvfrom" {
		t.Fatalf("reader %q", res.Interfaces[0].Reader)
	}
}

func TestLiveOnTheAnyDeviceRecordsLinuxSLL2(t *testing.T) {
	testenv.RequireRoot(t)
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	res := compareWithTcpdump(t, "any", b, "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)), "-y", "LINUX_SLL2")
	if res.Interfaces[0].LinkType != "LINUX_SLL2" {
		t.Fatalf("any recorded as %s", res.Interfaces[0].LinkType)
	}
}

func TestLiveOverAVethToABrokerInAnotherNamespace(t *testing.T) {
	ns := testenv.NewNetns(t)
	v := testenv.Veth(t, "", ns)
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{Netns: ns, Host: v.AddrB.String()})
	// The marker goes to a port nobody listens on, over the veth.
	compareWithTcpdump(t, v.A, b, v.AddrB.String()+":9")
}

// openTun creates a TUN device (raw IP, as a modem's wwan0) and returns its
// name and the file the test writes IP packets into.
func openTun(t *testing.T) (string, *os.File) {
	t.Helper()
	testenv.RequireRoot(t)
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		testenv.Missing(t, "/dev/net/tun: %v", err)
	}
	name := "ectun" + strconv.Itoa(os.Getpid()%100000)
	ifr, _ := unix.NewIfreq(name)
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		t.Fatalf("TUNSETIFF: %v", err)
	}
	f := os.NewFile(uintptr(fd), name)
	t.Cleanup(func() { f.Close() })
	for _, args := range [][]string{{"addr", "add", "198.19.0.1/24", "dev", name}, {"link", "set", name, "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	return name, f
}

// ipv4UDP is an IPv4/UDP packet to 198.19.0.1:dport with payload n bytes.
func ipv4UDP(dport uint16, n int) []byte {
	b := make([]byte, 28+n)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8], b[9] = 64, 17
	copy(b[12:], []byte{198, 19, 0, 2})
	copy(b[16:], []byte{198, 19, 0, 1})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(b[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(b[20:], 40000)
	binary.BigEndian.PutUint16(b[22:], dport)
	binary.BigEndian.PutUint16(b[24:], uint16(8+n))
	return b
}

func TestLiveOnATunDeviceRecordsRawIP(t *testing.T) {
	name, tun := openTun(t)
	filter := "udp port 1883"
	td := startTcpdump(t, "", name, filter)
	lr := startLive(t, LiveOptions{Ifaces: []string{name}, Filter: filter, Ring: RingOptions{FileSize: 512 << 10, Files: 20}})
	for i := 0; i < 100; i++ {
		port := uint16(1883)
		if i%4 == 3 {
			port = 5000 // filtered out
		}
		if _, err := tun.Write(ipv4UDP(port, 20+i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tun.Write(ipv4UDP(1883, markerLen)); err != nil {
		t.Fatal(err)
	}
	td.waitFor(t, fmt.Sprintf("length %d", markerLen))
	waitRing(t, lr.dir, isMarker)
	res := lr.stop(t)
	theirs := td.stop(t)
	ours := ringCount(t, lr.dir)
	if ours != 76 || theirs != ours {
		t.Fatalf("tun: ectool %d, tcpdump %d, want 76", ours, theirs)
	}
	if res.Interfaces[0].LinkType != "RAW" {
		t.Fatalf("tun recorded as %s", res.Interfaces[0].LinkType)
	}
	files, _ := ListRing(lr.dir, "")
	rd, _ := OpenFile(files[0].Path)
	defer rd.Close()
	if lt := rd.Interfaces()[0].LinkType; lt != layers.LinkTypeRaw {
		t.Fatalf("file link type %d", lt)
	}
}

func TestLiveSeveralInterfacesOneBlockEach(t *testing.T) {
	testenv.RequireRoot(t)
	name, tun := openTun(t)
	lr := startLive(t, LiveOptions{Ifaces: []string{"lo", name}, Filter: "udp", Ring: RingOptions{FileSize: 512 << 10, Files: 20}})
	_, _ = tun.Write(ipv4UDP(1883, 10))
	sendMarker(t, "127.0.0.1:9")
	waitRing(t, lr.dir, isMarker)
	waitRing(t, lr.dir, func(p Packet) bool { return p.LinkType == layers.LinkTypeRaw })
	lr.stop(t)
	files, _ := ListRing(lr.dir, "")
	rd, _ := OpenFile(files[0].Path)
	defer rd.Close()
	if got := rd.Interfaces(); len(got) != 2 || got[0].Name != "lo" || got[1].Name != name || got[1].LinkType != layers.LinkTypeRaw {
		t.Fatalf("interface blocks: %+v", got)
	}
}

func TestAMissingInterfaceFailsUnlessWaitIface(t *testing.T) {
	testenv.RequireRoot(t)
	_, err := Live(context.Background(), LiveOptions{Ifaces: []string{"ecnope0"}, Ring: RingOptions{Dir: t.TempDir()}})
	var ie *IfaceError
	if !errors.As(err, &ie) || !errors.Is(err, ErrNoSuchIface) {
		t.Fatalf("missing interface: %v", err)
	}
	// With WaitIface it waits, then captures once the interface appears.
	ns := testenv.NewNetns(t)
	v := &testenv.VethPair{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(t.TempDir(), "ring")
	done := make(chan error, 1)
	ready := make(chan struct{})
	waiting := make(chan struct{}, 1)
	go func() {
		_, err := Live(ctx, LiveOptions{Ifaces: []string{"ecwait0"}, WaitIface: true, Filter: "udp",
			Ring:  RingOptions{Dir: dir, Flush: 50 * time.Millisecond},
			Ready: func() { close(ready) },
			Warn: func(s string) {
				if strings.Contains(s, "waiting") {
					waiting <- struct{}{}
				}
			}})
		done <- err
	}()
	<-waiting
	if out, err := exec.Command("ip", "link", "add", "ecwait0", "type", "veth", "peer", "name", "ecwait1", "netns", ns).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	_ = v
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", "ecwait0").Run() })
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Live ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the capture did not start when the interface appeared")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestAVanishedInterfaceIsReopenedWhenItReturns(t *testing.T) {
	ns := testenv.NewNetns(t)
	v := testenv.Veth(t, "", ns)
	var warnings = make(chan string, 10)
	o := LiveOptions{Ifaces: []string{v.A}, Filter: "udp", Ring: RingOptions{Dir: filepath.Join(t.TempDir(), "ring"), Flush: 50 * time.Millisecond}}
	lr := startLive(t, o)
	_ = warnings
	send := func(n int) {
		c, err := net.Dial("udp", v.AddrB.String()+":9")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(make([]byte, n))
		c.Close()
	}
	send(markerLen)
	waitRing(t, lr.dir, isMarker)
	if err := v.Delete(); err != nil {
		t.Fatal(err)
	}
	v.Recreate(t)
	// Send until the ring shows a packet sent after the re-creation
	// (the capture reopens within a poll interval).
	const after = 444
	deadline := time.Now().Add(15 * time.Second)
	for {
		send(after)
		if ringHas(t, lr.dir, after) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing captured after the interface came back")
		}
		time.Sleep(50 * time.Millisecond) // resend until the reopened socket sees one
	}
	res := lr.stop(t)
	if res.Interfaces[0].Reopened < 1 {
		t.Fatalf("reopened %d times", res.Interfaces[0].Reopened)
	}
}

func ringHas(t *testing.T, dir string, payload int) bool {
	r, _ := OpenRing(dir)
	m, err := r.Packets()
	if err != nil {
		return false
	}
	defer m.Close()
	var want [2]byte
	binary.BigEndian.PutUint16(want[:], uint16(8+payload))
	for {
		p, err := m.Next()
		if err == io.EOF || err != nil {
			return false
		}
		if len(p.Data) >= payload && strings.Contains(string(p.Data), string(want[:])) {
			return true
		}
	}
}
