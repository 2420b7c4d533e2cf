package mqtt

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ecdata/ectool/probe/netpath"
)

// The first bytes a broker sends are a CONNACK (0x20), or an AUTH (0xF0)
// with MQTT 5 enhanced authentication. Anything else is some other server
// (an HTTP server, a proxy answering every port, a TLS port spoken to in
// plain), and paho's decoding of it ("invalid Prop type 46 for packet 4")
// tells a technician nothing. bufConn looks at those bytes before either
// library decodes them and ends the connection with a notMQTTError.

// notMQTTError is what reading returns when the server's first bytes are
// not MQTT.
type notMQTTError struct{ first []byte }

func (e *notMQTTError) Error() string {
	return fmt.Sprintf("the server's first bytes are not MQTT: % X", e.first)
}

// sniffFirst waits for the server's first byte and returns what it sent
// (up to 64 bytes, at least 5 when it sends that many) when that is not
// the start of an MQTT answer; nil when it is, or when the connection
// ended first (the caller reads on and reports that).
func sniffFirst(r *bufio.Reader) []byte {
	p, err := r.Peek(1)
	if err != nil {
		return nil
	}
	switch p[0] {
	case 0x20, 0xF0, 0xE0: // CONNACK, AUTH, DISCONNECT (paho words it)
		return nil
	}
	n := min(max(r.Buffered(), 5), 64)
	p, _ = r.Peek(n) // fewer when the server sent less before closing
	return append([]byte(nil), p...)
}

// notMQTTStepError words what answered instead of a broker.
func notMQTTStepError(first []byte, b Broker) *StepError {
	msg, hint := notMQTTWords(first, b)
	return &StepError{Step: StepConnect, Message: msg, Hint: hint, Err: &notMQTTError{first: first}}
}

func notMQTTWords(first []byte, b Broker) (string, string) {
	port := b.Port
	wrongPort := "wrong port, or a proxy in the way: a broker's MQTT port is usually 1883 (mqtts:// 8883)"
	switch {
	case len(first) >= 5 && string(first[:5]) == "HTTP/":
		hint := wrongPort + fmt.Sprintf("; if this is the broker's WebSocket port, use ws://%s/mqtt", b.Addr())
		if b.TLS() {
			hint = wrongPort + fmt.Sprintf("; if this is the broker's WebSocket port, use wss://%s/mqtt", b.Addr())
		}
		return fmt.Sprintf("port %d answered like an HTTP server, not MQTT (%q)", port, firstLine(first)), hint
	case isTLSRecord(first):
		what := "a TLS record"
		if first[0] == 0x15 {
			what = "a TLS alert"
		}
		return fmt.Sprintf("port %d answered with %s, not MQTT: this port speaks TLS", port, what),
			fmt.Sprintf("use mqtts://%s (with --ca for a private CA)", b.Addr())
	case isText(first):
		return fmt.Sprintf("port %d answered %q, which is not MQTT: another service listens there", port, firstLine(first)), wrongPort
	}
	return fmt.Sprintf("port %d answered bytes that are not MQTT (% X)", port, first), wrongPort
}

// isTLSRecord: a handshake (0x16) or alert (0x15) record of TLS 1.0 to 1.3.
func isTLSRecord(p []byte) bool {
	return len(p) >= 3 && (p[0] == 0x15 || p[0] == 0x16) && p[1] == 0x03 && p[2] <= 0x04
}

func isText(p []byte) bool {
	if len(p) < 3 {
		return false
	}
	for _, c := range p {
		if (c < 0x20 || c > 0x7E) && c != '\r' && c != '\n' && c != '\t' {
			return false
		}
	}
	return true
}

// firstLine is the first line of p, at most 60 characters.
func firstLine(p []byte) string {
	s := string(p)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

// silentClose marks a CONNECT the server answered by closing the
// connection without sending a byte.
type silentClose struct{ err error }

func (e *silentClose) Error() string { return e.err.Error() }
func (e *silentClose) Unwrap() error { return e.err }

// tlsPortProbe runs after a plain mqtt:// port closed on CONNECT without a
// byte, as a TLS port does (Go's and OpenSSL's servers send no alert to a
// client that does not speak TLS): a TLS handshake on a second connection
// tells whether the port speaks TLS. It returns the reworded error then,
// else err.
func tlsPortProbe(ctx context.Context, err error, o Options, info *DialInfo) error {
	var sc *silentClose
	if info == nil || info.Address == "" || info.Broker.TLS() || info.Broker.WebSocket() || !errors.As(err, &sc) {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, min(o.ConnectTimeout, 5*time.Second))
	defer cancel()
	dial := o.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	raw, derr := dial(pctx, "tcp", info.Address)
	if derr != nil {
		return err
	}
	defer raw.Close()
	tc := tls.Client(raw, &tls.Config{ServerName: info.Broker.Host, InsecureSkipVerify: true}) //nolint:gosec // only asks whether the port speaks TLS
	herr := tc.HandshakeContext(pctx)
	if herr != nil && netpath.AlertText(herr) == "" {
		return err // no TLS server there: the close stays unexplained
	}
	b := info.Broker
	return &StepError{Step: StepConnect,
		Message: fmt.Sprintf("port %d closed the connection on MQTT CONNECT, and it answers a TLS handshake: this port speaks TLS", b.Port),
		Hint:    fmt.Sprintf("use mqtts://%s (with --ca for a private CA)", b.Addr()), Err: err}
}
