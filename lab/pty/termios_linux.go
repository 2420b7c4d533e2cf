//go:build linux && !ppc && !ppc64 && !ppc64le

package pty

import "golang.org/x/sys/unix"

// cbaudOther is BOTHER: a rate outside the B* table, given in c_ospeed.
const cbaudOther = unix.BOTHER

// GetTermios reads a terminal's settings. TCGETS2 carries c_ispeed/c_ospeed,
// which adapters at odd rates need.
func GetTermios(fd int) (*unix.Termios, error) { return unix.IoctlGetTermios(fd, unix.TCGETS2) }

// SetTermios sets a terminal's settings.
func SetTermios(fd int, t *unix.Termios) error { return unix.IoctlSetTermios(fd, unix.TCSETS2, t) }
