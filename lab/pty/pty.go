//go:build linux || darwin

package pty

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Master is the simulator's side of a pseudo-terminal.
type Master struct {
	fd        int
	path      string
	link      string
	slaveOpen atomic.Bool
	opens     atomic.Uint64
	closed    atomic.Bool
	stalls    atomic.Uint64
	longest   atomic.Int64 // the longest stall, in nanoseconds
}

// pollWait is how long Pump's poll waits for the program at most; a wake-up
// later than that by more than stallAfter is a stall.
const (
	pollWait   = 20 * time.Millisecond
	stallAfter = 50 * time.Millisecond
)

// Open opens a new pseudo-terminal whose slave starts raw at baud, as an
// adapter fresh from its box: a canonical, echoing line discipline would
// feed the simulator's own answers back to it before a program sets the
// port up. When link is not empty, a symbolic link to the slave is made
// there (replacing an old link), so a lab directory can offer a stable name.
func Open(baud int, link string) (*Master, error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /dev/ptmx: %w", err)
	}
	path, err := unlockPTY(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	m := &Master{fd: fd, path: path}
	if err := m.makeRaw(baud); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Open and close the slave once: from then on the master reports a
	// hangup until a program opens the slave, so nothing is queued for a
	// program that is not there (a real adapter drops bytes when closed).
	if s, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0); err == nil {
		unix.Close(s)
	}
	if link != "" {
		if fi, err := os.Lstat(link); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			_ = os.Remove(link)
		}
		if err := os.Symlink(path, link); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("linking %s to %s: %w", link, path, err)
		}
		m.link = link
	}
	return m, nil
}

// Fd is the master's file descriptor (non-blocking).
func (m *Master) Fd() int { return m.fd }

// Path is the slave device a program opens (/dev/pts/N, /dev/ttysNNN).
func (m *Master) Path() string { return m.path }

// Link is the symbolic link to Path ("" when none was asked for).
func (m *Master) Link() string { return m.link }

// SlaveOpen reports whether a program held the slave at the last look
// Pump took.
func (m *Master) SlaveOpen() bool { return m.slaveOpen.Load() }

// Opens counts the times Pump saw a program open the slave: a simulator
// starts a fresh session when it changes.
func (m *Master) Opens() uint64 { return m.opens.Load() }

// Stalls reports how often Pump woke later than its poll allows (by more
// than 50 ms), and the longest such wake-up: the host did not run the
// simulator's reader, so what the program wrote meanwhile reached the
// line late, several writes at once. A test that fails on a timeout can
// tell the simulator's stall from the device's silence by it.
func (m *Master) Stalls() (n uint64, longest time.Duration) {
	return m.stalls.Load(), time.Duration(m.longest.Load())
}

// Termios reads the slave's terminal settings through the master (on Linux
// a pty master's TCGETS reports its slave's settings; on macOS both sides
// share one tty).
func (m *Master) Termios() (*unix.Termios, error) { return GetTermios(m.fd) }

// Write hands bytes to the program holding the slave. A full slave input
// queue drops bytes, like a UART overrun.
func (m *Master) Write(b []byte) (int, error) { return unix.Write(m.fd, b) }

// Close closes the master and removes the link; a program holding the slave
// then reads end of file or an error. Stop Pump first.
func (m *Master) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	err := unix.Close(m.fd)
	if m.link != "" {
		_ = os.Remove(m.link)
	}
	return err
}

// Pump reads what the program writes to the slave until done is closed or
// data returns an error. tick, when not nil, runs at every wake-up (about
// every 20 ms) while a program holds the slave, before data: where a
// simulator re-reads the settings the program chose. While nobody holds the
// slave, SlaveOpen is false and Pump only waits.
func (m *Master) Pump(done <-chan struct{}, tick func(), data func([]byte) error) {
	buf := make([]byte, 512)
	pfd := []unix.PollFd{{Fd: int32(m.fd), Events: unix.POLLIN}}
	for {
		select {
		case <-done:
			return
		default:
		}
		pfd[0].Revents = 0
		polled := time.Now()
		n, err := unix.Poll(pfd, int(pollWait/time.Millisecond))
		m.noteStall(time.Since(polled))
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if n > 0 && pfd[0].Revents&unix.POLLHUP != 0 && pfd[0].Revents&unix.POLLIN == 0 {
			m.slaveOpen.Store(false) // nobody holds the slave
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if !m.slaveOpen.Swap(true) {
			m.opens.Add(1)
		}
		if tick != nil {
			tick()
		}
		if n == 0 || pfd[0].Revents&unix.POLLIN == 0 {
			continue
		}
		k, err := unix.Read(m.fd, buf)
		if k <= 0 || err != nil {
			if errors.Is(err, unix.EIO) { // slave closed while we looked
				m.slaveOpen.Store(false)
			}
			continue
		}
		if err := data(buf[:k]); err != nil {
			return
		}
	}
}

// noteStall counts a poll that returned later than it could have.
func (m *Master) noteStall(took time.Duration) {
	if took < pollWait+stallAfter {
		return
	}
	m.stalls.Add(1)
	for {
		old := m.longest.Load()
		if int64(took) <= old || m.longest.CompareAndSwap(old, int64(took)) {
			return
		}
	}
}

// makeRaw makes the slave raw at baud.
func (m *Master) makeRaw(baud int) error {
	t, err := GetTermios(m.fd)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.INPCK | unix.IGNPAR
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.PARODD | unix.CSTOPB
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	SetSpeed(t, baud)
	return SetTermios(m.fd, t)
}
