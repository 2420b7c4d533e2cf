package mqtt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/netpath"
)

// checkConnect logs in with mqtt.Connect. Connect dials again (the TLS
// probe's connection is closed): its budget is one step timeout plus what
// DNS, TCP and TLS took just before, so a slow link is not blamed on
// CONNECT. When the broker turns out to reject the client certificate (a
// TLS alert on the first read), tlsCheck is marked failed instead.
func (c *checker) checkConnect(ctx context.Context, tlsCheck *report.Check) (*report.Check, time.Time, Client) {
	ch, start := c.begin(CheckConnect)
	ch.Evidence["version"] = string(c.o.Version)
	ch.Evidence["client_id"] = c.o.ClientID
	if c.o.Username != "" {
		ch.Evidence["username"] = c.o.Username
	}
	cctx, cancel := context.WithTimeout(ctx, c.o.Timeout+c.netTime)
	defer cancel()
	t0 := time.Now()
	cl, err := Connect(cctx, c.o.Options)
	ch.Evidence["connect_ms"] = report.Millis(time.Since(t0))
	if c.o.Version == VAuto {
		versionEvidence(ch.Evidence, cl, err)
	}
	if err != nil {
		if tlsCheck != nil && (StepOf(err) == StepTLS || netpath.AlertText(err) != "") {
			msg, hint := netpath.HandshakeWords(err, c.tls, c.o.Timeout, c.target.endpoint())
			if se := (*StepError)(nil); errors.As(err, &se) && netpath.AlertText(err) == "" && se.Message != "" {
				msg, hint = se.Message, se.Hint
			}
			tlsCheck.Evidence["client_cert_accepted"] = false
			fail(tlsCheck, msg, hint)
			return ch, start, nil
		}
		msg, hint := c.connectWords(err)
		fail(ch, msg, hint)
		return ch, start, nil
	}
	ca := cl.ConnAck()
	c.connAck = ca
	// From here on every check (and every helper connection) speaks the
	// version the broker took.
	c.o.Version = ca.Version
	c.r.SetDetail("mqtt_version", string(ca.Version))
	ka := c.o.KeepAlive
	if ka == 0 && !c.o.NoKeepAlive {
		ka = 30 * time.Second // Connect's default
	}
	connAckEvidence(ch.Evidence, ca, ka)
	if tlsCheck != nil && c.tls != nil {
		switch {
		case c.tls.Sent:
			tlsCheck.Evidence["client_cert_accepted"] = true
		case c.tls.Requested:
			tlsCheck.Evidence["client_cert_accepted"] = "not sent (the broker asked for one but does not require it)"
		case c.o.TLS.CertFile != "":
			tlsCheck.Evidence["client_cert_note"] = "--cert given, but the broker did not ask for a client certificate: it authenticates otherwise"
		}
	}
	return ch, start, cl
}

// versionEvidence says, for --mqtt-version auto, which version the broker
// speaks and whether (and why) MQTT 5 was given up for 3.1.1. A refusal that
// is not about the version (credentials, ACL, TLS) shows fell_back false:
// it is the broker's answer to MQTT 5.
func versionEvidence(ev map[string]any, cl Client, err error) {
	ev["version_asked"] = string(VAuto)
	reason := FallbackReason(err)
	var fe *FallbackError
	switch {
	case cl != nil:
		ca := cl.ConnAck()
		ev["version"] = string(ca.Version)
		reason = ca.FallbackReason
	case errors.As(err, &fe) && fe.Tried311:
		ev["version"] = string(V311) // the answer reported is 3.1.1's
	default:
		ev["version"] = string(V5)
	}
	ev["fell_back"] = reason != ""
	if reason != "" {
		ev["fallback_reason"] = reason
	}
}

// connAckEvidence puts the broker's answer and, for MQTT 5, its limits into
// ev, with the protocol default where the broker announced nothing
// (announced lists what it did send).
func connAckEvidence(ev map[string]any, ca ConnAck, keepAlive time.Duration) {
	ev["session_present"] = ca.SessionPresent
	if ca.AssignedClientID != "" {
		ev["assigned_client_id"] = ca.AssignedClientID
	}
	if ca.ReasonString != "" {
		ev["reason_string"] = ca.ReasonString
	}
	if ca.Version == V311 {
		ev["limits"] = "MQTT 3.1.1 brokers announce no limits"
		return
	}
	var announced []string
	b := func(name string, p *bool) {
		v := true
		if p != nil {
			v = *p
			announced = append(announced, name)
		}
		ev[name] = v
	}
	maxQoS := 2
	if ca.MaximumQoS != nil {
		maxQoS = int(*ca.MaximumQoS)
		announced = append(announced, "maximum_qos")
	}
	ev["maximum_qos"] = maxQoS
	b("retain_available", ca.RetainAvailable)
	b("wildcard_subscription_available", ca.WildcardSubAvailable)
	b("shared_subscription_available", ca.SharedSubAvailable)
	b("subscription_identifier_available", ca.SubIDAvailable)
	if ca.MaximumPacketSize != nil {
		ev["maximum_packet_size"] = *ca.MaximumPacketSize
		announced = append(announced, "maximum_packet_size")
	} else {
		ev["maximum_packet_size"] = "no limit"
	}
	alias := 0
	if ca.TopicAliasMaximum != nil {
		alias = int(*ca.TopicAliasMaximum)
		announced = append(announced, "topic_alias_maximum")
	}
	ev["topic_alias_maximum"] = alias
	ka := int(keepAlive / time.Second)
	if ca.ServerKeepAlive != nil {
		ka = int(*ca.ServerKeepAlive)
		announced = append(announced, "server_keep_alive")
	}
	ev["server_keep_alive_s"] = ka
	rm := 65535
	if ca.ReceiveMaximum != nil {
		rm = int(*ca.ReceiveMaximum)
		announced = append(announced, "receive_maximum")
	}
	ev["receive_maximum"] = rm
	if announced == nil {
		announced = []string{}
	}
	ev["announced"] = announced
}

// maxQoS is the highest QoS the broker accepts (2 unless its CONNACK says
// otherwise).
func (c *checker) maxQoS() byte {
	if c.connAck.MaximumQoS != nil {
		return *c.connAck.MaximumQoS
	}
	return 2
}

// connectWords explains a failed Connect: a CONNACK refusal with what to
// change, or the step (dns, tcp, tls) Connect's own dial broke at.
func (c *checker) connectWords(err error) (string, string) {
	var re *ReasonError
	if errors.As(err, &re) && re.Packet == PacketConnack {
		msg, _ := Explain(err)
		return msg, c.connackHint(re.Version, re.Code)
	}
	return Explain(err)
}

func (c *checker) connackHint(v Version, code byte) string {
	anonymous := c.o.Username == "" && c.o.TLS.CertFile == ""
	if v == V311 {
		// 3.1.1 CONNACK return codes map onto the MQTT 5 ones.
		code = map[byte]byte{1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87}[code]
	}
	switch code {
	case 0x84:
		if c.o.Version == VAuto {
			return "the broker speaks neither MQTT 5 nor 3.1.1 (an MQTT 3.1-only broker?): ectool speaks 5 and 3.1.1"
		}
		if c.o.Version == V311 {
			return "the broker does not accept MQTT 3.1.1: retry with --mqtt-version 5"
		}
		return "the broker does not speak MQTT 5: retry with --mqtt-version 3.1.1, or auto (the default) to fall back by itself"
	case 0x85:
		return fmt.Sprintf("the broker refused the client id %q: pass --client-id with an id it accepts (many brokers want the device's registered id)", c.o.ClientID)
	case 0x86:
		if c.o.Username == "" {
			return "the broker wants a user name and password: pass --username and --password-file (or ECTOOL_MQTT_PASSWORD)"
		}
		return fmt.Sprintf("check the user name %q and the password (--password-file or ECTOOL_MQTT_PASSWORD)", c.o.Username)
	case 0x87:
		if anonymous {
			return "the broker does not accept anonymous clients: pass --username and --password-file, or a client certificate (--cert/--key)"
		}
		if c.o.Username != "" {
			return fmt.Sprintf("check the user name %q and the password (--password-file or ECTOOL_MQTT_PASSWORD): mosquitto answers a wrong password with 'not authorized'; if they are right, the broker's authorisation (ACL, auth plugin) does not let this client connect", c.o.Username)
		}
		return "the broker does not let this client connect: check the client certificate, client id and the broker's authorisation (ACL, auth plugin)"
	case 0x88, 0x89:
		return "the broker is up but not accepting clients now: retry later and check its log and load"
	case 0x8A:
		return "this client is banned by the broker: ask its operator"
	case 0x8C:
		return "the broker wants another authentication method (MQTT 5 enhanced auth), which ectool does not speak"
	case 0x95:
		return "the CONNECT packet is larger than the broker accepts: shorten the Will message or user properties"
	case 0x9C, 0x9D:
		return "the broker sends clients to another server: see its reason string for the address"
	case 0x9F:
		return "too many connections in a short time: wait and retry"
	}
	return "see the broker's log for why it refused the connection"
}
