//go:build linux

package netpath

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// BindSupported reports whether sockets can be bound to an interface here
// (SO_BINDTODEVICE).
func BindSupported() bool { return true }

// bindControl binds a socket to iface before it connects, whatever the
// routing table says: the probe then tests the path through that interface
// (a modem's wwan0) even when the default route goes elsewhere. Since
// Linux 5.7 it needs no capability.
func bindControl(iface string) func(network, address string, c syscall.RawConn) error {
	if iface == "" {
		return nil
	}
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = bindFD(int(fd), iface) }); err != nil {
			return err
		}
		return serr
	}
}

// bindFD binds the socket fd to iface.
func bindFD(fd int, iface string) error {
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface); err != nil {
		return &BindError{Iface: iface, Err: err}
	}
	return nil
}
