package modem

import (
	"sync"

	"github.com/ecdata/ectool/lab/pty"
)

// PTY is the modem seen through a pseudo-terminal (lab/pty), like a USB
// modem's AT port: /dev/pts/N on Linux, /dev/ttysNNN on macOS. A program
// opening the slave starts a new session (echo and error mode as the modem
// ships them); what the modem would say while nobody holds the slave is
// dropped. USB modems ignore the baud rate, and so does this one.
type PTY struct {
	master *pty.Master
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// OpenPTY opens the PTY; when link is not empty, a symbolic link to the
// slave is made there. Where the OS has no PTYs the error wraps
// pty.ErrUnsupported; use ServeTCP instead.
func (m *Modem) OpenPTY(link string) (*PTY, error) {
	master, err := pty.Open(115200, link)
	if err != nil {
		return nil, err
	}
	x := &PTY{master: master, done: make(chan struct{})}
	if err := m.addCloser(x); err != nil {
		return nil, err
	}
	var s *session
	var opens uint64
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		master.Pump(x.done, func() {
			if n := master.Opens(); s == nil || n != opens { // a program opened the port
				opens = n
				s = m.newSession("pty", func(b []byte) {
					if master.SlaveOpen() {
						_, _ = master.Write(b)
					}
				})
			}
		}, func(b []byte) error {
			s.feed(b)
			return nil
		})
	}()
	return x, nil
}

// Path is the slave a program opens.
func (x *PTY) Path() string { return x.master.Path() }

// Link is the symbolic link to Path ("" when none was asked for).
func (x *PTY) Link() string { return x.master.Link() }

// Close closes the PTY and removes its link.
func (x *PTY) Close() error {
	x.once.Do(func() {
		close(x.done)
		x.wg.Wait()
		x.master.Close()
	})
	return nil
}
