//go:build !linux

package netpath

import "syscall"

// BindSupported reports whether sockets can be bound to an interface here:
// SO_BINDTODEVICE is Linux's.
func BindSupported() bool { return false }

func bindControl(iface string) func(network, address string, c syscall.RawConn) error {
	if iface == "" {
		return nil
	}
	return func(string, string, syscall.RawConn) error {
		return &BindError{Iface: iface, Err: ErrNotSupported}
	}
}

func bindFD(fd int, iface string) error { return &BindError{Iface: iface, Err: ErrNotSupported} }
