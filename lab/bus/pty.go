//go:build linux || darwin

package bus

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// PTY is the bus seen through a pseudo-terminal: the slave side (/dev/pts/N)
// is what a master program opens, like a USB RS-485 adapter. The simulator
// keeps only the master side open, so a scanner's check for other processes
// holding the port finds none, and it reads the slave's termios through the
// master (on Linux a pty master's TCGETS reports its slave's settings; on
// macOS both sides share one tty). What the program writes goes on the line
// at the baud and framing the program set; what the line carries reaches it
// through a UART with the same settings, so wrong settings garble both ways.
type PTY struct {
	bus  *Bus
	port *Port
	fd   int
	path string
	link string

	iflag     atomic.Uint64 // the slave's input flags (IGNPAR, INPCK, PARMRK)
	slaveOpen atomic.Bool
	stale     atomic.Int64 // queued chunks read off the line at settings the program has since changed
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// OpenPTY attaches a PTY adapter to the bus. When link is not empty, a
// symbolic link to the slave is made there (replacing an old link), so a
// lab directory can offer a stable name. The adapter echoes its own
// transmission when the scenario has the Echo fault.
func (b *Bus) OpenPTY(link string) (*PTY, error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /dev/ptmx for the lab bus: %w", err)
	}
	path, err := unlockPTY(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("setting up the lab bus PTY: %w", err)
	}
	x := &PTY{bus: b, fd: fd, path: path, done: make(chan struct{})}
	// Start the slave raw at the bus's settings, as an adapter fresh from
	// its box: a canonical, echoing line discipline would feed the
	// simulator's own answers back to it before a master sets the port up.
	if err := x.initTermios(b.Settings()); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("setting up the lab bus PTY: %w", err)
	}
	// Open and close the slave once: from then on the master reports a
	// hangup until a program opens the slave, so nothing is queued for a
	// program that is not there (a real adapter drops bytes when closed).
	if s, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0); err == nil {
		unix.Close(s)
	}
	s, iflag := b.Settings(), uint64(0)
	if t, err := getTermios(fd); err == nil {
		s, iflag = termiosSettings(t)
	}
	x.iflag.Store(iflag)
	x.port, err = b.attach(&Port{name: "pty " + path, settings: s, echo: b.cfg.Faults.Echo}, x.filter)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	if link != "" {
		if fi, err := os.Lstat(link); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			_ = os.Remove(link)
		}
		if err := os.Symlink(path, link); err != nil {
			x.Close()
			return nil, fmt.Errorf("linking %s to the lab bus PTY: %w", link, err)
		}
		x.link = link
	}
	x.wg.Add(2)
	go x.readLoop()
	go x.writeLoop()
	return x, nil
}

// Path is the slave device a master opens (/dev/pts/N, /dev/ttysNNN).
func (x *PTY) Path() string { return x.path }

// Link is the stable symbolic link to Path ("" when none was asked for).
func (x *PTY) Link() string { return x.link }

// Port is the PTY adapter's port on the bus.
func (x *PTY) Port() *Port { return x.port }

// Close detaches the adapter, removes the link and closes the PTY; a program
// holding the slave then reads end of file or an error.
func (x *PTY) Close() error {
	x.closeOnce.Do(func() {
		close(x.done)
		x.port.Close()
		x.wg.Wait()
		unix.Close(x.fd)
		if x.link != "" {
			_ = os.Remove(x.link)
		}
	})
	return nil
}

// readLoop takes what the program writes and transmits it at the settings
// the program chose, re-reading them as they change.
func (x *PTY) readLoop() {
	defer x.wg.Done()
	buf := make([]byte, 512)
	pfd := []unix.PollFd{{Fd: int32(x.fd), Events: unix.POLLIN}}
	for {
		select {
		case <-x.done:
			return
		default:
		}
		pfd[0].Revents = 0
		n, err := unix.Poll(pfd, 20)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if n > 0 && pfd[0].Revents&unix.POLLHUP != 0 && pfd[0].Revents&unix.POLLIN == 0 {
			x.slaveOpen.Store(false) // nobody holds the slave
			time.Sleep(20 * time.Millisecond)
			continue
		}
		x.slaveOpen.Store(true)
		x.refresh()
		if n == 0 || pfd[0].Revents&unix.POLLIN == 0 {
			continue
		}
		k, err := unix.Read(x.fd, buf)
		if k <= 0 || err != nil {
			if errors.Is(err, unix.EIO) { // slave closed while we looked
				x.slaveOpen.Store(false)
			}
			continue
		}
		if _, err := x.port.Write(buf[:k]); err != nil {
			return
		}
	}
}

// refresh re-reads the slave's termios. When the program changed them, what
// the simulator read off the line at the old settings and has not handed
// over yet is dropped: the program's UART would have read those bytes at
// its new settings, and the simulator notices a change only when it next
// looks (it polls, and a loaded host delays it further), so it must not
// deliver them as if read at the new ones (auto-detect's next candidate
// then decoded the previous candidate's traffic).
func (x *PTY) refresh() {
	t, err := getTermios(x.fd)
	if err != nil {
		return
	}
	s, iflag := termiosSettings(t)
	changed := x.iflag.Swap(iflag) != iflag
	b, p := x.bus, x.port
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.Validate() == nil && s != p.settings {
		p.settings = s
		changed = true
	}
	if changed && !p.closed {
		p.inbox = nil
		x.stale.Add(int64(len(p.out)))
	}
}

// writeLoop hands what the line carried to the program, dropping it while
// no program holds the slave.
func (x *PTY) writeLoop() {
	defer x.wg.Done()
	for chunk := range x.port.Recv() {
		if x.stale.Load() > 0 { // read at settings the program has left
			x.stale.Add(-1)
			continue
		}
		if !x.slaveOpen.Load() {
			continue
		}
		// A full slave input queue drops bytes, like a UART overrun.
		_, _ = unix.Write(x.fd, chunk)
	}
}

// filter is the slave's line discipline for characters with UART errors,
// following its input flags: IGNPAR drops them, PARMRK marks them with
// 0xFF 0x00, otherwise they read as 0x00. Parity errors count only with
// INPCK (without it the character passes unchanged).
func (x *PTY) filter(dst []byte, c rxChar) []byte {
	iflag := x.iflag.Load()
	e := c.err
	if iflag&uint64(unix.INPCK) == 0 {
		e &^= errParity
	}
	switch {
	case e == 0:
		if c.c == 0xFF && iflag&uint64(unix.PARMRK) != 0 {
			return append(dst, 0xFF, 0xFF)
		}
		return append(dst, c.c)
	case iflag&uint64(unix.IGNPAR) != 0:
		return dst
	case iflag&uint64(unix.PARMRK) != 0:
		return append(dst, 0xFF, 0x00, c.c)
	}
	return append(dst, 0)
}

// initTermios makes the slave raw at settings s.
func (x *PTY) initTermios(s Settings) error {
	t, err := getTermios(x.fd)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.INPCK | unix.IGNPAR
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.PARODD | unix.CSTOPB
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	setSpeed(t, s.Baud)
	return setTermios(x.fd, t)
}

// termiosSettings reads UART settings and input flags from a termios.
func termiosSettings(t *unix.Termios) (Settings, uint64) {
	s := Settings{Baud: termiosBaud(t), DataBits: 8, Parity: ParityNone, StopBits: 1}
	switch t.Cflag & unix.CSIZE {
	case unix.CS5:
		s.DataBits = 5
	case unix.CS6:
		s.DataBits = 6
	case unix.CS7:
		s.DataBits = 7
	}
	switch {
	case t.Cflag&unix.PARENB != 0 && t.Cflag&unix.PARODD != 0:
		s.Parity = ParityOdd
	case t.Cflag&unix.PARENB != 0:
		s.Parity = ParityEven
	case ptyClearsParity && t.Cflag&unix.PARODD != 0:
		s.Parity = ParityOdd
	case ptyClearsParity && t.Iflag&unix.INPCK != 0:
		// libmodbus, go.bug.st/serial and stty all turn on input parity
		// checking with parity and off without it, and Linux keeps iflag
		s.Parity = ParityEven
	}
	if t.Cflag&unix.CSTOPB != 0 {
		s.StopBits = 2
	}
	return s, uint64(t.Iflag)
}
