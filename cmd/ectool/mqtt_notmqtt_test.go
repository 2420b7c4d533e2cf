package main

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/ecdata/ectool/internal/certs"
	"github.com/ecdata/ectool/internal/testenv"
)

// serveLoopback runs serve on every connection to a loopback port until
// the test ends.
func serveLoopback(t *testing.T, l net.Listener, serve func(net.Conn)) string {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); serve(c) }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

func loopbackListener(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Issue 6: every command that logs in to a broker names a server that is
// not one, instead of "CONNECT failed: invalid Prop type 46 for packet 4".
func TestEveryMQTTCommandNamesAServerThatIsNotABroker(t *testing.T) {
	proxy := serveLoopback(t, loopbackListener(t), func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		_, _ = io.Copy(io.Discard, c)
	})
	s, err := certs.WriteSet(testenv.PrivateDir(t))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(s.ServerCert, s.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := serveLoopback(t, tls.NewListener(loopbackListener(t), &tls.Config{Certificates: []tls.Certificate{cert}}), func(c net.Conn) {
		defer c.Close()
		_ = c.(*tls.Conn).Handshake()
	})
	commands := [][]string{
		{"check", "--timeout", "5s"},
		{"pub", "-t", "a", "-m", "x", "--timeout", "5s"},
		{"sub", "-t", "a", "--timeout", "5s"},
		{"clear-retained", "-t", "a", "--timeout", "5s"},
	}
	for _, cmd := range commands {
		for _, target := range []struct{ url, want, hint string }{
			{"mqtt://" + proxy, "answered like an HTTP server", "wrong port, or a proxy"},
			{"mqtt://" + tlsPort, "speaks TLS", "use mqtts://" + tlsPort},
		} {
			out, errOut, code := ectoolMQTT(t, append(cmd, "-b", target.url)...)
			if code != 1 || !strings.Contains(out+errOut, target.want) || !strings.Contains(out+errOut, target.hint) || strings.Contains(out+errOut, "Prop type") {
				t.Errorf("mqtt %s -b %s: exit %d\nstdout %s\nstderr %s", cmd[0], target.url, code, out, errOut)
			}
		}
	}
}
