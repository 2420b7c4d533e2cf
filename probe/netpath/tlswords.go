package netpath

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// HandshakeState is what a TLS handshake showed about client certificates,
// kept for the words of a later failure (a TLS 1.3 server refuses a client
// certificate only after the client's side of the handshake is done).
type HandshakeState struct {
	Requested  bool // the server asked for a client certificate
	Sent       bool // we sent one
	ServerName string
	// Err is the handshake's error (nil when it completed); ServerBytes
	// what the server had sent by then (0: not a byte, a stall).
	Err         error
	ServerBytes int64
	Took        time.Duration
}

// VerifyWords explains why a server's chain is not trusted. haveCA says the
// roots came from --ca, haveServerName that --servername was given.
func VerifyWords(err error, leaf *x509.Certificate, serverName, role string, haveCA, haveServerName bool, now time.Time) (string, string) {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		if now.After(leaf.NotAfter) {
			return fmt.Sprintf("the %s's certificate expired %s (not after %s)", role, agoText(leaf.NotAfter, now), report.FormatTime(leaf.NotAfter)),
				fmt.Sprintf("the %s's certificate must be renewed; if it looks valid, check this device's clock (now %s)", role, report.FormatTime(now))
		}
		return fmt.Sprintf("the %s's certificate is not valid yet (not before %s)", role, report.FormatTime(leaf.NotBefore)),
			"check this device's clock (now " + report.FormatTime(now) + "): a gateway without NTP often starts in 1970"
	case errors.As(err, &he):
		names := Summarize(leaf, now).Names
		hint := fmt.Sprintf("connect with a name the certificate holds (%s), or pass --servername NAME when the %s is reached by an IP address or an alias", strings.Join(names, ", "), role)
		if haveServerName {
			hint = fmt.Sprintf("--servername %s is not in the certificate either: use one of %s", serverName, strings.Join(names, ", "))
		}
		return fmt.Sprintf("hostname mismatch: the %s's certificate is for %s, not %q", role, strings.Join(names, ", "), serverName), hint
	case errors.As(err, &ua):
		msg := fmt.Sprintf("the %s's certificate is signed by an unknown authority (issuer %q)", role, leaf.Issuer.String())
		if leaf.Subject.String() == leaf.Issuer.String() {
			msg = fmt.Sprintf("the %s's certificate is self-signed (%q) and not trusted", role, leaf.Subject.String())
		}
		if haveCA {
			return msg, fmt.Sprintf("the file given with --ca did not sign this certificate: get the right CA from the %s's operator", role)
		}
		return msg, fmt.Sprintf("pass the CA that signed the %s's certificate with --ca FILE (the system roots were used)", role)
	}
	return fmt.Sprintf("the %s's certificate is not trusted: %v", role, err), fmt.Sprintf("check the certificate chain with the %s's operator", role)
}

// HandshakeWords explains a failed handshake (or a TLS alert received right
// after it) with e, whose client-certificate exchange p recorded.
func HandshakeWords(err error, p *HandshakeState, timeout time.Duration, e Endpoint) (string, string) {
	alert := AlertText(err)
	role := e.role()
	var rhe tls.RecordHeaderError
	var silent *NoServerHelloError
	if p == nil {
		p = &HandshakeState{}
	}
	switch {
	case errors.As(err, &silent):
		return NoServerHelloWords(e)
	case alert != "" && (strings.Contains(alert, "certificate required") ||
		(!p.Sent && p.Requested && (strings.Contains(alert, "handshake failure") || strings.Contains(alert, "bad certificate")))):
		return fmt.Sprintf("the %s requires a client certificate and none was sent (TLS alert: %s)", role, alert),
			fmt.Sprintf("pass --cert and --key with a client certificate signed by a CA the %s trusts", role)
	case alert != "" && p.Sent && (strings.Contains(alert, "bad certificate") || strings.Contains(alert, "unknown certificate authority") ||
		strings.Contains(alert, "certificate unknown") || strings.Contains(alert, "handshake failure") || strings.Contains(alert, "decrypt error")):
		return fmt.Sprintf("the %s rejected the client certificate (TLS alert: %s)", role, alert),
			fmt.Sprintf("the client certificate is not signed by a CA the %s trusts, or it is expired or revoked: check --cert with the %s's operator", role, role)
	case alert != "" && strings.Contains(alert, "certificate expired"):
		return fmt.Sprintf("the %s rejected the client certificate as expired (TLS alert: certificate expired)", role), "renew the client certificate (--cert)"
	case alert != "" && strings.Contains(alert, "protocol version"):
		return fmt.Sprintf("the %s does not speak the TLS version asked for (TLS alert: %s)", role, alert), fmt.Sprintf("try --tls-min 1.2; an old %s may need TLS 1.2", role)
	case alert != "" && strings.Contains(alert, "no application protocol"):
		return fmt.Sprintf("the %s refused the ALPN protocol offered (TLS alert: %s)", role, alert), "check --alpn (AWS IoT on port 443 wants x-amzn-mqtt-ca)"
	case alert != "":
		return fmt.Sprintf("the %s ended the TLS handshake: %s", role, alert), fmt.Sprintf("check the TLS settings (--servername, --tls-min, --alpn, client certificate) with the %s's operator", role)
	case errors.As(err, &rhe):
		if msg, hint, ok := HTTPInsteadOfTLS(rhe, e); ok {
			return msg, hint
		}
		if !e.isBroker() {
			return fmt.Sprintf("port %d does not speak TLS (its first bytes are not a TLS record)", e.Port),
				fmt.Sprintf("check the port: %s may be the service's plain port; its TLS port is often 443 or 8443 (8883 for MQTT)", e.Addr())
		}
		return fmt.Sprintf("port %d does not speak TLS (its first bytes are not a TLS record)", e.Port),
			fmt.Sprintf("this port may be plain MQTT: try mqtt://%s (or find the broker's TLS port, usually 8883)", e.Addr())
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		plain := "it may be a plain MQTT port (mqtt://), or a proxy holds the connection"
		if !e.isBroker() {
			plain = "it may be a plain port, or a proxy holds the connection"
		}
		return fmt.Sprintf("no TLS answer within %s", seconds(timeout)),
			fmt.Sprintf("port %d accepts TCP but does not answer the TLS handshake: %s", e.Port, plain)
	case errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "reset"):
		return fmt.Sprintf("the %s closed the connection during the TLS handshake: %v", role, err),
			fmt.Sprintf("the %s may require a client certificate (--cert/--key), a specific server name (--servername) or a newer TLS version; see the %s's log", role, role)
	}
	return "TLS handshake failed: " + err.Error(), fmt.Sprintf("check the TLS settings with the %s's operator", role)
}

// AlertText is the text of a TLS alert the peer sent ("bad certificate"),
// or "".
func AlertText(err error) string {
	if err == nil {
		return ""
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" && oe.Err != nil {
		return strings.TrimPrefix(oe.Err.Error(), "tls: ")
	}
	if i := strings.Index(err.Error(), "remote error: tls: "); i >= 0 {
		return err.Error()[i+len("remote error: tls: "):]
	}
	return ""
}

// AlertWords words a TLS alert the peer (a role: "broker", "server") sent.
func AlertWords(alert, role string) (string, string) {
	switch alert {
	case "certificate required":
		return fmt.Sprintf("the %s requires a client certificate", role), "pass the device's certificate and key with --cert and --key"
	// Go's crypto/tls names alerts "expired certificate", "revoked
	// certificate", "unknown certificate"; the RFC names are accepted too.
	case "bad certificate", "unknown certificate authority", "unknown certificate", "certificate unknown", "unsupported certificate", "decrypt error":
		return fmt.Sprintf("the %s rejected our client certificate (TLS alert %q)", role, alert),
			fmt.Sprintf("the %s does not trust the CA that signed --cert, or the certificate is not a client certificate: check it with the %s operator", role, role)
	case "expired certificate", "certificate expired":
		return fmt.Sprintf("the %s says our client certificate (--cert) has expired (or is not valid yet)", role),
			fmt.Sprintf("renew the device's client certificate; its dates: openssl x509 -noout -dates -in CERT; if they look right, check this machine's and the %s's clocks", role)
	case "revoked certificate", "certificate revoked":
		return fmt.Sprintf("the %s says our client certificate (--cert) is revoked", role), "issue the device a new client certificate"
	case "protocol version not supported":
		return fmt.Sprintf("the %s does not support the TLS version offered", role), fmt.Sprintf("lower --tls-min to 1.2, or check the %s's tls_version setting", role)
	case "handshake failure":
		return fmt.Sprintf("the %s aborted the TLS handshake (handshake failure)", role),
			fmt.Sprintf("often a client certificate the %s requires but did not get (pass --cert/--key), or no cipher in common", role)
	case "no application protocol":
		return fmt.Sprintf("the %s accepts none of the ALPN protocols offered", role), "change or drop --alpn"
	case "unrecognized name":
		return fmt.Sprintf("the %s does not know the server name (SNI) sent", role), fmt.Sprintf("set --servername to the %s's configured name", role)
	}
	return fmt.Sprintf("the %s sent TLS alert %q", role, alert), fmt.Sprintf("check the TLS settings against the %s's", role)
}

// CountingConn counts the bytes the peer sent (during a TLS handshake: did
// the server answer at all?).
type CountingConn struct {
	net.Conn
	n atomic.Int64
}

// Read reads and counts.
func (c *CountingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Received is the number of bytes read so far.
func (c *CountingConn) Received() int64 { return c.n.Load() }

// NoServerHelloError marks a TLS handshake the server ended by closing the
// connection without sending a byte: plain ports (an MQTT listener) hang up
// on a ClientHello like this, while a TLS server refusing something says so
// with an alert.
type NoServerHelloError struct{ Err error }

func (e *NoServerHelloError) Error() string { return e.Err.Error() }
func (e *NoServerHelloError) Unwrap() error { return e.Err }

// MarkNoServerHello wraps err in a *NoServerHelloError when the server sent
// nothing over c before closing.
func MarkNoServerHello(err error, c *CountingConn) error {
	if err != nil && c.Received() == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
		return &NoServerHelloError{Err: err}
	}
	return err
}

// NoServerHelloWords words that handshake.
func NoServerHelloWords(e Endpoint) (string, string) {
	if !e.isBroker() {
		return fmt.Sprintf("port %d closed the connection right after the TLS ClientHello, without a byte of TLS: this port may not speak TLS", e.Port),
			"check the port (TLS is often on 443 or 8443); a TLS proxy routing by server name also hangs up on a name it does not serve: check --servername"
	}
	return fmt.Sprintf("port %d closed the connection right after the TLS ClientHello, without a byte of TLS: this port may not speak TLS (a plain MQTT port hangs up like this)", e.Port),
		fmt.Sprintf("try mqtt://%s, or the broker's TLS port (usually 8883); a TLS proxy routing by server name also hangs up on a name it does not serve: check --servername", e.Addr())
}

// HTTPInsteadOfTLS words a TLS handshake answered with HTTP.
func HTTPInsteadOfTLS(rec tls.RecordHeaderError, e Endpoint) (string, string, bool) {
	if string(rec.RecordHeader[:]) != "HTTP/" {
		return "", "", false
	}
	hint := "wrong port, or a proxy in the way: a broker's mqtts:// port is usually 8883; for MQTT over WebSockets use ws:// or wss:// with its path"
	if !e.isBroker() {
		hint = "this is a plain HTTP port: use http://, or the server's TLS port (usually 443)"
	}
	return fmt.Sprintf("port %d answered the TLS handshake like a plain HTTP server, not TLS", e.Port), hint, true
}
