//go:build !linux

package testenv

import (
	"os/exec"
	"testing"
)

func isRoot() bool { return false }

// NewNetns needs Linux network namespaces.
func NewNetns(t testing.TB) string {
	t.Helper()
	NotApplicable(t, "network namespaces are Linux only")
	return ""
}

// InNetns runs the command unchanged: there are no namespaces here.
func InNetns(ns string, name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }

// Veth needs Linux network namespaces.
func Veth(t testing.TB, nsA, nsB string) *VethPair {
	t.Helper()
	NotApplicable(t, "veth pairs are Linux only")
	return nil
}

// Delete does nothing outside Linux.
func (p *VethPair) Delete() error { return nil }

// Recreate does nothing outside Linux.
func (p *VethPair) Recreate(t testing.TB) {}

// RunAs needs a Unix with credentials (tested on Linux only).
func RunAs(t testing.TB, cmd *exec.Cmd, uid int) {
	t.Helper()
	NotApplicable(t, "running as another uid is tested on Linux only")
}
