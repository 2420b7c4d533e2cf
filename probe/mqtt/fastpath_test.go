package mqtt

import (
	"bytes"
	"testing"
)

// Golden PUBLISH bodies as brokers send them, and what the fast path must
// make of them; malformed ones go to the library (ok=false).
func TestDecodePublishGoldenBodies(t *testing.T) {
	cases := []struct {
		name    string
		v       Version
		hdr     byte
		body    []byte
		ok      bool
		topic   string
		payload string
		qos     byte
		id      uint16
		retain  bool
		ctype   string
	}{
		{"v5 QoS 0 no properties", V5, 0x30, []byte("\x00\x03a/b\x00hi"), true, "a/b", "hi", 0, 0, false, ""},
		{"v5 QoS 0 retained", V5, 0x31, []byte("\x00\x01t\x00x"), true, "t", "x", 0, 0, true, ""},
		{"v5 QoS 1 with id", V5, 0x32, []byte("\x00\x01t\x01\x02\x00x"), true, "t", "x", 1, 0x0102, false, ""},
		{"v5 content type", V5, 0x30, []byte("\x00\x01t\x07\x03\x00\x04text{}"), true, "t", "{}", 0, 0, false, "text"},
		{"v5 empty payload", V5, 0x30, []byte("\x00\x01t\x00"), true, "t", "", 0, 0, false, ""},
		{"v311 QoS 0", V311, 0x30, []byte("\x00\x03a/bhello"), true, "a/b", "hello", 0, 0, false, ""},
		{"short topic length", V5, 0x30, []byte("\x00"), false, "", "", 0, 0, false, ""},
		{"topic longer than body", V5, 0x30, []byte("\x00\x09ab"), false, "", "", 0, 0, false, ""},
		{"v5 no property length", V5, 0x30, []byte("\x00\x01t"), false, "", "", 0, 0, false, ""},
		{"QoS 1 packet id 0", V5, 0x32, []byte("\x00\x01t\x00\x00\x00x"), false, "", "", 0, 0, false, ""},
		{"topic alias", V5, 0x30, []byte("\x00\x00\x03\x23\x00\x01x"), false, "", "", 0, 0, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, id, ok := decodePublish(tc.v, tc.hdr, tc.body)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tc.ok, m)
			}
			if !ok {
				return
			}
			if m.Topic != tc.topic || !bytes.Equal(m.Payload, []byte(tc.payload)) || m.QoS != tc.qos || id != tc.id || m.Retain != tc.retain || m.Properties.ContentType != tc.ctype {
				t.Fatalf("got %+v id %d", m, id)
			}
		})
	}
}

func TestEncodedQoS0PublishDecodesBack(t *testing.T) {
	exp := uint32(3600)
	big := bytes.Repeat([]byte("p"), 300) // a two-byte remaining length
	for _, v := range []Version{V5, V311} {
		for _, m := range []Message{
			{Topic: "a/b", Payload: []byte("hi")},
			{Topic: "t", Payload: big, Retain: true},
			{Topic: "props", Payload: []byte("{}"), Properties: Properties{ContentType: "application/json", MessageExpiry: &exp,
				UserProperties: []UserProperty{{Key: "site", Value: "A"}}}},
		} {
			pkt := appendQoS0Publish(nil, v, m)
			if len(pkt) != publishPacketSize(v, m) {
				t.Fatalf("MQTT %s %s: size %d, publishPacketSize %d", v, m.Topic, len(pkt), publishPacketSize(v, m))
			}
			// Skip the fixed header to get the body.
			i := 1
			for pkt[i]&0x80 != 0 {
				i++
			}
			got, _, ok := decodePublish(v, pkt[0], pkt[i+1:])
			if !ok || got.Topic != m.Topic || !bytes.Equal(got.Payload, m.Payload) || got.Retain != m.Retain {
				t.Fatalf("MQTT %s: %+v decoded as %+v (ok=%v)", v, m, got, ok)
			}
			if v == V5 && (got.Properties.ContentType != m.Properties.ContentType || len(got.Properties.UserProperties) != len(m.Properties.UserProperties)) {
				t.Fatalf("properties %+v decoded as %+v", m.Properties, got.Properties)
			}
		}
	}
	// Golden bytes: MQTT 5, topic "a", payload "x", no properties.
	if got := appendQoS0Publish(nil, V5, Message{Topic: "a", Payload: []byte("x")}); !bytes.Equal(got, []byte{0x30, 5, 0, 1, 'a', 0, 'x'}) {
		t.Fatalf("golden: % x", got)
	}
}
