package broker

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// preConnectTimeout bounds how long a connection may stay silent before its
// CONNECT (TLS handshake included). mochi sets no deadline until CONNECT,
// so a client that connects and says nothing would hold a goroutine, and
// mochi's Close, which waits for every connection, forever. After CONNECT
// mochi replaces the deadline with the keep-alive's.
const preConnectTimeout = 10 * time.Second

// connTracker remembers the broker's open connections, so Close can wait
// until mochi has taken each one in hand and cut the ones it cannot
// disconnect (no CONNECT yet).
type connTracker struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func newConnTracker() *connTracker {
	return &connTracker{conns: map[*trackedConn]struct{}{}}
}

// listener wraps a bound listener: every accepted connection gets the
// pre-CONNECT deadline and is tracked until closed. With markOnRead, the
// first Read marks the connection as taken in hand by mochi (for the
// WebSocket listener the HTTP server reads first: wsConn marks it).
func (t *connTracker) listener(ln net.Listener, markOnRead bool) net.Listener {
	return &trackedListener{Listener: ln, t: t, markOnRead: markOnRead}
}

// waitEntered waits until mochi has read from every open connection, or
// until timeout. mochi counts a connection in (WaitGroup.Add) before its
// first read and Close waits for that count: once every connection was
// read, no Add can race with Close's Wait.
func (t *connTracker) waitEntered(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if t.pending() == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pending is the number of open connections mochi has not read from yet.
func (t *connTracker) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for c := range t.conns {
		if !c.entered.Load() {
			n++
		}
	}
	return n
}

// closeAll closes every connection still open.
func (t *connTracker) closeAll() {
	t.mu.Lock()
	conns := make([]*trackedConn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

type trackedListener struct {
	net.Listener
	t          *connTracker
	markOnRead bool
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(preConnectTimeout))
	tc := &trackedConn{Conn: c, t: l.t, markOnRead: l.markOnRead}
	l.t.mu.Lock()
	l.t.conns[tc] = struct{}{}
	l.t.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	t          *connTracker
	markOnRead bool
	entered    atomic.Bool
	once       sync.Once
}

func (c *trackedConn) Read(p []byte) (int, error) {
	if c.markOnRead && !c.entered.Load() {
		c.entered.Store(true)
	}
	return c.Conn.Read(p)
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}
