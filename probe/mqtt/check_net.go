package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// redactURL hides a password written into the broker URL.
func redactURL(broker string) string {
	u, err := url.Parse(broker)
	if err != nil || u.User == nil {
		return broker
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// checkDNS resolves the broker host. An IP literal needs no lookup.
func (c *checker) checkDNS(ctx context.Context) ([]string, bool) {
	ch, start := c.begin(CheckDNS)
	defer c.add(ch, start)
	host := c.target.Host
	ch.Evidence["host"] = host
	if ip := net.ParseIP(host); ip != nil {
		ch.Evidence["addresses"] = []string{ip.String()}
		ch.Evidence["lookup"] = "not needed: the broker is an IP address"
		return []string{ip.String()}, true
	}
	sctx, cancel := c.stepCtx(ctx)
	defer cancel()
	t0 := time.Now()
	ips, err := net.DefaultResolver.LookupIPAddr(sctx, host)
	ch.Evidence["lookup_ms"] = report.Millis(time.Since(t0))
	if err == nil && len(ips) == 0 {
		err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	if err != nil {
		msg, hint := dnsWords(host, err, c.o.Timeout)
		fail(ch, msg, hint)
		return nil, false
	}
	addrs := make([]string, 0, len(ips))
	for _, ip := range ips {
		addrs = append(addrs, ip.IP.String())
	}
	ch.Evidence["addresses"] = addrs
	return addrs, true
}

func dnsWords(host string, err error, timeout time.Duration) (string, string) {
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		return fmt.Sprintf("no such host %q: the name does not exist in DNS", host),
			"check the spelling of the broker host; if it is an internal name, this network's DNS server may not know it"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &de) && de.IsTimeout):
		return fmt.Sprintf("DNS lookup of %q got no answer within %s", host, seconds(timeout)),
			"the DNS server does not answer: check the gateway's DNS settings (or the modem's), or use the broker's IP address to confirm"
	case errors.As(err, &de) && (strings.Contains(de.Err, "unreachable") || strings.Contains(de.Err, "refused")):
		server := "the DNS server"
		if de.Server != "" {
			server += " " + de.Server
		}
		return fmt.Sprintf("DNS lookup of %q failed: %s cannot be reached (%s)", host, server, de.Err),
			"this machine has no working path to its DNS server: check its network (default route, modem/APN) and DNS settings, or use the broker's IP address to confirm"
	case errors.As(err, &de) && de.IsTemporary:
		return fmt.Sprintf("DNS lookup of %q failed: %s (a temporary DNS server failure)", host, de.Err),
			"retry; if it persists, check the gateway's DNS servers"
	}
	return fmt.Sprintf("DNS lookup of %q failed: %v", host, err),
		"check the gateway's DNS settings, or use the broker's IP address to confirm"
}

// checkTCP connects to the resolved addresses in turn and returns the first
// connection. The step's timeout is shared between the addresses.
func (c *checker) checkTCP(ctx context.Context, addrs []string) (net.Conn, bool) {
	ch, start := c.begin(CheckTCP)
	defer c.add(ch, start)
	sctx, cancel := c.stepCtx(ctx)
	defer cancel()
	port := strconv.Itoa(c.target.Port)
	var attempts []map[string]any
	var lastErr error
	var lastAddr string
	for i, a := range addrs {
		addr := net.JoinHostPort(a, port)
		deadline, _ := sctx.Deadline()
		per := time.Until(deadline) / time.Duration(len(addrs)-i)
		actx, acancel := context.WithTimeout(sctx, per)
		t0 := time.Now()
		conn, err := c.dial(actx, addr)
		elapsed := time.Since(t0)
		acancel()
		if err == nil {
			ch.Evidence["address"] = addr
			ch.Evidence["local_address"] = conn.LocalAddr().String()
			ch.Evidence["connect_ms"] = report.Millis(elapsed)
			if len(attempts) > 0 {
				ch.Evidence["failed_attempts"] = attempts
			}
			return conn, true
		}
		kind, _ := dialKind(err)
		attempts = append(attempts, map[string]any{"address": addr, "result": kind, "error": err.Error(), "after_ms": report.Millis(elapsed)})
		lastErr, lastAddr = err, addr
	}
	ch.Evidence["attempts"] = attempts
	kind, words := dialKind(lastErr)
	ch.Evidence["result"] = kind
	fail(ch, fmt.Sprintf("TCP connection to %s %s", lastAddr, words), tcpHint(kind, c.target, c.o.Timeout))
	return nil, false
}

func (c *checker) dial(ctx context.Context, addr string) (net.Conn, error) {
	if c.o.Dial != nil {
		return c.o.Dial(ctx, "tcp", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// dialKind sorts a dial error (DialFailure) and words it for the message.
func dialKind(err error) (kind, words string) {
	kind = DialFailure(err)
	switch kind {
	case "refused":
		return kind, "refused: nothing listens on that port (the host answered with a reset)"
	case "no_route":
		return kind, "failed: no route to host (network or host unreachable)"
	case "timed_out":
		return kind, "timed out: no answer at all (packets dropped)"
	case "reset":
		return kind, "was reset by the peer"
	}
	return kind, "failed: " + err.Error()
}

func tcpHint(kind string, t Broker, timeout time.Duration) string {
	switch kind {
	case "refused":
		return fmt.Sprintf("the host is up but nothing listens on port %d: is the broker running, and is %d its %s port? (usual ports: mqtt 1883, mqtts 8883, ws 80/8080, wss 443/8084)", t.Port, t.Port, t.Scheme)
	case "no_route":
		return "this machine has no route to the broker: check the gateway's IP settings, default route and modem/APN, or the broker address"
	case "timed_out":
		return fmt.Sprintf("nothing answered within %s: a firewall drops the traffic, or the host is down or wrong; check that port %d is open from this network (raise --timeout on a slow link)", seconds(timeout), t.Port)
	}
	return "check the broker address and this machine's network"
}

// certSummary is one certificate of the chain, as evidence.
type certSummary struct {
	Subject      string   `json:"subject"`
	Issuer       string   `json:"issuer"`
	NotAfter     string   `json:"not_after"`
	DaysLeft     int      `json:"days_left"`
	Names        []string `json:"names,omitempty"`
	SelfSigned   bool     `json:"self_signed,omitempty"`
	IsCA         bool     `json:"is_ca,omitempty"`
	SerialNumber string   `json:"serial,omitempty"`
}

func summarize(cert *x509.Certificate, now time.Time) certSummary {
	names := append([]string{}, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	return certSummary{
		Subject:    cert.Subject.String(),
		Issuer:     cert.Issuer.String(),
		NotAfter:   report.FormatTime(cert.NotAfter),
		DaysLeft:   daysLeft(cert.NotAfter, now),
		Names:      names,
		SelfSigned: cert.Subject.String() == cert.Issuer.String(),
		IsCA:       cert.IsCA,
	}
}

// daysLeft rounds down: a certificate expiring in 20 hours has 0 days left,
// one expired 3 hours ago has -1.
// daysLeft counts whole days to notAfter: positive before it, negative
// after it (-1 once a full day has passed), 0 within a day either side.
func daysLeft(notAfter, now time.Time) int {
	return int(math.Trunc(notAfter.Sub(now).Hours() / 24))
}

// agoText is how long ago t was, in whole days ("less than a day" first).
func agoText(t, now time.Time) string {
	d := int(now.Sub(t).Hours() / 24)
	if d < 1 {
		return "less than a day ago"
	}
	return fmt.Sprintf("%d day(s) ago", d)
}

// expiryWarningDays: a server certificate expiring sooner is a warning.
const expiryWarningDays = 14

// tlsProbe is what the TLS handshake showed, kept for the CONNECT step.
type tlsProbe struct {
	requested  bool // the broker asked for a client certificate
	sent       bool // we sent one
	serverName string
}

// checkTLS runs a TLS handshake on conn to measure what the broker offers,
// verifies the chain itself (so the evidence holds the chain even when it
// is not trusted) and closes conn. The check is returned, not recorded:
// checkConnect may still learn that the broker rejected the client
// certificate.
func (c *checker) checkTLS(ctx context.Context, raw net.Conn) (*report.Check, time.Time) {
	ch, start := c.begin(CheckTLS)
	defer raw.Close()
	// Timed here: the check is recorded after CONNECT.
	defer func() { ch.DurationMS = report.Millis(time.Since(start)) }()
	o := c.o.TLS
	p := &tlsProbe{serverName: o.ServerName}
	if p.serverName == "" {
		p.serverName = c.target.Host
	}
	ch.Evidence["server_name"] = p.serverName
	c.tls = p

	cfg, err := o.Config(c.target.Host)
	if err != nil {
		msg, hint := Explain(err)
		fail(ch, msg, hint)
		return ch, start
	}
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
		p.requested = true
		if clientCert == nil {
			return &tls.Certificate{}, nil
		}
		p.sent = true
		return clientCert, nil
	}
	sctx, cancel := c.stepCtx(ctx)
	defer cancel()
	counted := &countingConn{Conn: raw}
	conn := tls.Client(counted, cfg)
	t0 := time.Now()
	err = markNoServerHello(conn.HandshakeContext(sctx), counted)
	ch.Evidence["handshake_ms"] = report.Millis(time.Since(t0))
	now := c.o.Now()
	if len(peers) > 0 {
		chain := make([]certSummary, 0, len(peers))
		for _, pc := range peers {
			chain = append(chain, summarize(pc, now))
		}
		ch.Evidence["chain"] = chain
		ch.Evidence["expires_in_days"] = daysLeft(peers[0].NotAfter, now)
		ch.Evidence["hostname_match"] = peers[0].VerifyHostname(p.serverName) == nil
	}
	ch.Evidence["client_cert_requested"] = p.requested
	ch.Evidence["client_cert_sent"] = p.sent
	if err != nil {
		msg, hint := tlsHandshakeWords(err, p, c.o.Timeout, c.target)
		fail(ch, msg, hint)
		return ch, start
	}
	st := conn.ConnectionState()
	ch.Evidence["version"] = tls.VersionName(st.Version)
	ch.Evidence["cipher"] = tls.CipherSuiteName(st.CipherSuite)
	if st.NegotiatedProtocol != "" {
		ch.Evidence["alpn"] = st.NegotiatedProtocol
	}
	if len(peers) == 0 {
		fail(ch, "the broker sent no certificate", "the broker's TLS listener is misconfigured")
		return ch, start
	}
	if o.Insecure {
		ch.Evidence["verified"] = false
		warn(ch, "--insecure: the broker's certificate was not verified; anyone in the path could impersonate the broker. Pass --ca with the broker's CA instead")
		return ch, start
	}
	inter := x509.NewCertPool()
	for _, pc := range peers[1:] {
		inter.AddCert(pc)
	}
	_, verr := peers[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, DNSName: p.serverName, CurrentTime: now,
	})
	if verr != nil {
		ch.Evidence["verified"] = false
		msg, hint := verifyWords(verr, peers[0], p.serverName, o.CAFile != "", c.o.TLS.ServerName != "", now)
		fail(ch, msg, hint)
		return ch, start
	}
	ch.Evidence["verified"] = true
	if d := daysLeft(peers[0].NotAfter, now); d < expiryWarningDays {
		warn(ch, fmt.Sprintf("the broker's certificate expires in %d day(s) (%s): renew it before devices lose the connection", d, report.FormatTime(peers[0].NotAfter)))
	}
	return ch, start
}

// verifyWords explains why the broker's chain is not trusted.
func verifyWords(err error, leaf *x509.Certificate, serverName string, haveCA, haveServerName bool, now time.Time) (string, string) {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		if now.After(leaf.NotAfter) {
			return fmt.Sprintf("the broker's certificate expired %s (not after %s)", agoText(leaf.NotAfter, now), report.FormatTime(leaf.NotAfter)),
				"the broker's certificate must be renewed; if it looks valid, check this device's clock (now " + report.FormatTime(now) + ")"
		}
		return fmt.Sprintf("the broker's certificate is not valid yet (not before %s)", report.FormatTime(leaf.NotBefore)),
			"check this device's clock (now " + report.FormatTime(now) + "): a gateway without NTP often starts in 1970"
	case errors.As(err, &he):
		names := summarize(leaf, now).Names
		hint := fmt.Sprintf("connect with a name the certificate holds (%s), or pass --servername NAME when the broker is reached by an IP address or an alias", strings.Join(names, ", "))
		if haveServerName {
			hint = fmt.Sprintf("--servername %s is not in the certificate either: use one of %s", serverName, strings.Join(names, ", "))
		}
		return fmt.Sprintf("hostname mismatch: the broker's certificate is for %s, not %q", strings.Join(names, ", "), serverName), hint
	case errors.As(err, &ua):
		msg := fmt.Sprintf("the broker's certificate is signed by an unknown authority (issuer %q)", leaf.Issuer.String())
		if leaf.Subject.String() == leaf.Issuer.String() {
			msg = fmt.Sprintf("the broker's certificate is self-signed (%q) and not trusted", leaf.Subject.String())
		}
		if haveCA {
			return msg, "the file given with --ca did not sign this certificate: get the right CA from the broker's operator"
		}
		return msg, "pass the CA that signed the broker's certificate with --ca FILE (the system roots were used)"
	}
	return "the broker's certificate is not trusted: " + err.Error(), "check the certificate chain with the broker's operator"
}

// tlsHandshakeWords explains a failed handshake (or a TLS alert received
// right after it).
func tlsHandshakeWords(err error, p *tlsProbe, timeout time.Duration, t Broker) (string, string) {
	alert := tlsAlertText(err)
	var rhe tls.RecordHeaderError
	var silent *noServerHello
	switch {
	case errors.As(err, &silent):
		return noServerHelloWords(t)
	case alert != "" && (strings.Contains(alert, "certificate required") ||
		(!p.sent && p.requested && (strings.Contains(alert, "handshake failure") || strings.Contains(alert, "bad certificate")))):
		return fmt.Sprintf("the broker requires a client certificate and none was sent (TLS alert: %s)", alert),
			"pass --cert and --key with a client certificate signed by a CA the broker trusts"
	case alert != "" && p.sent && (strings.Contains(alert, "bad certificate") || strings.Contains(alert, "unknown certificate authority") ||
		strings.Contains(alert, "certificate unknown") || strings.Contains(alert, "handshake failure") || strings.Contains(alert, "decrypt error")):
		return fmt.Sprintf("the broker rejected the client certificate (TLS alert: %s)", alert),
			"the client certificate is not signed by a CA the broker trusts, or it is expired or revoked: check --cert with the broker's operator"
	case alert != "" && strings.Contains(alert, "certificate expired"):
		return "the broker rejected the client certificate as expired (TLS alert: certificate expired)", "renew the client certificate (--cert)"
	case alert != "" && strings.Contains(alert, "protocol version"):
		return fmt.Sprintf("the broker does not speak the TLS version asked for (TLS alert: %s)", alert), "try --tls-min 1.2; an old broker may need TLS 1.2"
	case alert != "" && strings.Contains(alert, "no application protocol"):
		return fmt.Sprintf("the broker refused the ALPN protocol offered (TLS alert: %s)", alert), "check --alpn (AWS IoT on port 443 wants x-amzn-mqtt-ca)"
	case alert != "":
		return "the broker ended the TLS handshake: " + alert, "check the TLS settings (--servername, --tls-min, --alpn, client certificate) with the broker's operator"
	case errors.As(err, &rhe):
		if msg, hint, ok := httpInsteadOfTLS(rhe, t); ok {
			return msg, hint
		}
		return fmt.Sprintf("port %d does not speak TLS (its first bytes are not a TLS record)", t.Port),
			fmt.Sprintf("this port may be plain MQTT: try mqtt://%s (or find the broker's TLS port, usually 8883)", t.Addr())
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("no TLS answer within %s", seconds(timeout)),
			fmt.Sprintf("port %d accepts TCP but does not answer the TLS handshake: it may be a plain MQTT port (mqtt://), or a proxy holds the connection", t.Port)
	case errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "reset"):
		return "the broker closed the connection during the TLS handshake: " + err.Error(),
			"the broker may require a client certificate (--cert/--key), a specific server name (--servername) or a newer TLS version; see the broker's log"
	}
	return "TLS handshake failed: " + err.Error(), "check the TLS settings with the broker's operator"
}
