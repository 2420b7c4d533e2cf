//go:build linux || darwin

package bus

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ecdata/ectool/lab/pty"
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
	bus    *Bus
	port   *Port
	master *pty.Master
	fd     int

	iflag atomic.Uint64 // the slave's input flags (IGNPAR, INPCK, PARMRK)
	// look serialises the looks at the slave's settings: readLoop and
	// writeLoop both look, and a look read before a change but applied
	// after a later look would put the settings the program left back.
	look sync.Mutex
	// staleUpTo is the number of the last chunk (counted by port.sent)
	// read off the line at settings the program has since left. Under
	// bus.mu.
	staleUpTo uint64
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// OpenPTY attaches a PTY adapter to the bus. When link is not empty, a
// symbolic link to the slave is made there (replacing an old link), so a
// lab directory can offer a stable name. The adapter echoes its own
// transmission when the scenario has the Echo fault.
func (b *Bus) OpenPTY(link string) (*PTY, error) {
	m, err := pty.Open(b.Settings().Baud, link)
	if err != nil {
		return nil, fmt.Errorf("setting up the lab bus PTY: %w", err)
	}
	x := &PTY{bus: b, master: m, fd: m.Fd(), done: make(chan struct{})}
	s, iflag := b.Settings(), uint64(0)
	if t, err := m.Termios(); err == nil {
		s, iflag = termiosSettings(t)
	}
	x.iflag.Store(iflag)
	x.port, err = b.attach(&Port{name: "pty " + m.Path(), settings: s, echo: b.cfg.Faults.Echo}, x.filter)
	if err != nil {
		m.Close()
		return nil, err
	}
	x.wg.Add(2)
	go x.readLoop()
	go x.writeLoop()
	return x, nil
}

// Path is the slave device a master opens (/dev/pts/N, /dev/ttysNNN).
func (x *PTY) Path() string { return x.master.Path() }

// Link is the stable symbolic link to Path ("" when none was asked for).
func (x *PTY) Link() string { return x.master.Link() }

// ReaderStalls reports how often the host left the simulator's reader of
// the program's writes unrun for more than 50 ms past its poll, and the
// longest time: meanwhile the program's requests waited and then went on
// the line late and glued together, which a scan reads as devices not
// answering (see pty.Master.Stalls).
func (x *PTY) ReaderStalls() (n uint64, longest time.Duration) { return x.master.Stalls() }

// Port is the PTY adapter's port on the bus.
func (x *PTY) Port() *Port { return x.port }

// Close detaches the adapter, removes the link and closes the PTY; a program
// holding the slave then reads end of file or an error.
func (x *PTY) Close() error {
	x.closeOnce.Do(func() {
		close(x.done)
		x.port.Close()
		x.wg.Wait()
		x.master.Close()
	})
	return nil
}

// readLoop takes what the program writes and transmits it at the settings
// the program chose, re-reading them as they change.
func (x *PTY) readLoop() {
	defer x.wg.Done()
	x.master.Pump(x.done, func() { x.refresh() }, func(b []byte) error {
		_, err := x.port.Write(b)
		return err
	})
}

// refresh re-reads the slave's termios. When the program changed them, what
// the simulator read off the line at the old settings and has not handed
// over yet is dropped: the program's UART would have read those bytes at
// its new settings, and the simulator notices a change only when it next
// looks (it polls, and a loaded host delays it further), so it must not
// deliver them as if read at the new ones (auto-detect's next candidate
// then decoded the previous candidate's traffic). It returns the number of
// the last chunk sent before the latest change it knows of: chunks up to
// it are stale. A number rather than a count of the queue: two looks at
// one change (readLoop's and writeLoop's) mark the same chunks, where
// counting the queue twice would drop as many chunks read at the new
// settings, and a chunk writeLoop took off the queue just before the look
// is marked too, where it went uncounted and one chunk read at the old
// settings was handed over at the new ones.
func (x *PTY) refresh() (staleUpTo uint64) {
	x.look.Lock()
	defer x.look.Unlock()
	t, err := getTermios(x.fd)
	b, p := x.bus, x.port
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		return x.staleUpTo
	}
	s, iflag := termiosSettings(t)
	changed := x.iflag.Swap(iflag) != iflag
	if s.Validate() == nil && s != p.settings {
		p.settings = s
		changed = true
	}
	if changed {
		p.inbox = nil
		x.staleUpTo = p.sent
	}
	return x.staleUpTo
}

// writeLoop hands what the line carried to the program, dropping it while
// no program holds the slave. Before each chunk it looks at the slave's
// settings again: readLoop's look comes every 20 ms at best, and a starved
// host delays it by far more, while a program switching settings (auto-
// detect going through its candidates) must never be handed bytes read at
// the settings it left (the 8O1 candidate read the 8E1 traffic as valid
// frames, under load). A real UART applies new settings at once.
func (x *PTY) writeLoop() {
	defer x.wg.Done()
	var n uint64 // the chunk's number: the port sends them in order
	for chunk := range x.port.Recv() {
		n++
		if n <= x.refresh() { // read at settings the program has left
			continue
		}
		if !x.master.SlaveOpen() {
			continue
		}
		// A full slave input queue drops bytes, like a UART overrun.
		_, _ = x.master.Write(chunk)
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

// termiosSettings reads UART settings and input flags from a termios.
func termiosSettings(t *unix.Termios) (Settings, uint64) {
	s := Settings{Baud: pty.Baud(t), DataBits: 8, Parity: ParityNone, StopBits: 1}
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
	case pty.ClearsParity && t.Cflag&unix.PARODD != 0:
		s.Parity = ParityOdd
	case pty.ClearsParity && t.Iflag&unix.INPCK != 0:
		// libmodbus, go.bug.st/serial and stty all turn on input parity
		// checking with parity and off without it, and Linux keeps iflag
		s.Parity = ParityEven
	}
	if t.Cflag&unix.CSTOPB != 0 {
		s.StopBits = 2
	}
	return s, uint64(t.Iflag)
}

// The termios helpers live in lab/pty, shared with the lab modem; these
// names stay for the tests.
func getTermios(fd int) (*unix.Termios, error) { return pty.GetTermios(fd) }

func setTermios(fd int, t *unix.Termios) error { return pty.SetTermios(fd, t) }

func setSpeed(t *unix.Termios, baud int) { pty.SetSpeed(t, baud) }
