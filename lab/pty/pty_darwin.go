package pty

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ClearsParity is false: a macOS pty keeps the c_cflag a program sets.
const ClearsParity = false

func ioctlPtr(fd int, req uint, p unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(p)); e != 0 {
		return e
	}
	return nil
}

func unlockPTY(fd int) (string, error) {
	if err := ioctlPtr(fd, unix.TIOCPTYGRANT, nil); err != nil {
		return "", fmt.Errorf("grantpt: %w", err)
	}
	if err := ioctlPtr(fd, unix.TIOCPTYUNLK, nil); err != nil {
		return "", fmt.Errorf("unlockpt: %w", err)
	}
	var name [128]byte
	if err := ioctlPtr(fd, unix.TIOCPTYGNAME, unsafe.Pointer(&name[0])); err != nil {
		return "", fmt.Errorf("ptsname: %w", err)
	}
	for i, c := range name {
		if c == 0 {
			return string(name[:i]), nil
		}
	}
	return "", fmt.Errorf("ptsname: name not terminated")
}

// GetTermios reads a terminal's settings.
func GetTermios(fd int) (*unix.Termios, error) { return unix.IoctlGetTermios(fd, unix.TIOCGETA) }

// SetTermios sets a terminal's settings.
func SetTermios(fd int, t *unix.Termios) error { return unix.IoctlSetTermios(fd, unix.TIOCSETA, t) }

// Baud is the rate a termios carries: macOS keeps the rate itself in c_ospeed.
func Baud(t *unix.Termios) int { return int(t.Ospeed) }

// SetSpeed sets a termios's rate.
func SetSpeed(t *unix.Termios, baud int) { t.Ispeed, t.Ospeed = uint64(baud), uint64(baud) }
