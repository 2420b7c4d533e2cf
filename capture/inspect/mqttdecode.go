package inspect

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/ecdata/ectool/probe/mqtt"
)

// Protocol versions as the CONNECT's protocol level byte gives them.
const (
	level31  = 3
	level311 = 4
	level5   = 5
)

func levelString(level byte) string {
	switch level {
	case level31:
		return "3.1"
	case level311:
		return "3.1.1"
	case level5:
		return "5"
	}
	return ""
}

// reasonVersion is the probe/mqtt table to read reason codes with.
func reasonVersion(level byte) mqtt.Version {
	if level == level5 {
		return mqtt.V5
	}
	return mqtt.V311
}

// packetDecoder decodes control packets: a hand-written fast path for the
// packets that dominate telemetry (PUBLISH without properties, the
// acknowledgements, pings), and mochi-mqtt's packets codec for everything
// else, for properties and for anything the fast path is unsure of. Both
// fill the same Message; a test holds them equal on every fixture.
type packetDecoder struct {
	pk packets.Packet
	// slowOnly turns the fast path off (tests, the general path).
	slowOnly bool
	// tookFast says the last packet was decoded by the fast path.
	tookFast bool
}

// decode fills m (whose Time, Stream, addresses and direction the caller
// has set) from one control packet. level is the connection's protocol
// level (3, 4, 5). It never panics: a packet that cannot be decoded is
// returned with Malformed set.
func (d *packetDecoder) decode(level byte, raw *rawPDU, m *Message) {
	m.Type = PacketType(raw.first >> 4)
	m.Size = raw.total
	m.Version = levelString(level)
	d.tookFast = !d.slowOnly && d.fast(level, raw, m)
	if d.tookFast {
		return
	}
	d.slow(level, raw, m)
}

// fast decodes what needs no properties table. It returns false to hand
// the packet to the general decoder.
func (d *packetDecoder) fast(level byte, raw *rawPDU, m *Message) bool {
	first, body, truncated := raw.first, raw.body, raw.truncated
	typ := first >> 4
	flags := first & 0x0f
	switch typ {
	case typePublish:
		if flags&0x06 == 0x06 || (flags&0x08 != 0 && flags&0x06 == 0) {
			return false
		}
		qos := (flags >> 1) & 3
		if len(body) < 2 {
			return false
		}
		tlen := int(body[0])<<8 | int(body[1])
		off := 2 + tlen
		if tlen == 0 || off > len(body) {
			return false
		}
		topic := body[2:off]
		if !validTopicName(topic) {
			return false
		}
		var pid uint16
		if qos > 0 {
			if off+2 > len(body) {
				return false
			}
			pid = uint16(body[off])<<8 | uint16(body[off+1])
			if pid == 0 {
				return false
			}
			off += 2
		}
		if level == level5 {
			if off >= len(body) || body[off] != 0 {
				return false // properties: the general path reads them
			}
			off++
		}
		m.Topic = bytesToString(topic)
		m.QoS, m.Retain, m.Dup = qos, flags&1 != 0, flags&0x08 != 0
		m.PacketID, m.HasPacketID = pid, qos > 0
		m.Payload = body[off:]
		m.PayloadSize = raw.remaining() - off
		m.PayloadTruncated = truncated
		return true
	case typePuback, typePubrec, typePubrel, typePubcomp:
		if len(body) != 2 || truncated || (typ == typePubrel) != (flags == 2) || (typ != typePubrel && flags != 0) {
			return false
		}
		m.PacketID = uint16(body[0])<<8 | uint16(body[1])
		m.HasPacketID = true
		m.QoS = (flags >> 1) & 3
		if m.PacketID == 0 {
			return false
		}
		if level == level5 {
			// A missing reason code means success (MQTT 5, 3.4.2.1).
			m.HasReason = true
			m.Reason = mqtt.ReasonText(mqtt.V5, ackName(typ), 0)
		}
		return true
	case typePingreq, typePingresp:
		return flags == 0 && len(body) == 0
	}
	return false
}

// rawPDU is one control packet as the framer cut it.
type rawPDU struct {
	first byte
	hlen  int // fixed header length
	total int // whole packet, fixed header included
	// body follows the fixed header; when truncated (a packet larger
	// than inspect buffers) it holds only the packet's start.
	body      []byte
	truncated bool
	// tentative: the first packet after a resynchronisation, a guess.
	tentative bool
}

func (r *rawPDU) remaining() int { return r.total - r.hlen }

func ackName(typ byte) string {
	switch typ {
	case typePuback:
		return mqtt.PacketPuback
	case typePubrec:
		return mqtt.PacketPubrec
	case typePubrel:
		return mqtt.PacketPubrel
	case typePubcomp:
		return mqtt.PacketPubcomp
	case typeSuback:
		return mqtt.PacketSuback
	case typeUnsuback:
		return mqtt.PacketUnsuback
	case typeConnack:
		return mqtt.PacketConnack
	case typeDisconnect:
		return mqtt.PacketDisconnect
	case typeAuth:
		return mqtt.PacketAuth
	}
	return ""
}

// validTopicName is MQTT's rule for a PUBLISH topic: UTF-8, no NUL, no
// wildcard.
func validTopicName(t []byte) bool {
	for _, c := range t {
		if c < 0x80 {
			if c == 0 || c == '+' || c == '#' {
				return false
			}
			continue
		}
		return utf8.Valid(t) && bytes.IndexByte(t, 0) < 0 && bytes.IndexAny(t, "+#") < 0
	}
	return true
}

var errReservedType = errors.New("packet type 0 is reserved")

// slow decodes with mochi-mqtt's codec, which returns an error rather
// than panicking for almost every malformed packet; a recover catches
// the rest.
func (d *packetDecoder) slow(level byte, raw *rawPDU, m *Message) {
	first, body := raw.first, raw.body
	pk := &d.pk
	*pk = packets.Packet{}
	typ := first >> 4
	m.QoS = (first >> 1) & 3
	if typ == typePublish {
		m.Retain, m.Dup = first&1 != 0, first&0x08 != 0
	}
	if typ == 0 {
		m.Malformed = errReservedType.Error()
		return
	}
	if err := pk.FixedHeader.Decode(first); err != nil {
		m.Malformed = fmt.Sprintf("%s fixed header flags 0x%x: %s", PacketType(typ).Upper(), first&0x0f, trimMochi(err))
		return
	}
	pk.FixedHeader.Remaining = raw.remaining()
	pk.ProtocolVersion = level
	if err := decodeBody(pk, typ, body, level); err != nil {
		m.Malformed = fmt.Sprintf("%s: %s", PacketType(typ).Upper(), trimMochi(err))
		if typ != typeConnect {
			return
		}
	}
	fill(pk, typ, level, raw, m)
	if m.Malformed == "" {
		m.Malformed = validate(pk, typ, level, m)
	}
	if m.Malformed == "" && level != level5 && raw.remaining() != 2 {
		switch typ {
		case typeConnack, typePuback, typePubrec, typePubrel, typePubcomp, typeUnsuback:
			m.Malformed = fmt.Sprintf("%s of %d bytes after its fixed header (MQTT %s has exactly 2)", PacketType(typ).Upper(), raw.remaining(), levelString(level))
		}
	}
}

// decodeBody runs mochi's decoder for the type, turning a panic into an
// error (its SUBSCRIBE decoder indexes past the end on a cut filter).
func decodeBody(pk *packets.Packet, typ byte, body []byte, level byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cut short (%v)", r)
		}
	}()
	switch typ {
	case typeConnect:
		return pk.ConnectDecode(body)
	case typeConnack:
		return pk.ConnackDecode(body)
	case typePublish:
		return pk.PublishDecode(body)
	case typePuback:
		return pk.PubackDecode(body)
	case typePubrec:
		return pk.PubrecDecode(body)
	case typePubrel:
		return pk.PubrelDecode(body)
	case typePubcomp:
		return pk.PubcompDecode(body)
	case typeSubscribe:
		return pk.SubscribeDecode(body)
	case typeSuback:
		return pk.SubackDecode(body)
	case typeUnsubscribe:
		return pk.UnsubscribeDecode(body)
	case typeUnsuback:
		return pk.UnsubackDecode(body)
	case typePingreq, typePingresp:
		if len(body) != 0 {
			return fmt.Errorf("%d unexpected byte(s) after the fixed header", len(body))
		}
		return nil
	case typeDisconnect:
		if level == level5 && len(body) == 1 {
			// mochi reads the reason code only when properties follow.
			pk.ReasonCode = body[0]
			return nil
		}
		if level != level5 && len(body) != 0 {
			return fmt.Errorf("%d unexpected byte(s) in an MQTT %s DISCONNECT", len(body), levelString(level))
		}
		return pk.DisconnectDecode(body)
	case typeAuth:
		if level != level5 {
			return fmt.Errorf("AUTH exists only in MQTT 5, this connection speaks %s", levelString(level))
		}
		if len(body) == 0 {
			return nil // reason code 0, no properties
		}
		return pk.AuthDecode(body)
	}
	return errReservedType
}

// trimMochi turns mochi's error text ("malformed packet: topic") into
// words without its prefix repeated.
func trimMochi(err error) string {
	s := err.Error()
	s = strings.ReplaceAll(s, "malformed packet: ", "")
	s = strings.ReplaceAll(s, "protocol violation: ", "")
	return s
}
