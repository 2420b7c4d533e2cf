//go:build linux && (ppc || ppc64 || ppc64le)

package bus

import "golang.org/x/sys/unix"

const cbaudOther = 0x1f // BOTHER on powerpc

func getTermios(fd int) (*unix.Termios, error) { return unix.IoctlGetTermios(fd, unix.TCGETS) }

func setTermios(fd int, t *unix.Termios) error { return unix.IoctlSetTermios(fd, unix.TCSETS, t) }
