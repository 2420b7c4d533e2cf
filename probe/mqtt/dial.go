package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ecdata/ectool/probe/netpath"
)

// DialInfo is what the network steps found on the way to the broker.
type DialInfo struct {
	Broker    Broker
	Addresses []string // what DNS returned (or the IP literal)
	Address   string   // the address the TCP connection was made to
	// TLS is the handshake's outcome (nil for mqtt:// and ws://).
	TLS *tls.ConnectionState
}

// DialBroker runs the network steps to the broker in o: DNS, TCP, TLS (for
// mqtts:// and wss://) and the WebSocket upgrade (ws://, wss://), each bounded
// by o.ConnectTimeout. A failure is a *StepError naming the step, in words.
// The returned connection carries raw MQTT bytes whatever the transport.
func DialBroker(ctx context.Context, o Options) (net.Conn, *DialInfo, error) {
	o = o.normalized()
	b, err := ParseBroker(o.Broker)
	if err != nil {
		return nil, nil, &StepError{Step: StepDNS, Message: "bad broker URL: " + err.Error(), Hint: "write the broker as mqtt://host:1883 or mqtts://host:8883", Err: err}
	}
	info := &DialInfo{Broker: b}
	var tlsConf *tls.Config
	if b.TLS() {
		if tlsConf, err = o.TLS.Config(b.Host); err != nil {
			return nil, info, &StepError{Step: StepTLS, Message: err.Error(), Hint: "check the --ca, --cert and --key files", Err: err}
		}
	}

	addrs, err := resolve(ctx, o, b)
	if err != nil {
		return nil, info, err
	}
	info.Addresses = addrs

	conn, addr, err := dialTCP(ctx, o, b, addrs)
	if err != nil {
		return nil, info, err
	}
	info.Address = addr

	if b.TLS() {
		if conn, err = handshake(ctx, conn, b, tlsConf, o.ConnectTimeout, info); err != nil {
			return nil, info, err
		}
	}

	if b.WebSocket() {
		ws, err := upgradeWebSocket(ctx, conn, b, o.ConnectTimeout)
		if err != nil {
			conn.Close()
			return nil, info, err
		}
		conn = ws
	}
	return conn, info, nil
}

func resolve(ctx context.Context, o Options, b Broker) ([]string, error) {
	if ip := net.ParseIP(b.Host); ip != nil {
		return []string{ip.String()}, nil
	}
	if o.Dial != nil {
		// An injected dialer resolves names itself.
		return []string{b.Host}, nil
	}
	dctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(dctx, b.Host)
	if err == nil && len(ips) == 0 {
		err = &net.DNSError{Err: "no addresses", Name: b.Host, IsNotFound: true}
	}
	if err != nil {
		return nil, dnsStepError(err, b.Host, o.ConnectTimeout)
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.IP.String())
	}
	return out, nil
}

// dialTCP tries each address in turn, sharing the step's timeout.
func dialTCP(ctx context.Context, o Options, b Broker, addrs []string) (net.Conn, string, error) {
	tctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	dial := o.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	var lastErr error
	var lastAddr string
	for i, a := range addrs {
		addr := net.JoinHostPort(a, fmt.Sprint(b.Port))
		deadline, _ := tctx.Deadline()
		actx, acancel := context.WithTimeout(tctx, time.Until(deadline)/time.Duration(len(addrs)-i))
		conn, err := dial(actx, "tcp", addr)
		acancel()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetNoDelay(true)
			}
			return conn, addr, nil
		}
		lastErr, lastAddr = err, addr
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastAddr, tcpStepError(lastErr, lastAddr, b, o.ConnectTimeout)
}

func upgradeWebSocket(ctx context.Context, conn net.Conn, b Broker, timeout time.Duration) (net.Conn, error) {
	scheme := "ws"
	if b.TLS() {
		scheme = "wss"
	}
	d := websocket.Dialer{
		NetDialContext:   func(context.Context, string, string) (net.Conn, error) { return conn, nil },
		Subprotocols:     []string{"mqtt"},
		HandshakeTimeout: timeout,
	}
	if b.TLS() {
		// The TLS handshake is done; hand the already-secured conn over as
		// if it were plain so the dialer does not wrap it again.
		d.NetDialTLSContext = func(context.Context, string, string) (net.Conn, error) { return conn, nil }
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := fmt.Sprintf("%s://%s%s", scheme, b.Addr(), b.Path)
	ws, resp, err := d.DialContext(wctx, u, http.Header{})
	if err != nil {
		msg := fmt.Sprintf("WebSocket upgrade at %s failed: %v", u, err)
		hint := "check the WebSocket path (often /mqtt) and that the port serves MQTT over WebSockets"
		if resp != nil {
			msg = fmt.Sprintf("WebSocket upgrade at %s refused with HTTP %s", u, resp.Status)
			if resp.StatusCode == http.StatusNotFound {
				hint = "the path is wrong: try /mqtt (or the path the broker's documentation gives)"
			}
		}
		if errors.Is(err, websocket.ErrBadHandshake) && resp == nil {
			hint = "the port answered, but not as a WebSocket server: is it a plain MQTT port? use mqtt:// or mqtts://"
		}
		if resp == nil && !errors.Is(err, websocket.ErrBadHandshake) {
			switch {
			case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
				msg = fmt.Sprintf("WebSocket upgrade at %s got no answer within %s", u, durText(timeout))
				hint = "the port accepts TCP but does not answer HTTP: is it a plain MQTT port (use mqtt://) or a TLS port (use wss://)?"
			case ctx.Err() != nil:
				msg = fmt.Sprintf("WebSocket upgrade at %s interrupted", u)
				hint = ""
			default:
				msg = fmt.Sprintf("WebSocket upgrade at %s failed: %s: this port does not speak WebSocket", u, lostWords(err))
				hint = "a plain MQTT port hangs up on an HTTP request: use mqtt:// for it, or the broker's WebSocket port (often 8080, 9001 or 443 with wss://)"
			}
		}
		return nil, &StepError{Step: StepConnect, Message: msg, Hint: hint, Err: err}
	}
	if ws.Subprotocol() != "mqtt" {
		ws.Close()
		return nil, &StepError{Step: StepConnect, Message: fmt.Sprintf("the WebSocket server at %s did not accept the \"mqtt\" subprotocol", u),
			Hint: "this WebSocket endpoint is not an MQTT broker: check the URL path"}
	}
	return newWSConn(ws), nil
}

// handshake runs the TLS step. With TLS 1.3 a broker judges our client
// certificate only after the handshake has completed on our side, and says
// so with an alert that would otherwise surface as a puzzling close after
// CONNECT. So when the broker asked for a certificate, wait about one more
// handshake time for that verdict before going on.
func handshake(ctx context.Context, conn net.Conn, b Broker, conf *tls.Config, timeout time.Duration, info *DialInfo) (net.Conn, error) {
	conf = conf.Clone()
	var asked atomic.Bool
	certs := conf.Certificates
	conf.Certificates = nil
	conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		asked.Store(true)
		if len(certs) > 0 {
			return &certs[0], nil
		}
		return &tls.Certificate{}, nil
	}
	counted := &netpath.CountingConn{Conn: conn}
	tc := tls.Client(counted, conf)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	start := time.Now()
	err := netpath.MarkNoServerHello(tc.HandshakeContext(hctx), counted)
	took := time.Since(start)
	cancel()
	if err != nil {
		conn.Close()
		return nil, tlsStepError(err, b, conf, timeout)
	}
	st := tc.ConnectionState()
	info.TLS = &st
	if !asked.Load() || st.Version != tls.VersionTLS13 {
		return tc, nil
	}
	wait := min(max(2*took, 100*time.Millisecond), timeout, 2*time.Second)
	_ = tc.SetReadDeadline(time.Now().Add(wait))
	var one [1]byte
	n, err := tc.Read(one[:])
	_ = tc.SetReadDeadline(time.Time{})
	var ne net.Error
	switch {
	case n > 0:
		return &prefixConn{Conn: tc, prefix: one[:n]}, nil
	case err == nil || (errors.As(err, &ne) && ne.Timeout()):
		return tc, nil
	}
	tc.Close()
	return nil, tlsStepError(err, b, conf, timeout)
}

// prefixConn replays bytes read ahead before reading on.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
