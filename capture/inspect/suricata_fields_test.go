package inspect_test

import (
	"strings"

	"github.com/ecdata/ectool/capture/inspect"
)

// suricataFields maps Suricata's eve.json MQTT fields (after
// mqtt.<type>.) to ectool's decode. mqtt.connect.password maps to "a
// password is present, of this length", never to the value: ectool does
// not keep passwords.
var suricataFields = map[string]func(r record) any{
	"qos":    func(r record) any { return int(r.QoS) },
	"retain": func(r record) any { return r.Retain },
	"dup":    func(r record) any { return r.Dup },

	"protocol_string":     func(r record) any { return conn(r).ProtocolName },
	"protocol_version":    func(r record) any { return int(conn(r).ProtocolVersion) },
	"flags.username":      func(r record) any { return conn(r).UsernameFlag },
	"flags.password":      func(r record) any { return conn(r).PasswordFlag },
	"flags.will":          func(r record) any { return conn(r).WillFlag },
	"flags.will_retain":   func(r record) any { return conn(r).WillRetain },
	"flags.clean_session": func(r record) any { return conn(r).CleanSession },
	"client_id":           func(r record) any { return r.ClientID },
	"username":            func(r record) any { return conn(r).Username },
	"will.topic":          func(r record) any { return conn(r).WillTopic },
	"will.message":        func(r record) any { return string(conn(r).WillPayload) },

	"session_present": func(r record) any { return r.SessionPresent },
	"return_code":     func(r record) any { return int(r.ReasonCode) },
	"reason_code":     func(r record) any { return int(r.ReasonCode) },
	"topic":           func(r record) any { return r.Topic },
	"message":         func(r record) any { return string(r.Payload) },
	"message_id":      func(r record) any { return int(r.PacketID) },
	"qos_granted":     func(r record) any { return ints(r.ReasonCodes) },
	"reason_codes":    func(r record) any { return ints(r.ReasonCodes) },
	"topics": func(r record) any {
		out := []any{}
		for _, f := range r.Filters {
			if r.Type == inspect.Subscribe {
				out = append(out, map[string]any{"topic": f.Filter, "qos": int(f.QoS)})
			} else {
				out = append(out, f.Filter)
			}
		}
		return out
	},
}

// suricataProps maps Suricata's property names to ectool's Props.
var suricataProps = map[string]func(p *inspect.Props) any{
	"receive_maximum":            func(p *inspect.Props) any { return deref(p.ReceiveMaximum) },
	"topic_alias_maximum":        func(p *inspect.Props) any { return deref(p.TopicAliasMaximum) },
	"topic_alias":                func(p *inspect.Props) any { return deref(p.TopicAlias) },
	"session_expiry_interval":    func(p *inspect.Props) any { return deref(p.SessionExpiry) },
	"maximum_packet_size":        func(p *inspect.Props) any { return deref(p.MaximumPacketSize) },
	"message_expiry_interval":    func(p *inspect.Props) any { return deref(p.MessageExpiry) },
	"payload_format_indicator":   func(p *inspect.Props) any { return deref(p.PayloadFormat) },
	"will_delay_interval":        func(p *inspect.Props) any { return deref(p.WillDelay) },
	"content_type":               func(p *inspect.Props) any { return p.ContentType },
	"response_topic":             func(p *inspect.Props) any { return p.ResponseTopic },
	"correlation_data":           func(p *inspect.Props) any { return string(p.CorrelationData) },
	"authentication_method":      func(p *inspect.Props) any { return p.AuthMethod },
	"authentication_data":        func(p *inspect.Props) any { return string(p.AuthData) },
	"assigned_client_identifier": func(p *inspect.Props) any { return p.AssignedClientID },
}

// suricataField reads one Suricata field from a decoded packet.
func suricataField(r record, field string) (any, bool) {
	if field == "password" {
		c := conn(r)
		return passwordShape{Present: c.PasswordFlag, Length: c.PasswordLength}, true
	}
	if rest, ok := strings.CutPrefix(field, "will.properties."); ok {
		return propField(conn(r).WillProperties, rest), true
	}
	if rest, ok := strings.CutPrefix(field, "properties."); ok {
		return propField(r.Props, rest), true
	}
	if f, ok := suricataFields[field]; ok {
		return f(r), true
	}
	return nil, false
}

// passwordShape is what ectool knows of a password: that there is one,
// and its length. Suricata's value is turned into the same shape.
type passwordShape struct {
	Present bool
	Length  int
}

func propField(p *inspect.Props, name string) any {
	if p == nil {
		return nil
	}
	if f, ok := suricataProps[name]; ok {
		return f(p)
	}
	// Any other name is a user property (Suricata logs them by key).
	for _, u := range p.User {
		if u.Key == name {
			return u.Value
		}
	}
	return nil
}

func conn(r record) *inspect.ConnectFields {
	if r.Connect == nil {
		return &inspect.ConnectFields{}
	}
	return r.Connect
}

func ints(b []byte) []any {
	out := make([]any, len(b))
	for i, v := range b {
		out[i] = int(v)
	}
	return out
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
