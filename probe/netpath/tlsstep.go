package netpath

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// checkTLS is net.tls: the shared TLS step, then, when the server asked for
// our certificate over TLS 1.3, a short read for its verdict (a TLS 1.3
// server refuses a client certificate only after the client's side of the
// handshake is done).
func (r *run) checkTLS(ctx context.Context, conn net.Conn, ch *report.Check) {
	defer conn.Close()
	cfg, name := r.tlsConfig()
	if len(cfg.NextProtos) > 0 {
		ch.Evidence["alpn_offered"] = cfg.NextProtos
	}
	st, tc := StepTLS(ctx, conn, TLSCheckOptions{
		Config: cfg, ServerName: name, CAFile: r.o.CAFile, ServerNameGiven: r.o.ServerName != "",
		Insecure: r.o.Insecure, Pins: r.o.Pins, Timeout: r.o.Timeout, Now: r.o.Now(), Endpoint: r.endpoint,
	}, ch)
	if st.Err != nil {
		if st.ServerBytes == 0 && (errors.Is(st.Err, context.DeadlineExceeded) || errors.Is(st.Err, os.ErrDeadlineExceeded)) {
			ch.Evidence["stalled"] = "ClientHello sent, not a byte of the server's answer, while TCP had connected"
			r.tlsWait = &tlsStall{timeout: r.o.Timeout}
		}
		return
	}
	if _, chosen := ch.Evidence["alpn"]; len(cfg.NextProtos) > 0 && !chosen {
		ch.Evidence["alpn"] = "none (the server chose no protocol)"
	}
	if tc != nil && st.Requested && tc.ConnectionState().Version == tls.VersionTLS13 {
		if err := postHandshakeAlert(tc, st.Took, r.o.Timeout); err != nil {
			ch.Evidence["client_cert_accepted"] = false
			msg, hint := HandshakeWords(err, st, r.o.Timeout, r.endpoint)
			fail(ch, msg, hint)
			return
		}
	}
	switch {
	case st.Sent:
		ch.Evidence["client_cert_accepted"] = true
	case st.Requested:
		ch.Evidence["client_cert_accepted"] = fmt.Sprintf("not sent (the %s asked for one but does not require it)", r.endpoint.role())
	}
}

// postHandshakeAlert waits a little for the TLS alert a TLS 1.3 server sends
// when it refuses our certificate (or its absence): about two handshake
// times, at most 2 s. A server that says nothing took it.
func postHandshakeAlert(tc *tls.Conn, took, timeout time.Duration) error {
	wait := min(max(2*took, 100*time.Millisecond), timeout, 2*time.Second)
	_ = tc.SetReadDeadline(time.Now().Add(wait))
	var one [1]byte
	_, err := tc.Read(one[:])
	if AlertText(err) != "" {
		return err
	}
	return nil
}

// tlsStall is a handshake that got no byte back: with a path MTU black hole
// the server's first flight (its certificate chain) is what vanishes.
type tlsStall struct{ timeout time.Duration }

// judge rewords the stalled handshake once net.pmtu is known.
func (s *tlsStall) judge(ch, pmtuCheck *report.Check, pm pmtuOutcome) {
	if ch.Status != report.Failed {
		return
	}
	msg := fmt.Sprintf("the TLS handshake stalled: ClientHello sent, no byte of the server's answer within %s, though TCP connected", seconds(s.timeout))
	switch {
	case pmtuCheck != nil && pmtuCheck.Status == report.Failed:
		lo, _, _ := pm.gap()
		ch.Evidence["error"] = msg + ": the server's first flight (its certificate chain) is larger than the path carries"
		ch.Hint = fmt.Sprintf("net.pmtu found a path MTU black hole (packets above %d bytes vanish): %s", lo, pmtuCheck.Hint)
	default:
		ch.Evidence["error"] = msg
		ch.Hint = "a full-size packet from the server vanishing on the way (a path MTU black hole: see net.pmtu; it cannot tell when ICMP is filtered), a port that does not speak TLS, or a proxy holding the connection; if the certificate chain is large, clamping the TCP MSS on the gateway (nft: tcp flags syn tcp option maxseg size set 1360) is the usual cure"
	}
}
