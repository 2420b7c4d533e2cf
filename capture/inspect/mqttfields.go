package inspect

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/ecdata/ectool/probe/mqtt"
)

// bytesToString views b as a string without copying. The string is only
// as long-lived as b: whatever is kept beyond a Message is cloned.
func bytesToString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// fill copies what mochi decoded into m.
func fill(pk *packets.Packet, typ byte, level byte, raw *rawPDU, m *Message) {
	rv := reasonVersion(level)
	switch typ {
	case typeConnect:
		c := &pk.Connect
		m.Version = levelString(pk.ProtocolVersion)
		m.Connect = &ConnectFields{
			ProtocolName: bytesToString(c.ProtocolName), ProtocolVersion: pk.ProtocolVersion,
			CleanSession: c.Clean, KeepAlive: c.Keepalive,
			UsernameFlag: c.UsernameFlag, Username: bytesToString(c.Username),
			PasswordFlag: c.PasswordFlag, PasswordLength: len(c.Password),
			WillFlag: c.WillFlag, WillQoS: c.WillQos, WillRetain: c.WillRetain,
			WillTopic: c.WillTopic, WillPayload: c.WillPayload,
			WillProperties: convertProps(&c.WillProperties),
		}
		// The password stays in mochi's packet only until the next decode.
		c.Password = nil
		m.ClientID = c.ClientIdentifier
		m.Props = convertProps(&pk.Properties)
	case typeConnack:
		m.SessionPresent = pk.SessionPresent
		m.ReasonCode, m.HasReason = pk.ReasonCode, true
		m.Reason = mqtt.ReasonText(rv, mqtt.PacketConnack, pk.ReasonCode)
		m.Props = convertProps(&pk.Properties)
	case typePublish:
		m.Topic = pk.TopicName
		m.PacketID, m.HasPacketID = pk.PacketID, pk.FixedHeader.Qos > 0
		m.Payload = pk.Payload
		m.PayloadSize = raw.remaining() - (len(raw.body) - len(pk.Payload))
		m.PayloadTruncated = raw.truncated
		m.Props = convertProps(&pk.Properties)
		m.Properties = subProperties(m.Props)
	case typePuback, typePubrec, typePubrel, typePubcomp:
		m.PacketID, m.HasPacketID = pk.PacketID, true
		if level == level5 {
			m.ReasonCode, m.HasReason = pk.ReasonCode, true
			m.Reason = mqtt.ReasonText(rv, ackName(typ), pk.ReasonCode)
			m.Props = convertProps(&pk.Properties)
		}
	case typeSubscribe, typeUnsubscribe:
		m.PacketID, m.HasPacketID = pk.PacketID, true
		m.Filters = make([]Filter, len(pk.Filters))
		for i, f := range pk.Filters {
			m.Filters[i] = Filter{Filter: f.Filter, QoS: f.Qos}
		}
		m.Props = convertProps(&pk.Properties)
	case typeSuback, typeUnsuback:
		m.PacketID, m.HasPacketID = pk.PacketID, true
		m.ReasonCodes = pk.ReasonCodes
		m.Props = convertProps(&pk.Properties)
	case typeDisconnect, typeAuth:
		if level == level5 {
			m.ReasonCode, m.HasReason = pk.ReasonCode, true
			m.Reason = mqtt.ReasonText(rv, ackName(typ), pk.ReasonCode)
			m.Props = convertProps(&pk.Properties)
		}
	}
}

// validate applies the protocol's rules mochi's decoder leaves to the
// broker; "" when the packet keeps them.
func validate(pk *packets.Packet, typ byte, level byte, m *Message) string {
	switch typ {
	case typeConnect:
		return validateConnect(pk)
	case typeConnack:
		if level != level5 && pk.ReasonCode > 5 {
			return fmt.Sprintf("CONNACK return code %d does not exist in MQTT %s", pk.ReasonCode, levelString(level))
		}
		if level == level5 && !knownReason(pk.ReasonCode, mqtt.PacketConnack) {
			return fmt.Sprintf("CONNACK reason code 0x%02X is not valid in a CONNACK", pk.ReasonCode)
		}
	case typePublish:
		switch {
		case pk.FixedHeader.Qos > 0 && pk.PacketID == 0:
			return fmt.Sprintf("PUBLISH at QoS %d without a packet identifier", pk.FixedHeader.Qos)
		case strings.ContainsAny(pk.TopicName, "+#"):
			return fmt.Sprintf("PUBLISH topic %q contains wildcards (+ and # are for subscriptions)", pk.TopicName)
		case strings.ContainsRune(pk.TopicName, 0):
			return "PUBLISH topic contains a NUL character"
		case pk.TopicName == "" && (level != level5 || pk.Properties.TopicAlias == 0):
			return "PUBLISH with an empty topic and no topic alias"
		case pk.Properties.TopicAliasFlag && pk.Properties.TopicAlias == 0:
			return "PUBLISH with topic alias 0"
		case m.ToBroker && len(pk.Properties.SubscriptionIdentifier) > 0:
			return "PUBLISH to the broker carries a subscription identifier"
		}
	case typePuback, typePubrec, typePubrel, typePubcomp:
		if pk.PacketID == 0 {
			return fmt.Sprintf("%s with packet identifier 0", PacketType(typ).Upper())
		}
		if level == level5 && !knownReason(pk.ReasonCode, ackName(typ)) {
			return fmt.Sprintf("%s reason code 0x%02X is not valid there", PacketType(typ).Upper(), pk.ReasonCode)
		}
	case typeSubscribe, typeUnsubscribe:
		if len(pk.Filters) == 0 {
			return fmt.Sprintf("%s without a topic filter", PacketType(typ).Upper())
		}
		if pk.PacketID == 0 {
			return fmt.Sprintf("%s with packet identifier 0", PacketType(typ).Upper())
		}
		for _, f := range pk.Filters {
			if err := mqtt.ValidateFilter(f.Filter); err != nil {
				return fmt.Sprintf("%s: %v", PacketType(typ).Upper(), err)
			}
		}
	case typeSuback:
		if len(pk.ReasonCodes) == 0 {
			return "SUBACK without a return code"
		}
		for _, c := range pk.ReasonCodes {
			if (level != level5 && c > 2 && c != 0x80) || (level == level5 && !knownReason(c, mqtt.PacketSuback)) {
				return fmt.Sprintf("SUBACK return code 0x%02X is not valid there", c)
			}
		}
	case typeUnsuback:
		for _, c := range pk.ReasonCodes {
			if !knownReason(c, mqtt.PacketUnsuback) {
				return fmt.Sprintf("UNSUBACK reason code 0x%02X is not valid there", c)
			}
		}
	case typeDisconnect, typeAuth:
		if level == level5 && !knownReason(pk.ReasonCode, ackName(typ)) {
			return fmt.Sprintf("%s reason code 0x%02X is not valid there", PacketType(typ).Upper(), pk.ReasonCode)
		}
	}
	return ""
}

// knownReason reports whether probe/mqtt's MQTT 5 table allows code in
// the packet.
func knownReason(code byte, packet string) bool {
	txt := mqtt.ReasonText(mqtt.V5, packet, code)
	return !strings.HasPrefix(txt, "unknown reason code") && !strings.Contains(txt, "(not a valid code in")
}

func validateConnect(pk *packets.Packet) string {
	c := &pk.Connect
	name := string(c.ProtocolName)
	switch {
	case name != "MQTT" && name != "MQIsdp":
		return fmt.Sprintf("CONNECT protocol name %q (want MQTT or MQIsdp)", name)
	case name == "MQIsdp" && pk.ProtocolVersion != level31:
		return fmt.Sprintf("CONNECT protocol name MQIsdp with level %d (want 3)", pk.ProtocolVersion)
	case name == "MQTT" && pk.ProtocolVersion != level311 && pk.ProtocolVersion != level5:
		return fmt.Sprintf("CONNECT protocol level %d (want 4 for 3.1.1, 5 for 5.0)", pk.ProtocolVersion)
	case pk.ReservedBit != 0:
		return "CONNECT reserved flag bit set"
	case c.WillQos > 2:
		return fmt.Sprintf("CONNECT Will QoS %d", c.WillQos)
	case !c.WillFlag && (c.WillRetain || c.WillQos != 0):
		return "CONNECT Will QoS or retain set without a Will"
	case pk.ProtocolVersion != level5 && c.PasswordFlag && !c.UsernameFlag:
		return "CONNECT password without a user name (not allowed before MQTT 5)"
	}
	return ""
}

// convertProps copies mochi's properties into Props; nil when there are
// none.
func convertProps(p *packets.Properties) *Props {
	if p == nil || isEmptyProps(p) {
		return nil
	}
	out := &Props{
		ContentType: p.ContentType, ResponseTopic: p.ResponseTopic, CorrelationData: p.CorrelationData,
		SubscriptionIDs: p.SubscriptionIdentifier, AssignedClientID: p.AssignedClientID,
		AuthMethod: p.AuthenticationMethod, AuthData: p.AuthenticationData, ResponseInfo: p.ResponseInfo,
		ServerReference: p.ServerReference, ReasonString: p.ReasonString,
	}
	if p.PayloadFormatFlag {
		out.PayloadFormat = ptr(p.PayloadFormat)
	}
	if p.MessageExpiryInterval != 0 {
		out.MessageExpiry = ptr(p.MessageExpiryInterval)
	}
	if p.SessionExpiryIntervalFlag {
		out.SessionExpiry = ptr(p.SessionExpiryInterval)
	}
	if p.ServerKeepAliveFlag {
		out.ServerKeepAlive = ptr(p.ServerKeepAlive)
	}
	if p.RequestProblemInfoFlag {
		out.RequestProblemInfo = ptr(p.RequestProblemInfo)
	}
	if p.WillDelayInterval != 0 {
		out.WillDelay = ptr(p.WillDelayInterval)
	}
	if p.RequestResponseInfo != 0 {
		out.RequestResponseInfo = ptr(p.RequestResponseInfo)
	}
	if p.ReceiveMaximum != 0 {
		out.ReceiveMaximum = ptr(p.ReceiveMaximum)
	}
	if p.TopicAliasMaximum != 0 {
		out.TopicAliasMaximum = ptr(p.TopicAliasMaximum)
	}
	if p.TopicAliasFlag {
		out.TopicAlias = ptr(p.TopicAlias)
	}
	if p.MaximumQosFlag {
		out.MaximumQoS = ptr(p.MaximumQos)
	}
	if p.RetainAvailableFlag {
		out.RetainAvailable = ptr(p.RetainAvailable)
	}
	if p.MaximumPacketSize != 0 {
		out.MaximumPacketSize = ptr(p.MaximumPacketSize)
	}
	if p.WildcardSubAvailableFlag {
		out.WildcardSubAvailable = ptr(p.WildcardSubAvailable)
	}
	if p.SubIDAvailableFlag {
		out.SubIDAvailable = ptr(p.SubIDAvailable)
	}
	if p.SharedSubAvailableFlag {
		out.SharedSubAvailable = ptr(p.SharedSubAvailable)
	}
	for _, u := range p.User {
		out.User = append(out.User, mqtt.UserProperty{Key: u.Key, Value: u.Val})
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func isEmptyProps(p *packets.Properties) bool {
	return len(p.CorrelationData) == 0 && len(p.SubscriptionIdentifier) == 0 && len(p.AuthenticationData) == 0 &&
		len(p.User) == 0 && p.ContentType == "" && p.ResponseTopic == "" && p.AssignedClientID == "" &&
		p.AuthenticationMethod == "" && p.ResponseInfo == "" && p.ServerReference == "" && p.ReasonString == "" &&
		p.MessageExpiryInterval == 0 && p.WillDelayInterval == 0 && p.MaximumPacketSize == 0 &&
		p.ReceiveMaximum == 0 && p.TopicAliasMaximum == 0 && p.RequestResponseInfo == 0 &&
		!p.PayloadFormatFlag && !p.SessionExpiryIntervalFlag && !p.ServerKeepAliveFlag && !p.RequestProblemInfoFlag &&
		!p.TopicAliasFlag && !p.MaximumQosFlag && !p.RetainAvailableFlag && !p.WildcardSubAvailableFlag &&
		!p.SubIDAvailableFlag && !p.SharedSubAvailableFlag
}

// subProperties are a PUBLISH's properties in the shape `mqtt sub -o json`
// writes them.
func subProperties(p *Props) mqtt.Properties {
	if p == nil {
		return mqtt.Properties{}
	}
	return mqtt.Properties{ContentType: p.ContentType, MessageExpiry: p.MessageExpiry, PayloadFormat: p.PayloadFormat,
		ResponseTopic: p.ResponseTopic, CorrelationData: p.CorrelationData, UserProperties: p.User}
}
