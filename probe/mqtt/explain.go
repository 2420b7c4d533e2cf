package mqtt

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
	"syscall"
	"time"

	"github.com/ecdata/ectool/probe/netpath"
)

// Explain turns any error from this package (or below it) into one line
// saying what failed and a hint saying what to do next.
func Explain(err error) (message, hint string) {
	if err == nil {
		return "", ""
	}
	var se *StepError
	if errors.As(err, &se) {
		msg := se.Message
		if msg == "" && se.Err != nil {
			msg = se.Err.Error()
		}
		hint := se.Hint
		if hint == "" && se.Err != nil {
			_, hint = Explain(se.Err)
		}
		return msg, hint
	}
	var re *ReasonError
	if errors.As(err, &re) {
		return re.Error(), ReasonHint(re.Version, re.Packet, re.Code)
	}
	var fe *TLSFileError
	if errors.As(err, &fe) {
		return fe.Error(), "check the file: it must be PEM, readable, and the key must belong to the certificate"
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return "timed out: " + err.Error(), "the broker did not answer in time: check the network path, or raise --timeout on a slow link"
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed):
		return "the connection to the broker was lost: " + lostWords(err), "the broker or a middlebox closed the connection: look at the broker's log for the reason"
	}
	return err.Error(), ""
}

// lostWords says how a connection ended, in words rather than Go's.
func lostWords(err error) string {
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "the broker closed the connection"
	case errors.Is(err, syscall.ECONNRESET):
		return "the connection was reset (the broker or a middlebox dropped it)"
	case errors.Is(err, syscall.EPIPE):
		return "the broker had already closed the connection"
	case errors.Is(err, net.ErrClosed):
		return "the connection was closed"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "the broker stopped answering (keep-alive)"
	}
	s := err.Error()
	switch {
	case strings.Contains(s, "connection reset"):
		return "the connection was reset (the broker or a middlebox dropped it)"
	case strings.Contains(s, "EOF"):
		return "the broker closed the connection"
	case strings.Contains(s, "broken pipe"):
		return "the broker had already closed the connection"
	case strings.Contains(s, "pingresp not received") || strings.Contains(s, "timeout"):
		return "the broker stopped answering (keep-alive)"
	}
	return s
}

func durText(d time.Duration) string { return d.Round(time.Millisecond).String() }

func dnsStepError(err error, host string, timeout time.Duration) *StepError {
	var de *net.DNSError
	se := &StepError{Step: StepDNS, Err: err}
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		se.Message = fmt.Sprintf("no such host %q: the name does not exist in DNS", host)
		se.Hint = "check the spelling of the broker host; an internal name may be unknown to this network's DNS server"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &de) && de.IsTimeout):
		se.Message = fmt.Sprintf("DNS lookup of %q got no answer within %s", host, durText(timeout))
		se.Hint = "the DNS server does not answer: check the gateway's (or modem's) DNS settings, or try the broker's IP address"
	default:
		// The check's wording: a DNS server out of reach, a temporary
		// failure, ...
		se.Message, se.Hint = netpath.DNSWords(host, "broker", err, timeout)
	}
	return se
}

// DialFailure sorts a TCP connect error: "refused", "timed_out",
// "no_route", "reset" or "error" (netpath.DialFailure, which probe net
// shares).
func DialFailure(err error) string { return netpath.DialFailure(err) }

func tcpStepError(err error, addr string, b Broker, timeout time.Duration) *StepError {
	se := &StepError{Step: StepTCP, Err: err}
	switch DialFailure(err) {
	case "refused":
		se.Message = fmt.Sprintf("connection to %s refused: nothing listens on port %d", addr, b.Port)
		se.Hint = fmt.Sprintf("the host is up but no broker listens on %d: is the broker running, and is %d its %s port? (usual: mqtt 1883, mqtts 8883, ws 80/8080, wss 443/8084)", b.Port, b.Port, b.Scheme)
	case "no_route":
		se.Message = fmt.Sprintf("no route to %s: the network or host is unreachable", addr)
		se.Hint = "this machine has no route to the broker: check its IP address, default route and modem/APN, or the broker address"
	case "timed_out":
		se.Message = fmt.Sprintf("connection to %s timed out after %s: no answer at all", addr, durText(timeout))
		se.Hint = fmt.Sprintf("a firewall drops the traffic, or the host is down or wrong: check that port %d is open from this network (raise --timeout on a slow link)", b.Port)
	case "reset":
		se.Message = fmt.Sprintf("connection to %s was reset", addr)
		se.Hint = "a firewall or the broker reset the connection: check the broker's log and any firewall in between"
	default:
		se.Message = fmt.Sprintf("connection to %s failed: %v", addr, err)
		se.Hint = "check the broker address and this machine's network"
	}
	return se
}

// tlsStepError words a failed TLS handshake (or a TLS alert the broker sent
// after it, as TLS 1.3 does when it refuses the client certificate).
func tlsStepError(err error, b Broker, conf *tls.Config, timeout time.Duration) *StepError {
	se := &StepError{Step: StepTLS, Err: err}
	name := b.Host
	if conf != nil && conf.ServerName != "" {
		name = conf.ServerName
	}
	var unknown x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var rec tls.RecordHeaderError
	var verr *tls.CertificateVerificationError
	var silent *netpath.NoServerHelloError
	switch {
	case errors.As(err, &silent):
		se.Message, se.Hint = netpath.NoServerHelloWords(b.endpoint())
	case errors.As(err, &unknown):
		issuer := ""
		if unknown.Cert != nil {
			issuer = unknown.Cert.Issuer.String()
		}
		se.Message = fmt.Sprintf("the broker's certificate is signed by an authority this machine does not trust (issuer %q)", issuer)
		if unknown.Cert != nil && !unknown.Cert.IsCA && unknown.Cert.Issuer.String() == unknown.Cert.Subject.String() {
			se.Message = fmt.Sprintf("the broker's certificate is self-signed (%q) and not trusted here", issuer)
		}
		se.Hint = "pass the CA that signed the broker's certificate with --ca FILE (ask the broker operator); --insecure only to test"
	case errors.As(err, &hostErr):
		names := append([]string{}, hostErr.Certificate.DNSNames...)
		for _, ip := range hostErr.Certificate.IPAddresses {
			names = append(names, ip.String())
		}
		se.Message = fmt.Sprintf("the broker's certificate is for %s, not for %q", strings.Join(names, ", "), name)
		if len(names) == 0 {
			se.Message = fmt.Sprintf("the broker's certificate (CN %q) names no host; it is not valid for %q", hostErr.Certificate.Subject.CommonName, name)
		}
		se.Hint = "connect with a name the certificate lists, or set --servername to it; if the name is right, the broker serves the wrong certificate"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		now := time.Now()
		c := invalid.Cert
		if c != nil && now.Before(c.NotBefore) {
			se.Message = fmt.Sprintf("the broker's certificate is not valid yet: valid from %s, this machine's clock says %s", c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
			se.Hint = "check this machine's clock (NTP) first; if it is right, the broker's certificate was issued with a future start date"
		} else {
			exp := ""
			if c != nil {
				exp = c.NotAfter.UTC().Format(time.RFC3339)
			}
			se.Message = fmt.Sprintf("the broker's certificate expired on %s (this machine's clock says %s)", exp, now.UTC().Format(time.RFC3339))
			se.Hint = "the broker operator must renew the certificate; if this machine's clock is wrong, fix NTP first"
		}
	case errors.As(err, &invalid):
		se.Message = "the broker's certificate is not acceptable: " + invalid.Error()
		se.Hint = "check the broker's certificate chain with the broker operator"
	case errors.As(err, &rec):
		if msg, hint, ok := netpath.HTTPInsteadOfTLS(rec, b.endpoint()); ok {
			se.Message, se.Hint = msg, hint
			break
		}
		se.Message = "the broker did not answer with TLS: this port speaks something else (plain MQTT?)"
		se.Hint = "use mqtt:// for a plain port, or the broker's TLS port (usually 8883) with mqtts://"
	case netpath.AlertText(err) != "":
		se.Message, se.Hint = netpath.AlertWords(netpath.AlertText(err), "broker")
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		se.Message = fmt.Sprintf("the TLS handshake got no answer within %s", durText(timeout))
		se.Hint = "the port accepts TCP but does not speak TLS (a plain MQTT port waits for CONNECT): use mqtt://, or the broker's TLS port"
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		se.Message = "the broker closed the connection during the TLS handshake: the port may not speak TLS (a plain MQTT port hangs up on a TLS hello), or it refused our TLS offer"
		se.Hint = "for a plain MQTT port use mqtt:// (TLS is usually on 8883); otherwise check --tls-min, --alpn and --servername against the broker's TLS settings"
	case strings.Contains(err.Error(), "unsupported protocol version") || strings.Contains(err.Error(), "protocol version"):
		se.Message = "no TLS version in common with the broker: " + err.Error()
		se.Hint = "the broker supports only older or newer TLS versions: try --tls-min 1.2; TLS 1.0/1.1 are not offered"
	case errors.As(err, &verr):
		se.Message = "the broker's certificate failed verification: " + verr.Err.Error()
		se.Hint = "check the broker's certificate chain and --ca"
	default:
		se.Message = "TLS handshake failed: " + err.Error()
		se.Hint = "check --ca, --servername and --tls-min against the broker's TLS settings"
	}
	return se
}

// UnprovenPublish says what a publish the broker took without a refusal
// still does not prove, or "" when its acknowledgement proves the broker
// accepted it (QoS 1 and 2 on MQTT 5).
func UnprovenPublish(v Version, qos byte) string {
	switch {
	case qos == 0:
		return "QoS 0 has no acknowledgement, so nothing shows the broker took the message(s): a broker whose ACL refuses a QoS 0 publish drops it without a word (mosquitto and the lab broker do, on MQTT 5 and 3.1.1); publish with -q 1 to have each message confirmed or refused"
	case v == V311:
		return "an MQTT 3.1.1 acknowledgement cannot carry a refusal: mosquitto acknowledges a publish its ACL refuses and drops it; publish with --mqtt-version 5 to have a refusal reported"
	}
	return ""
}
