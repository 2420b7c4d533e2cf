//go:build !linux

package testenv

import (
	"net/netip"
	"os/exec"
	"testing"
)

// The namespace helpers are Linux's: elsewhere a test using them does not
// apply.

func probeNotApplicable(t testing.TB) {
	t.Helper()
	t.Skip("does not apply: network namespaces are Linux only")
}

// ProbeRun needs Linux network namespaces.
func ProbeRun(t testing.TB, ns, name string, args ...string) string {
	probeNotApplicable(t)
	return ""
}

// ProbeCommand runs the command unchanged: there are no namespaces here.
func ProbeCommand(ns string, uid int, name string, args ...string) *exec.Cmd {
	return exec.Command(name, args...)
}

// ProbeSysctl needs Linux network namespaces.
func ProbeSysctl(t testing.TB, ns, key, value string) { probeNotApplicable(t) }

// ProbeLink needs Linux network namespaces.
func ProbeLink(t testing.TB, nsA, nsB string) *ProbeLinkPair { probeNotApplicable(t); return nil }

// SetMTU needs Linux.
func (p *ProbeLinkPair) SetMTU(t testing.TB, end string, mtu int) { probeNotApplicable(t) }

// ProbeNft needs Linux network namespaces.
func ProbeNft(t testing.TB, ns, ruleset string) { probeNotApplicable(t) }

// StartProbeDnsmasq needs Linux network namespaces.
func StartProbeDnsmasq(t testing.TB, ns string, listen netip.Addr, records map[string][]string) {
	probeNotApplicable(t)
}
