//go:build linux

package testenv

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// These helpers build the small networks probe tests need on top of
// NewNetns and StartMosquitto's Netns: veth links whose ends may have
// different MTUs, sysctls, routes and nftables rules in a namespace, dnsmasq
// in one, and commands run there as another user (RunAs cannot: ip netns
// exec needs root to enter the namespace, so setpriv drops privileges
// after it). They need root and iproute2.

func requireProbeRoot(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	Require(t, "ip")
}

// ProbeRun runs a program in namespace ns ("" is the test's own) and fails
// the test when it fails; it returns the combined output.
func ProbeRun(t testing.TB, ns, name string, args ...string) string {
	t.Helper()
	cmd := ProbeCommand(ns, -1, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s (namespace %q): %v: %s", name, strings.Join(args, " "), ns, err, bytes.TrimSpace(out))
	}
	return string(out)
}

// ProbeCommand is a command running in namespace ns ("" is the test's own),
// as uid when uid >= 0: setpriv drops to that uid and gid with no
// supplementary groups and no capabilities, as an unprivileged user has.
func ProbeCommand(ns string, uid int, name string, args ...string) *exec.Cmd {
	argv := append([]string{name}, args...)
	if uid >= 0 {
		id := strconv.Itoa(uid)
		argv = append([]string{"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"}, argv...)
	}
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// ProbeSysctl sets a sysctl inside namespace ns (net.* sysctls are per
// namespace, so the test's change stays there).
func ProbeSysctl(t testing.TB, ns, key, value string) {
	t.Helper()
	ProbeRun(t, ns, "sysctl", "-qw", key+"="+value)
}

var (
	linkBase  uint32
	linkOnce  sync.Once
	linkCount atomic.Uint32
)

// nextLinkNet is a /30 of 100.64.0.0/10 no other link of this process has.
func nextLinkNet() uint32 {
	linkOnce.Do(func() {
		var b [4]byte
		_, _ = rand.Read(b[:])
		linkBase = binary.BigEndian.Uint32(b[:])
	})
	n := (linkBase + linkCount.Add(1)) & (1<<20 - 1)
	return 100<<24 | 64<<16 | n<<2
}

// ProbeLink creates a veth pair between nsA and nsB ("" is the test's own
// namespace) with addresses on both ends, both up, deleted when the test
// ends.
func ProbeLink(t testing.TB, nsA, nsB string) *ProbeLinkPair {
	t.Helper()
	requireProbeRoot(t)
	base := nextLinkNet()
	v4 := func(x uint32) netip.Addr {
		return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
	}
	sub := base >> 2 & (1<<20 - 1)
	p := &ProbeLinkPair{NsA: nsA, NsB: nsB, A: "ecpa" + randomHex(3), B: "ecpb" + randomHex(3),
		AddrA: v4(base + 1), AddrB: v4(base + 2), Net: netip.PrefixFrom(v4(base), 30)}
	p.Net6 = netip.MustParsePrefix(fmt.Sprintf("fd00:ec8:%x:%x::/64", sub>>16, sub&0xffff))
	p.AddrA6 = netip.MustParseAddr(fmt.Sprintf("fd00:ec8:%x:%x::1", sub>>16, sub&0xffff))
	p.AddrB6 = netip.MustParseAddr(fmt.Sprintf("fd00:ec8:%x:%x::2", sub>>16, sub&0xffff))
	add := []string{"link", "add", p.A, "type", "veth", "peer", "name", p.B}
	if nsB != "" {
		add = append(add, "netns", nsB)
	}
	ProbeRun(t, nsA, "ip", add...)
	if nsB == "" && nsA != "" {
		// Created in nsA; its peer goes to the test's own namespace.
		ProbeRun(t, nsA, "ip", "link", "set", p.B, "netns", strconv.Itoa(os.Getpid()))
	}
	t.Cleanup(func() { _ = ProbeCommand(nsA, -1, "ip", "link", "delete", p.A).Run() })
	for _, end := range []struct {
		ns, dev string
		a, a6   netip.Addr
	}{{nsA, p.A, p.AddrA, p.AddrA6}, {nsB, p.B, p.AddrB, p.AddrB6}} {
		ProbeRun(t, end.ns, "ip", "addr", "add", end.a.String()+"/30", "dev", end.dev)
		ProbeRun(t, end.ns, "ip", "addr", "add", end.a6.String()+"/64", "dev", end.dev, "nodad")
		ProbeRun(t, end.ns, "ip", "link", "set", end.dev, "up")
	}
	for _, end := range [][2]string{{nsA, p.A}, {nsB, p.B}} {
		waitCarrier(t, end[0], end[1])
	}
	return p
}

// waitCarrier waits until dev in ns has its carrier (LOWER_UP): a veth end
// gets it a moment after both ends are up.
func waitCarrier(t testing.TB, ns, dev string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := ProbeCommand(ns, -1, "ip", "-o", "link", "show", "dev", dev).Output()
		if bytes.Contains(out, []byte("LOWER_UP")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (namespace %q) has no carrier after 10s: %s", dev, ns, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// SetMTU sets the MTU of one end ("A" or "B") only: the other keeps its
// own, as a router's smaller link does.
func (p *ProbeLinkPair) SetMTU(t testing.TB, end string, mtu int) {
	t.Helper()
	ns, dev := p.NsA, p.A
	if end == "B" {
		ns, dev = p.NsB, p.B
	}
	ProbeRun(t, ns, "ip", "link", "set", dev, "mtu", strconv.Itoa(mtu))
	waitCarrier(t, ns, dev)
}

// ProbeNft loads an nftables ruleset into namespace ns (never the test's
// own: the rules die with ns).
func ProbeNft(t testing.TB, ns, ruleset string) {
	t.Helper()
	if ns == "" {
		t.Fatal("ProbeNft: rules go into a namespace the test created, not the test's own")
	}
	nft := Require(t, "nft")
	cmd := ProbeCommand(ns, -1, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f - in %s: %v: %s\n%s", ns, err, bytes.TrimSpace(out), ruleset)
	}
}

// startLogged starts cmd with stderr and stdout into a log file and waits
// until the log holds ready; the process is killed when the test ends and
// its log printed when the test failed.
func startLogged(t testing.TB, what string, cmd *exec.Cmd, logFile, ready string) {
	t.Helper()
	logf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting %s: %v", what, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("%s log:\n%s", what, b)
		}
	})
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for {
		b, _ := os.ReadFile(logFile)
		if bytes.Contains(b, []byte(ready)) {
			return
		}
		select {
		case <-done:
			t.Fatalf("%s exited at start:\n%s", what, b)
		case <-deadline:
			t.Fatalf("%s is not ready after 15s (no %q in its log):\n%s", what, ready, b)
		case <-tick.C:
		}
	}
}

// StartProbeDnsmasq runs dnsmasq (dnsmasq-base) in namespace ns, answering
// on listen:53 from records only (name to address; IPv6 addresses give
// AAAA records): a name under .test it does not hold is NXDOMAIN, and it
// asks no upstream server.
func StartProbeDnsmasq(t testing.TB, ns string, listen netip.Addr, records map[string][]string) {
	t.Helper()
	bin := Require(t, "dnsmasq")
	dir := PrivateDir(t)
	args := []string{"--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
		"--bind-interfaces", "--listen-address=" + listen.String(), "--port=53", "--local=/test/",
		"--log-facility=-", "--log-queries", "--user=root"}
	for name, addrs := range records {
		args = append(args, "--host-record="+name+","+strings.Join(addrs, ","))
	}
	startLogged(t, "dnsmasq", ProbeCommand(ns, -1, bin, args...), filepath.Join(dir, "dnsmasq.log"), "cleared cache")
}
