package inspect

import (
	"reflect"
	"testing"

	"github.com/ecdata/ectool/internal/pcapsynth"
)

// decodeCase is one packet's bytes beside what it must decode to, in the
// style of mochi's tpackets table.
type decodeCase struct {
	name   string
	level  byte
	raw    []byte
	typ    PacketType
	id     uint16 // packet id (0: none)
	topic  string
	reason int // -1: no reason code
	codes  []byte
	filter []Filter
	check  func(t *testing.T, m *Message)
}

var decodeCases = []decodeCase{
	{name: "CONNECT 3.1", level: 0, raw: pcapsynth.Connect(3, "c31", 30, true, "u", "p"), typ: Connect, reason: -1,
		check: func(t *testing.T, m *Message) {
			c := m.Connect
			if c.ProtocolName != "MQIsdp" || c.ProtocolVersion != 3 || m.ClientID != "c31" || c.KeepAlive != 30 || !c.PasswordFlag || c.PasswordLength != 1 || c.Username != "u" {
				t.Errorf("connect %+v", c)
			}
		}},
	{name: "CONNECT 5 with a Will", level: 0, raw: []byte{0x10, 0x1a, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x0e, 0, 10, 0, 0, 2, 'i', 'd',
		0, 0, 3, 'w', '/', 't', 0, 3, 'b', 'y', 'e'}, typ: Connect, reason: -1,
		check: func(t *testing.T, m *Message) {
			c := m.Connect
			if !c.WillFlag || c.WillQoS != 1 || c.WillRetain || c.WillTopic != "w/t" || string(c.WillPayload) != "bye" || !c.CleanSession || c.UsernameFlag || c.PasswordFlag || m.ClientID != "id" {
				t.Errorf("connect %+v", c)
			}
		}},
	{name: "CONNACK 3.1.1 refused 5", level: 4, raw: pcapsynth.Connack(4, 5), typ: Connack, reason: 5},
	{name: "CONNACK 5 with session present", level: 5, raw: []byte{0x20, 0x03, 1, 0, 0}, typ: Connack, reason: 0,
		check: func(t *testing.T, m *Message) {
			if !m.SessionPresent {
				t.Error("session present not read")
			}
		}},
	{name: "PUBLISH 3.1.1 QoS 2 retained dup", level: 4, raw: pcapsynth.Publish(4, "a/b", []byte("v"), 2, 9, true, true), typ: Publish, id: 9, topic: "a/b", reason: -1,
		check: func(t *testing.T, m *Message) {
			if m.QoS != 2 || !m.Retain || !m.Dup || string(m.Payload) != "v" || m.PayloadSize != 1 {
				t.Errorf("publish %+v", m)
			}
		}},
	{name: "PUBLISH 5 with properties", level: 5, raw: []byte{0x30, 0x12, 0, 1, 't', 12, 0x01, 1, 0x03, 0, 4, 't', 'e', 'x', 't', 0x23, 0, 7, 'h', 'i'},
		typ: Publish, topic: "t", reason: -1,
		check: func(t *testing.T, m *Message) {
			p := m.Props
			if p == nil || *p.PayloadFormat != 1 || p.ContentType != "text" || *p.TopicAlias != 7 || string(m.Payload) != "hi" || m.Properties.ContentType != "text" {
				t.Errorf("props %+v payload %q", p, m.Payload)
			}
		}},
	{name: "PUBACK 3.1.1", level: 4, raw: pcapsynth.Ack(4, 4, 3, 0), typ: Puback, id: 3, reason: -1},
	{name: "PUBACK 5 short form", level: 5, raw: pcapsynth.Ack(4, 5, 3, 0), typ: Puback, id: 3, reason: 0},
	{name: "PUBREC 5 no subscribers", level: 5, raw: pcapsynth.Ack(5, 5, 4, 0x10), typ: Pubrec, id: 4, reason: 0x10},
	{name: "PUBREL 3.1.1", level: 4, raw: pcapsynth.Ack(6, 4, 4, 0), typ: Pubrel, id: 4, reason: -1},
	{name: "PUBCOMP 5 not found", level: 5, raw: pcapsynth.Ack(7, 5, 4, 0x92), typ: Pubcomp, id: 4, reason: 0x92},
	{name: "SUBSCRIBE 3.1.1 two filters", level: 4, raw: []byte{0x82, 0x0c, 0, 5, 0, 3, 'a', '/', '#', 1, 0, 1, '+', 2}, typ: Subscribe, id: 5, reason: -1,
		filter: []Filter{{"a/#", 1}, {"+", 2}}},
	{name: "SUBACK 3.1.1 one refused", level: 4, raw: []byte{0x90, 0x04, 0, 5, 1, 0x80}, typ: Suback, id: 5, reason: -1, codes: []byte{1, 0x80}},
	{name: "SUBACK 5", level: 5, raw: []byte{0x90, 0x04, 0, 6, 0, 0x87}, typ: Suback, id: 6, reason: -1, codes: []byte{0x87}},
	{name: "UNSUBSCRIBE 5", level: 5, raw: []byte{0xa2, 0x07, 0, 7, 0, 0, 2, 'a', 'b'}, typ: Unsubscribe, id: 7, reason: -1, filter: []Filter{{"ab", 0}}},
	{name: "UNSUBACK 3.1.1", level: 4, raw: []byte{0xb0, 0x02, 0, 7}, typ: Unsuback, id: 7, reason: -1},
	{name: "UNSUBACK 5", level: 5, raw: []byte{0xb0, 0x04, 0, 7, 0, 0x11}, typ: Unsuback, id: 7, reason: -1, codes: []byte{0x11}},
	{name: "PINGREQ", level: 4, raw: pcapsynth.Pingreq, typ: Pingreq, reason: -1},
	{name: "PINGRESP", level: 5, raw: pcapsynth.Pingresp, typ: Pingresp, reason: -1},
	{name: "DISCONNECT 3.1.1", level: 4, raw: pcapsynth.Disconnect, typ: Disconnect, reason: -1},
	{name: "DISCONNECT 5 reason alone", level: 5, raw: []byte{0xe0, 0x01, 0x8e}, typ: Disconnect, reason: 0x8e},
	{name: "DISCONNECT 5 empty", level: 5, raw: pcapsynth.Disconnect, typ: Disconnect, reason: 0},
	{name: "AUTH 5 continue", level: 5, raw: []byte{0xf0, 0x05, 0x18, 3, 0x15, 0, 0}, typ: Auth, reason: 0x18},
	{name: "AUTH 5 empty", level: 5, raw: []byte{0xf0, 0x00}, typ: Auth, reason: 0},
}

// TestEveryPacketTypeDecodes runs the table through the fast and the
// general path.
func TestEveryPacketTypeDecodes(t *testing.T) {
	for _, tc := range decodeCases {
		for _, slow := range []bool{false, true} {
			t.Run(tc.name, func(t *testing.T) {
				_, rem, hlen, ok, bad := fixedHeader(tc.raw)
				if !ok || bad || hlen+rem != len(tc.raw) {
					t.Fatalf("test bytes are not one packet: % x", tc.raw)
				}
				level := tc.level
				if level == 0 {
					level = level311
				}
				raw := rawPDU{first: tc.raw[0], hlen: hlen, total: len(tc.raw), body: tc.raw[hlen:]}
				var m Message
				d := packetDecoder{slowOnly: slow}
				d.decode(level, &raw, &m)
				if m.Malformed != "" {
					t.Fatalf("malformed: %s", m.Malformed)
				}
				if m.Type != tc.typ || m.PacketID != tc.id || m.HasPacketID != (tc.id != 0) || m.Topic != tc.topic {
					t.Errorf("type %s id %d (%v) topic %q; want %s %d %q", m.Type, m.PacketID, m.HasPacketID, m.Topic, tc.typ, tc.id, tc.topic)
				}
				if (tc.reason >= 0) != m.HasReason || (m.HasReason && int(m.ReasonCode) != tc.reason) || (m.HasReason && m.Reason == "") {
					t.Errorf("reason %v 0x%02x %q, want %d", m.HasReason, m.ReasonCode, m.Reason, tc.reason)
				}
				if len(tc.codes) > 0 && !reflect.DeepEqual(m.ReasonCodes, tc.codes) {
					t.Errorf("codes % x, want % x", m.ReasonCodes, tc.codes)
				}
				if len(tc.filter) > 0 && !reflect.DeepEqual(m.Filters, tc.filter) {
					t.Errorf("filters %+v, want %+v", m.Filters, tc.filter)
				}
				if tc.check != nil {
					tc.check(t, &m)
				}
			})
		}
	}
}

// TestVersionIsInferredWithoutConnect: packets whose shape differs
// between 3.1.1 and 5 decide; the others wait.
func TestVersionIsInferredWithoutConnect(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		want byte
	}{
		{"3.1.1 CONNACK", pcapsynth.Connack(4, 0), level311},
		{"5 CONNACK", pcapsynth.Connack(5, 0), level5},
		{"5 PUBACK with reason", pcapsynth.Ack(4, 5, 1, 0x10), level5},
		{"short PUBACK says nothing", pcapsynth.Ack(4, 4, 1, 0), 0},
		{"3.1.1 PUBLISH with a JSON payload", pcapsynth.Publish(4, "a", []byte(`{"v":1}`), 0, 0, false, false), level311},
		{"5 PUBLISH without properties", pcapsynth.Publish(5, "a", []byte(`{"v":1}`), 1, 3, false, false), level5},
		{"5 DISCONNECT with reason", []byte{0xe0, 1, 0x8e}, level5},
		{"3.1.1 UNSUBACK", []byte{0xb0, 2, 0, 1}, level311},
		{"PINGRESP says nothing", pcapsynth.Pingresp, 0},
	} {
		_, rem, hlen, _, _ := fixedHeader(tc.raw)
		raw := rawPDU{first: tc.raw[0], hlen: hlen, total: hlen + rem, body: tc.raw[hlen:]}
		var s session
		if got, _ := s.guessLevel(&raw); got != tc.want {
			t.Errorf("%s: level %d, want %d", tc.name, got, tc.want)
		}
	}
}
