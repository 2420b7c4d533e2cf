//go:build !linux

package netpath

import "net/netip"

// openICMP: ICMP probing is implemented on Linux only.
func openICMP(dst netip.Addr, iface string, probeMTU bool) (icmpConn, error) {
	return nil, ErrNotSupported
}
