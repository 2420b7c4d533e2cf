package main

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
)

// Issue 6: every command that logs in to a broker names a server that is
// not one, instead of "CONNECT failed: invalid Prop type 46 for packet 4".
func TestEveryMQTTCommandNamesAServerThatIsNotABroker(t *testing.T) {
	proxy := testenv.ServeLoopback(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		_, _ = io.Copy(io.Discard, c)
	})
	tlsPort := testenv.ServeLoopbackTLS(t, func(c net.Conn) {
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
