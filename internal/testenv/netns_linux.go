//go:build linux

package testenv

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func isRoot() bool { return os.Geteuid() == 0 }

// ipCmd runs iproute2's ip and returns a worded error with its output.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// NewNetns creates a network namespace with a random name (ectool-n-XXXXXXXX)
// and its loopback up, deleted when the test ends (with every interface in
// it). It needs root and iproute2 (Missing otherwise).
func NewNetns(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	Require(t, "ip")
	name := "ectool-n-" + randomHex(4)
	if err := ipCmd("netns", "add", name); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	t.Cleanup(func() { _ = ipCmd("netns", "delete", name) })
	if err := ipCmd("-n", name, "link", "set", "lo", "up"); err != nil {
		t.Fatalf("bringing up lo in %s: %v", name, err)
	}
	return name
}

// InNetns wraps a command so it runs in namespace ns (ip netns exec), or
// returns it unchanged when ns is "".
func InNetns(ns string, name string, args ...string) *exec.Cmd {
	if ns == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Veth creates a veth pair between namespaces nsA and nsB ("" is the test's
// own namespace) with random interface names and addresses, both ends up,
// and deletes it when the test ends.
func Veth(t testing.TB, nsA, nsB string) *VethPair {
	t.Helper()
	RequireRoot(t)
	Require(t, "ip")
	var r [3]byte
	_, _ = rand.Read(r[:])
	p := &VethPair{NsA: nsA, NsB: nsB, A: "ecva" + randomHex(3), B: "ecvb" + randomHex(3), Prefix: 30, Prefix6: 64}
	// 198.18.0.0/15 holds 2^15 /30 subnets; r picks one.
	sub := (uint32(r[0]&1)<<16 | uint32(r[1])<<8 | uint32(r[2]&0xfc))
	base := uint32(198)<<24 | uint32(18)<<16 | sub
	p.AddrA = addr4(base + 1)
	p.AddrB = addr4(base + 2)
	p.AddrA6 = netip.MustParseAddr(fmt.Sprintf("fd00:ec7:0:%02x%02x::1", r[1], r[2]))
	p.AddrB6 = netip.MustParseAddr(fmt.Sprintf("fd00:ec7:0:%02x%02x::2", r[1], r[2]))
	if err := p.create(); err != nil {
		t.Fatalf("creating a veth pair: %v", err)
	}
	t.Cleanup(func() { _ = p.Delete() })
	return p
}

func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func nsArgs(ns string, args ...string) []string {
	if ns == "" {
		return args
	}
	return append([]string{"-n", ns}, args...)
}

func (p *VethPair) create() error {
	add := []string{"link", "add", p.A, "type", "veth", "peer", "name", p.B}
	if p.NsB != "" {
		add = append(add, "netns", p.NsB)
	} else if p.NsA != "" {
		// The peer is created in NsA's view: send it back to ours.
		add = append(add, "netns", fmt.Sprint(os.Getpid()))
	}
	if err := ipCmd(nsArgs(p.NsA, add...)...); err != nil {
		return err
	}
	for _, end := range []struct {
		ns, dev string
		a, a6   netip.Addr
	}{{p.NsA, p.A, p.AddrA, p.AddrA6}, {p.NsB, p.B, p.AddrB, p.AddrB6}} {
		steps := [][]string{
			{"addr", "add", fmt.Sprintf("%s/%d", end.a, p.Prefix), "dev", end.dev},
			{"addr", "add", fmt.Sprintf("%s/%d", end.a6, p.Prefix6), "dev", end.dev, "nodad"},
			{"link", "set", end.dev, "up"},
		}
		for _, s := range steps {
			if err := ipCmd(nsArgs(end.ns, s...)...); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes the pair (both ends go with one). Tests call it to make an
// interface vanish; Recreate brings it back with the same names and
// addresses.
func (p *VethPair) Delete() error {
	return ipCmd(nsArgs(p.NsA, "link", "delete", p.A)...)
}

// Recreate makes the pair again after Delete, with the same names and
// addresses.
func (p *VethPair) Recreate(t testing.TB) {
	t.Helper()
	if err := p.create(); err != nil {
		t.Fatalf("re-creating the veth pair: %v", err)
	}
}

// RunAs makes cmd run as uid (and the same gid) with no supplementary
// groups and no capabilities: the kernel clears a root process's
// capabilities when it changes to a non-zero uid, and no ambient ones are
// passed. The binary must be reachable by that user (PrivateDir, or a copy
// made with CopyBinary). Needs root (Missing otherwise).
func RunAs(t testing.TB, cmd *exec.Cmd, uid int) {
	t.Helper()
	RequireRoot(t)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}
	cmd.SysProcAttr.AmbientCaps = nil
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
