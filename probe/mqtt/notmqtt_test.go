package mqtt_test

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/probe/mqtt"
)

// NotMQTTServers are the servers a technician reaches by mistake: a proxy
// answering every port with HTTP 400 at once (and holding the
// connection), an HTTP server that answers what it read, a server that
// sends a TLS alert, and a Go TLS server, which closes without a byte on a
// client that does not speak TLS.
type notMQTTServer struct {
	name       string
	url        string
	step       mqtt.Step
	msg, hint  string
	notInWords string
}

func notMQTTServers(t *testing.T) []notMQTTServer {
	t.Helper()
	atOnce := testenv.ServeLoopback(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		_, _ = io.Copy(io.Discard, c) // held open until the client goes
	})
	afterRead := testenv.ServeLoopback(t, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 512)
		if _, err := c.Read(buf); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n400 Bad Request")
	})
	alert := testenv.ServeLoopback(t, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 512)
		if _, err := c.Read(buf); err != nil {
			return
		}
		_, _ = c.Write([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46}) // fatal protocol_version
	})
	tlsServer := testenv.ServeLoopbackTLS(t, func(c net.Conn) {
		defer c.Close()
		_ = c.(*tls.Conn).Handshake()
	})
	return []notMQTTServer{
		{"proxy answering HTTP at once", "mqtt://" + atOnce, mqtt.StepConnect, "answered like an HTTP server", "wrong port, or a proxy", "Prop type"},
		{"HTTP server answering the CONNECT", "mqtt://" + afterRead, mqtt.StepConnect, "answered like an HTTP server", "wrong port, or a proxy", "Prop type"},
		{"TLS alert", "mqtt://" + alert, mqtt.StepConnect, "speaks TLS", "mqtts://" + alert, "broker's log"},
		{"Go TLS server through mqtt://", "mqtt://" + tlsServer, mqtt.StepConnect, "speaks TLS", "mqtts://" + tlsServer, "broker's log"},
		{"HTTP server through mqtts://", "mqtts://" + afterRead, mqtt.StepTLS, "like a plain HTTP server", "wrong port, or a proxy", "client certificate"},
	}
}

func TestServersThatAreNotMQTTBrokersAreNamed(t *testing.T) {
	for _, s := range notMQTTServers(t) {
		for _, v := range versions {
			t.Run(s.name+"/"+string(v), func(t *testing.T) {
				c, err := mqtt.Connect(ctxT(t, 20*time.Second), mqtt.Options{Broker: s.url, Version: v, ConnectTimeout: 5 * time.Second})
				if err == nil {
					_ = c.Abort()
					t.Fatal("connected")
				}
				msg, hint := mqtt.Explain(err)
				if mqtt.StepOf(err) != s.step || !strings.Contains(msg, s.msg) || !strings.Contains(hint, s.hint) ||
					strings.Contains(msg+hint, s.notInWords) {
					t.Fatalf("step %q: %s\nhint: %s\nwant step %q, %q in the message and %q in the hint, no %q", mqtt.StepOf(err), msg, hint, s.step, s.msg, s.hint, s.notInWords)
				}
			})
		}
	}
}

// Issue 6: mqtts:// to mosquitto's plain listener, which hangs up on the
// ClientHello: the words are about the port not speaking TLS, not about
// client certificates or SNI.
func TestTLSToAPlainPortSuggestsMQTT(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	url := "mqtts://" + b.Addr()
	_, err := mqtt.Connect(ctxT(t, 10*time.Second), mqtt.Options{Broker: url, ConnectTimeout: 3 * time.Second})
	msg, hint := mqtt.Explain(err)
	if mqtt.StepOf(err) != mqtt.StepTLS || !strings.Contains(msg, "may not speak TLS") || !strings.Contains(hint, "mqtt://"+b.Addr()) ||
		strings.Contains(hint, "client certificate") {
		t.Errorf("Connect: step %q: %s\nhint: %s", mqtt.StepOf(err), msg, hint)
	}
	r := runCheck(t, mqtt.CheckOptions{Options: mqtt.Options{Broker: url}})
	c := check(t, r, mqtt.CheckTLS)
	if c.Status != "failed" || !strings.Contains(c.Hint, "mqtt://"+b.Addr()) || strings.Contains(c.Hint, "client certificate") {
		t.Errorf("mqtt.tls %s: %v, hint %q", c.Status, c.Evidence, c.Hint)
	}
	mentions(t, c, "may not speak TLS")
}

func TestCheckNamesAServerThatIsNotMQTT(t *testing.T) {
	for _, s := range notMQTTServers(t) {
		t.Run(s.name, func(t *testing.T) {
			r := runCheck(t, mqtt.CheckOptions{Options: mqtt.Options{Broker: s.url}})
			c := check(t, r, "mqtt."+string(s.step))
			if c.Status != "failed" || !strings.Contains(c.Hint, s.hint) {
				t.Errorf("%s %s: %v, hint %q", c.ID, c.Status, c.Evidence, c.Hint)
			}
			mentions(t, c, s.msg)
		})
	}
}
