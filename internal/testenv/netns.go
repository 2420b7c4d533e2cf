package testenv

import (
	"fmt"
	"net/netip"
	"testing"
)

// Nobody is the uid (and gid) of the unprivileged user tests run ectool as.
const Nobody = 65534

// NotApplicable skips a test that does not apply here: another OS, no PTY
// support, a kernel feature missing. Unlike Missing it skips under CI too,
// so the reason must say why the case cannot apply (never a peer or tool
// that could be installed: that is Missing).
func NotApplicable(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Skip("does not apply: " + fmt.Sprintf(format, args...))
}

// RequireRoot skips (fails under CI=true) a test that needs root: creating
// namespaces, interfaces, or running ectool as another user.
func RequireRoot(t testing.TB) {
	t.Helper()
	if !isRoot() {
		Missing(t, "needs root (namespaces, interfaces, other users)")
	}
}

// VethPair is a veth link whose ends live in two namespaces, each with an
// IPv4 address (from 198.18.0.0/15, the benchmarking range, /30 per pair)
// and an IPv6 address (fd00:ec7::/48, /64 per pair), both up and ready:
// IPv6 duplicate address detection is off, so an address works at once.
type VethPair struct {
	// NsA and NsB are the namespaces ("" is the test's own).
	NsA, NsB string
	// A and B are the interface names in NsA and NsB.
	A, B string
	// AddrA, AddrB (IPv4) and AddrA6, AddrB6 (IPv6) are the ends' addresses.
	AddrA, AddrB, AddrA6, AddrB6 netip.Addr
	// Prefix and Prefix6 are the prefix lengths (30 and 64).
	Prefix, Prefix6 int
}
