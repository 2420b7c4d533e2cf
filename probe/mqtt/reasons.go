package mqtt

import "fmt"

// Packet names used with ReasonText, ReasonHint and ReasonError.Packet.
const (
	PacketConnack    = "connack"
	PacketPuback     = "puback"
	PacketPubrec     = "pubrec"
	PacketPubrel     = "pubrel"
	PacketPubcomp    = "pubcomp"
	PacketSuback     = "suback"
	PacketUnsuback   = "unsuback"
	PacketDisconnect = "disconnect"
	PacketAuth       = "auth"
)

type reasonEntry struct {
	text    string
	packets []string // where the code may appear; nil: every packet carrying reason codes
	hint    string
}

// reasons5 is the MQTT 5.0 reason code table (OASIS MQTT 5.0, 2.4).
var reasons5 = map[byte][]reasonEntry{
	0x00: {
		{"success", []string{PacketConnack, PacketPuback, PacketPubrec, PacketPubrel, PacketPubcomp, PacketUnsuback, PacketAuth}, ""},
		{"normal disconnection", []string{PacketDisconnect}, ""},
		{"granted QoS 0", []string{PacketSuback}, ""},
	},
	0x01: {{"granted QoS 1", []string{PacketSuback}, ""}},
	0x02: {{"granted QoS 2", []string{PacketSuback}, ""}},
	0x04: {{"disconnect with Will message", []string{PacketDisconnect}, ""}},
	0x10: {{"no matching subscribers", []string{PacketPuback, PacketPubrec},
		"accepted, but nobody subscribes to that topic right now"}},
	0x11: {{"no subscription existed", []string{PacketUnsuback}, ""}},
	0x18: {{"continue authentication", []string{PacketAuth}, ""}},
	0x19: {{"re-authenticate", []string{PacketAuth}, ""}},
	0x80: {{"unspecified error", nil, "the broker gave no reason: look at the broker's log"}},
	0x81: {{"malformed packet", []string{PacketConnack, PacketDisconnect},
		"the broker could not parse what we sent: a protocol mismatch or a proxy in between; try --mqtt-version 3.1.1"}},
	0x82: {{"protocol error", []string{PacketConnack, PacketDisconnect},
		"the broker saw a protocol violation; try --mqtt-version 3.1.1, and look at the broker's log"}},
	0x83: {{"implementation specific error", []string{PacketConnack, PacketPuback, PacketPubrec, PacketSuback, PacketUnsuback, PacketDisconnect},
		"the broker refused for a reason of its own (often an ACL or a plugin): look at the broker's log"}},
	0x84: {{"unsupported protocol version", []string{PacketConnack},
		"the broker does not speak MQTT 5: try --mqtt-version 3.1.1, or auto to fall back by itself"}},
	0x85: {{"client identifier not valid", []string{PacketConnack},
		"the broker refuses this client id (too long, bad characters, or empty): set --client-id to one the broker accepts"}},
	0x86: {{"bad user name or password", []string{PacketConnack},
		"check -u/--username and the password (--password-file or ECTOOL_MQTT_PASSWORD) with the broker's account"}},
	0x87: {{"not authorized", []string{PacketConnack, PacketPuback, PacketPubrec, PacketSuback, PacketUnsuback, PacketDisconnect},
		"the broker's ACL does not allow this client on that topic (or at all): check the user's ACL entries"}},
	0x88: {{"server unavailable", []string{PacketConnack}, "the broker is up but not serving: retry later, look at the broker's log"}},
	0x89: {{"server busy", []string{PacketConnack, PacketDisconnect}, "the broker is overloaded: retry later"}},
	0x8A: {{"banned", []string{PacketConnack}, "this client, user or address is banned on the broker: ask its operator"}},
	0x8B: {{"server shutting down", []string{PacketDisconnect}, "the broker is shutting down: retry when it is back"}},
	0x8C: {{"bad authentication method", []string{PacketConnack, PacketDisconnect}, "the broker does not support the authentication method used"}},
	0x8D: {{"keep alive timeout", []string{PacketDisconnect}, "the broker heard nothing within the keep-alive: the link stalls, or --keepalive is too short"}},
	0x8E: {{"session taken over", []string{PacketDisconnect},
		"another client connected with the same client id: every device needs its own --client-id"}},
	0x8F: {{"topic filter invalid", []string{PacketSuback, PacketUnsuback, PacketDisconnect},
		"the broker refuses this topic filter (syntax or a broker limit such as depth or length)"}},
	0x90: {{"topic name invalid", []string{PacketConnack, PacketPuback, PacketPubrec, PacketDisconnect},
		"the broker refuses this topic name (syntax, or a broker limit such as depth or length)"}},
	0x91: {{"packet identifier in use", []string{PacketPuback, PacketPubrec, PacketSuback, PacketUnsuback},
		"a session state mismatch: reconnect with --clean-start"}},
	0x92: {{"packet identifier not found", []string{PacketPubrel, PacketPubcomp},
		"a session state mismatch (the broker lost the QoS 2 state): reconnect with --clean-start"}},
	0x93: {{"receive maximum exceeded", []string{PacketDisconnect},
		"more QoS 1/2 messages were in flight than the broker allows: a client bug, report it"}},
	0x94: {{"topic alias invalid", []string{PacketDisconnect}, "the broker refused a topic alias"}},
	0x95: {{"packet too large", []string{PacketConnack, PacketPuback, PacketPubrec, PacketDisconnect},
		"the message is larger than the broker's maximum packet size: send a smaller payload"}},
	0x96: {{"message rate too high", []string{PacketDisconnect}, "the broker throttles this client: lower --rate"}},
	0x97: {{"quota exceeded", []string{PacketConnack, PacketPuback, PacketPubrec, PacketSuback, PacketDisconnect},
		"the broker's quota for this client or account is used up: ask the broker operator"}},
	0x98: {{"administrative action", []string{PacketDisconnect}, "an administrator disconnected this client"}},
	0x99: {{"payload format invalid", []string{PacketConnack, PacketPuback, PacketPubrec, PacketDisconnect},
		"the payload is not valid for its declared format (UTF-8 declared but not UTF-8)"}},
	0x9A: {{"retain not supported", []string{PacketConnack, PacketDisconnect}, "the broker does not keep retained messages: publish without -r"}},
	0x9B: {{"QoS not supported", []string{PacketConnack, PacketDisconnect}, "the broker does not support this QoS: use a lower -q"}},
	0x9C: {{"use another server", []string{PacketConnack, PacketDisconnect}, "the broker redirects clients elsewhere: check the server reference it sent"}},
	0x9D: {{"server moved", []string{PacketConnack, PacketDisconnect}, "the broker moved permanently: update the broker URL"}},
	0x9E: {{"shared subscriptions not supported", []string{PacketSuback, PacketDisconnect}, "the broker does not support $share/ subscriptions"}},
	0x9F: {{"connection rate exceeded", []string{PacketConnack, PacketDisconnect}, "too many connections too fast: wait and retry"}},
	0xA0: {{"maximum connect time", []string{PacketDisconnect}, "the broker limits how long a client may stay connected"}},
	0xA1: {{"subscription identifiers not supported", []string{PacketSuback, PacketDisconnect}, "the broker does not support subscription identifiers"}},
	0xA2: {{"wildcard subscriptions not supported", []string{PacketSuback, PacketDisconnect}, "the broker does not allow + or # in filters: subscribe to exact topics"}},
}

// connack311 are the MQTT 3.1.1 CONNACK return codes (3.2.2.3).
var connack311 = map[byte]reasonEntry{
	0: {"connection accepted", nil, ""},
	1: {"unacceptable protocol version", nil, "the broker does not speak MQTT 3.1.1 (an MQTT 3.1 only broker?)"},
	2: {"identifier rejected", nil, "the broker refuses this client id: set --client-id to one it accepts (some brokers limit length to 23 characters)"},
	3: {"server unavailable", nil, "the broker is up but not serving MQTT: retry later, look at the broker's log"},
	4: {"bad user name or password", nil, "check -u/--username and the password (--password-file or ECTOOL_MQTT_PASSWORD) with the broker's account"},
	5: {"not authorized", nil, "the broker does not let this client in: often a wrong user name or password (mosquitto answers those with 5), else the account or client certificate is not allowed: check -u/--username, the password and the broker's ACL"},
}

func lookupReason(v Version, packet string, code byte) (reasonEntry, bool, bool) {
	if v == V311 {
		switch packet {
		case PacketConnack:
			e, ok := connack311[code]
			return e, ok, ok
		case PacketSuback:
			switch code {
			case 0, 1, 2:
				return reasonEntry{text: fmt.Sprintf("granted QoS %d", code)}, true, true
			case 0x80:
				return reasonEntry{text: "failure", hint: "the broker refused the subscription (MQTT 3.1.1 gives no reason; usually the ACL): check the user's ACL entries"}, true, true
			}
			return reasonEntry{}, false, false
		}
	}
	entries, ok := reasons5[code]
	if !ok {
		return reasonEntry{}, false, false
	}
	for _, e := range entries {
		if e.packets == nil || packet == "" {
			return e, true, true
		}
		for _, p := range e.packets {
			if p == packet {
				return e, true, true
			}
		}
	}
	return entries[0], true, false
}

// ReasonText is a reason code in words for the packet it came in ("connack",
// "puback", "suback", ...; "" for any): MQTT 5 reason codes, and for
// Version V311 the CONNACK return codes 0-5 and SUBACK's 0x80.
func ReasonText(v Version, packet string, code byte) string {
	e, known, valid := lookupReason(v, packet, code)
	switch {
	case !known:
		return fmt.Sprintf("unknown reason code 0x%02X", code)
	case !valid:
		return e.text + " (not a valid code in " + packet + ")"
	}
	return e.text
}

// ReasonHint is the next step for a technician who got this reason code, or
// "" for a success.
func ReasonHint(v Version, packet string, code byte) string {
	if v != V311 && packet == PacketConnack && code == 0x87 {
		// In CONNACK "not authorized" is about the client, not a topic.
		return "the broker does not let this client in: often a wrong user name or password (mosquitto answers those with 0x87, not 0x86), else the account or client certificate is not allowed: check -u/--username, the password and the broker's ACL"
	}
	e, known, _ := lookupReason(v, packet, code)
	if !known {
		return "the broker sent a reason code this tool does not know: look at the broker's log"
	}
	return e.hint
}
