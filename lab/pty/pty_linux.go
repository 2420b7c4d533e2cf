package pty

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ClearsParity: Linux's pty driver forces CS8 and clears PARENB in every
// termios a program sets (drivers/tty/pty.c, pty_set_termios), so a
// simulator infers parity from what survives (PARODD, INPCK) and data bits
// always read 8.
const ClearsParity = true

func unlockPTY(fd int) (string, error) {
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return "", fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		return "", fmt.Errorf("ptsname: %w", err)
	}
	return fmt.Sprintf("/dev/pts/%d", n), nil
}

// linuxBauds maps the CBAUD codes of c_cflag to rates.
var linuxBauds = map[uint32]int{
	unix.B50: 50, unix.B75: 75, unix.B110: 110, unix.B134: 134, unix.B150: 150, unix.B200: 200,
	unix.B300: 300, unix.B600: 600, unix.B1200: 1200, unix.B1800: 1800, unix.B2400: 2400,
	unix.B4800: 4800, unix.B9600: 9600, unix.B19200: 19200, unix.B38400: 38400,
	unix.B57600: 57600, unix.B115200: 115200, unix.B230400: 230400, unix.B460800: 460800,
	unix.B500000: 500000, unix.B576000: 576000, unix.B921600: 921600, unix.B1000000: 1000000,
	unix.B1152000: 1152000, unix.B1500000: 1500000, unix.B2000000: 2000000,
	unix.B2500000: 2500000, unix.B3000000: 3000000, unix.B3500000: 3500000, unix.B4000000: 4000000,
}

// Baud is the rate a termios carries.
func Baud(t *unix.Termios) int {
	code := t.Cflag & unix.CBAUD
	if code == cbaudOther && t.Ospeed != 0 { // BOTHER: the rate is in c_ospeed
		return int(t.Ospeed)
	}
	return linuxBauds[code]
}

// SetSpeed sets a termios's rate (standard rates only on Linux).
func SetSpeed(t *unix.Termios, baud int) {
	for code, b := range linuxBauds {
		if b == baud {
			t.Cflag = t.Cflag&^unix.CBAUD | code
			t.Ispeed, t.Ospeed = uint32(baud), uint32(baud)
			return
		}
	}
}
