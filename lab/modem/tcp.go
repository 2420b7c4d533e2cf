package modem

import (
	"fmt"
	"net"
	"sync"

	"github.com/ecdata/ectool/diag/exitcode"
)

// ListenError is a port that could not bind, usually because another
// program has it.
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("the lab modem's AT port cannot listen on %s: %v", e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// ExitKind is exitcode.KindCannotRun: the lab cannot start.
func (e *ListenError) ExitKind() exitcode.Kind { return exitcode.KindCannotRun }

// NextStep says how to get a free port.
func (e *ListenError) NextStep() string {
	return "another program uses that port: choose another --port-base, or leave it out to use free ports"
}

// TCP is the modem's raw AT port over TCP (what a serial server in
// transparent mode offers): every connection is a session of its own.
type TCP struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
	once  sync.Once
}

// ServeTCP listens on addr ("127.0.0.1:0" for any free port).
func (m *Modem) ServeTCP(addr string) (*TCP, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &ListenError{Addr: addr, Err: err}
	}
	t := &TCP{ln: ln, conns: map[net.Conn]bool{}}
	if err := m.addCloser(t); err != nil {
		return nil, err
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !t.track(c, true) {
				c.Close()
				return
			}
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				defer t.track(c, false)
				m.serveConn(c)
			}()
		}
	}()
	return t, nil
}

func (m *Modem) serveConn(c net.Conn) {
	defer c.Close()
	s := m.newSession("tcp "+c.RemoteAddr().String(), func(b []byte) { _, _ = c.Write(b) })
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			s.feed(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

func (t *TCP) track(c net.Conn, add bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns == nil {
		return false
	}
	if add {
		t.conns[c] = true
	} else {
		delete(t.conns, c)
	}
	return true
}

// Addr is the listening address.
func (t *TCP) Addr() string { return t.ln.Addr().String() }

// URL is the port as ectool takes it: tcp://127.0.0.1:PORT.
func (t *TCP) URL() string { return "tcp://" + t.Addr() }

// Close stops listening and ends every session.
func (t *TCP) Close() error {
	t.once.Do(func() {
		t.ln.Close()
		t.mu.Lock()
		for c := range t.conns {
			c.Close()
		}
		t.conns = nil
		t.mu.Unlock()
		t.wg.Wait()
	})
	return nil
}
