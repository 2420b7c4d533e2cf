//go:build linux && (ppc || ppc64 || ppc64le)

package pty

import "golang.org/x/sys/unix"

const cbaudOther = 0x1f // BOTHER on powerpc

// GetTermios reads a terminal's settings.
func GetTermios(fd int) (*unix.Termios, error) { return unix.IoctlGetTermios(fd, unix.TCGETS) }

// SetTermios sets a terminal's settings.
func SetTermios(fd int, t *unix.Termios) error { return unix.IoctlSetTermios(fd, unix.TCSETS, t) }
