package testenv

import (
	"crypto/tls"
	"net"
	"sync"
	"testing"

	"github.com/ecdata/ectool/internal/certs"
)

// ServeLoopback runs serve on every connection to a fresh loopback TCP
// port until the test ends, and returns the port's address. At the end it
// closes the listener and every connection still open, and waits for each
// serve to return, so no server outlives its test.
func ServeLoopback(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	return serveListener(t, loopbackListener(t), serve)
}

// ServeLoopbackTLS is ServeLoopback behind a TLS server that presents the
// server certificate of a fresh internal/certs set: serve gets connections
// whose handshake runs on their first read or write (or an explicit
// Handshake).
func ServeLoopbackTLS(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	s, err := certs.WriteSet(PrivateDir(t))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(s.ServerCert, s.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	return serveListener(t, tls.NewListener(loopbackListener(t), &tls.Config{Certificates: []tls.Certificate{cert}}), serve)
}

func loopbackListener(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func serveListener(t testing.TB, l net.Listener, serve func(net.Conn)) string {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); serve(c) }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}
