//go:build !linux

package netpath

import "net/netip"

// routeThrough needs Linux's netlink; off Linux no socket is bound to an
// interface, so it is never asked.
func routeThrough(ifindex int, dst netip.Addr) (string, bool, error) {
	return "", false, ErrNotSupported
}
