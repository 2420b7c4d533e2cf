package netpath

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// TLSCheckOptions configure StepTLS.
type TLSCheckOptions struct {
	// Config is the client configuration (roots, client certificate, ALPN,
	// minimum version); StepTLS works on a clone.
	Config *tls.Config
	// ServerName is the name sent (SNI) and verified.
	ServerName string
	// CAFile names the trust in the evidence; "" means the system roots.
	CAFile string
	// ServerNameGiven says --servername was given (the words differ).
	ServerNameGiven bool
	// Insecure skips verification (--insecure): a warning, unless a pin
	// matches, which then is the trust.
	Insecure bool
	// Pins (sha256//BASE64): when set, the step fails unless a certificate
	// of the chain has one of them.
	Pins []string
	// Timeout bounds the handshake.
	Timeout time.Duration
	// Now is the time certificates are judged at.
	Now time.Time
	// Endpoint is the far end, for the words.
	Endpoint Endpoint
}

// StepTLS runs a TLS handshake on raw to measure what the server offers,
// verifies the chain itself (so the evidence holds the chain even when it
// is not trusted), compares pins, fills ch (status, evidence, hint) and
// returns the handshake's client-certificate exchange. It does not close
// raw; the returned connection (nil when the handshake failed) is the TLS
// one, for a caller that reads on (a TLS 1.3 server refuses a client
// certificate after the handshake).
func StepTLS(ctx context.Context, raw net.Conn, o TLSCheckOptions, ch *report.Check) (*HandshakeState, *tls.Conn) {
	if ch.Evidence == nil {
		ch.Evidence = map[string]any{}
	}
	role := o.Endpoint.role()
	p := &HandshakeState{ServerName: o.ServerName}
	ch.Evidence["server_name"] = p.ServerName
	cfg := o.Config.Clone()
	cfg.ServerName = o.ServerName
	roots := cfg.RootCAs
	if o.CAFile != "" {
		ch.Evidence["trust"] = "--ca " + o.CAFile
	} else {
		ch.Evidence["trust"] = "system roots"
	}
	var clientCert *tls.Certificate
	if len(cfg.Certificates) > 0 {
		clientCert = &cfg.Certificates[0]
	}
	cfg.Certificates = nil
	var peers []*x509.Certificate
	// Verified below, by hand, so that an untrusted or expired chain is
	// still shown in the evidence.
	cfg.InsecureSkipVerify = true //nolint:gosec // verified by hand below
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		peers = cs.PeerCertificates
		return nil
	}
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		p.Requested = true
		if clientCert == nil {
			return &tls.Certificate{}, nil
		}
		p.Sent = true
		return clientCert, nil
	}
	sctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	counted := &CountingConn{Conn: raw}
	conn := tls.Client(counted, cfg)
	t0 := time.Now()
	err := MarkNoServerHello(conn.HandshakeContext(sctx), counted)
	p.Err, p.ServerBytes, p.Took = err, counted.Received(), time.Since(t0)
	ch.Evidence["handshake_ms"] = report.Millis(p.Took)
	now := o.Now
	if len(peers) > 0 {
		chain := make([]CertSummary, 0, len(peers))
		for _, pc := range peers {
			chain = append(chain, Summarize(pc, now))
		}
		ch.Evidence["chain"] = chain
		ch.Evidence["expires_in_days"] = DaysLeft(peers[0].NotAfter, now)
		ch.Evidence["hostname_match"] = peers[0].VerifyHostname(p.ServerName) == nil
	}
	ch.Evidence["client_cert_requested"] = p.Requested
	ch.Evidence["client_cert_sent"] = p.Sent
	if err != nil {
		ch.Evidence["server_bytes"] = counted.Received()
		msg, hint := HandshakeWords(err, p, o.Timeout, o.Endpoint)
		fail(ch, msg, hint)
		return p, nil
	}
	st := conn.ConnectionState()
	ch.Evidence["version"] = tls.VersionName(st.Version)
	ch.Evidence["cipher"] = tls.CipherSuiteName(st.CipherSuite)
	if st.NegotiatedProtocol != "" {
		ch.Evidence["alpn"] = st.NegotiatedProtocol
	}
	if len(peers) == 0 {
		fail(ch, fmt.Sprintf("the %s sent no certificate", role), fmt.Sprintf("the %s's TLS listener is misconfigured", role))
		return p, conn
	}
	inter := x509.NewCertPool()
	for _, pc := range peers[1:] {
		inter.AddCert(pc)
	}
	chains, verr := peers[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, DNSName: p.ServerName, CurrentTime: now,
	})
	pins, pinned := checkPins(ch, o.Pins, peers, chains)
	switch {
	case o.Insecure && pinned:
		ch.Evidence["verified"] = false
		ch.Evidence["trust"] = "--pin (--insecure: the chain was not verified)"
	case o.Insecure:
		ch.Evidence["verified"] = false
		warn(ch, fmt.Sprintf("--insecure: the %s's certificate was not verified; anyone in the path could impersonate the %s. Pass --ca with the %s's CA instead", role, role, role))
		if len(o.Pins) == 0 {
			return p, conn
		}
	case verr != nil:
		ch.Evidence["verified"] = false
		msg, hint := VerifyWords(verr, peers[0], p.ServerName, role, o.CAFile != "", o.ServerNameGiven, now)
		fail(ch, msg, hint)
		return p, conn
	default:
		ch.Evidence["verified"] = true
	}
	if len(o.Pins) > 0 && !pinned {
		msg, hint := pinWords(role, o.Pins, pins)
		fail(ch, msg, hint)
		return p, conn
	}
	if d := DaysLeft(peers[0].NotAfter, now); d < ExpiryWarningDays {
		warn(ch, fmt.Sprintf("the %s's certificate expires in %d day(s) (%s): renew it before devices lose the connection", role, d, report.FormatTime(peers[0].NotAfter)))
	}
	return p, conn
}

// PinEntry is one certificate's pin in the evidence.
type PinEntry struct {
	Pin     string `json:"pin"`
	Subject string `json:"subject"`
	// Presented is false for a CA the server did not send, found in the
	// trusted roots while verifying the chain.
	Presented bool `json:"presented"`
}

// checkPins puts the chain's pins in the evidence (those presented, then
// those of the verified chain's CAs the server did not send) and reports
// whether one of want matches. Without want it still lists the pins: a
// technician copies the one to pin from there.
func checkPins(ch *report.Check, want []string, peers []*x509.Certificate, chains [][]*x509.Certificate) ([]PinEntry, bool) {
	var pins []PinEntry
	seen := map[string]bool{}
	add := func(c *x509.Certificate, presented bool) {
		p := Pin(c)
		if seen[p] {
			return
		}
		seen[p] = true
		pins = append(pins, PinEntry{Pin: p, Subject: c.Subject.String(), Presented: presented})
	}
	for _, c := range peers {
		add(c, true)
	}
	if len(chains) > 0 {
		for _, c := range chains[0] {
			add(c, false)
		}
	}
	ch.Evidence["pins"] = pins
	if len(want) == 0 {
		return pins, false
	}
	ch.Evidence["pins_expected"] = want
	for _, w := range want {
		if seen[w] {
			ch.Evidence["pin_matched"] = w
			return pins, true
		}
	}
	ch.Evidence["pin_matched"] = false
	return pins, false
}

func pinWords(role string, want []string, pins []PinEntry) (string, string) {
	var now []string
	for _, p := range pins {
		if p.Presented {
			now = append(now, p.Pin+" ("+p.Subject+")")
		}
	}
	for _, p := range pins {
		if !p.Presented {
			now = append(now, p.Pin+" ("+p.Subject+", the CA that signed the chain)")
		}
	}
	return fmt.Sprintf("no certificate of the %s's chain matches --pin %s: the chain has %s", role, strings.Join(want, ", "), strings.Join(now, ", ")),
		fmt.Sprintf("the %s's certificate (or its key) changed: if the change is expected (a renewal with a new key, a new CA), update the pin on the devices to one of the pins above; if not, someone in the path may be impersonating the %s", role, role)
}

func rsaBits(c *x509.Certificate) int {
	if k, ok := c.PublicKey.(*rsa.PublicKey); ok {
		return k.N.BitLen()
	}
	return 0
}

// fail marks a check failed with a message (in the evidence) and a hint.
func fail(ch *report.Check, message, hint string) {
	ch.Status = report.Failed
	ch.Evidence["error"] = message
	ch.Hint = hint
}

// warn marks a check as warning with a hint.
func warn(ch *report.Check, hint string) {
	if ch.Status == report.OK || ch.Status == "" {
		ch.Status = report.Warning
	}
	if ch.Hint == "" {
		ch.Hint = hint
	} else {
		ch.Hint += "; " + hint
	}
}
