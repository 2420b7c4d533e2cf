//go:build linux && !ppc && !ppc64 && !ppc64le

package bus

import "golang.org/x/sys/unix"

// cbaudOther is BOTHER: a rate outside the B* table, given in c_ospeed.
const cbaudOther = unix.BOTHER

// TCGETS2 carries c_ispeed/c_ospeed, which adapters at odd rates need.
func getTermios(fd int) (*unix.Termios, error) { return unix.IoctlGetTermios(fd, unix.TCGETS2) }

func setTermios(fd int, t *unix.Termios) error { return unix.IoctlSetTermios(fd, unix.TCSETS2, t) }
