package mqtt

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	paho5packets "github.com/eclipse/paho.golang/packets"
	paho311packets "github.com/eclipse/paho.mqtt.golang/packets"
)

// pahoDecoded is what the library a version uses makes of a PUBLISH packet:
// the message and its packet identifier, or why it refused the packet.
func pahoDecoded(v Version, pkt []byte) (Message, uint16, error) {
	if v == V5 {
		cp, err := paho5packets.ReadPacket(bytes.NewReader(pkt))
		if err != nil {
			return Message{}, 0, err
		}
		p, ok := cp.Content.(*paho5packets.Publish)
		if !ok {
			return Message{}, 0, fmt.Errorf("not a PUBLISH: %T", cp.Content)
		}
		m := Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Dup: p.Duplicate}
		if pp := p.Properties; pp != nil {
			m.Properties = Properties{ContentType: pp.ContentType, MessageExpiry: pp.MessageExpiry, PayloadFormat: pp.PayloadFormat,
				ResponseTopic: pp.ResponseTopic, CorrelationData: pp.CorrelationData}
			for _, u := range pp.User {
				m.Properties.UserProperties = append(m.Properties.UserProperties, UserProperty{Key: u.Key, Value: u.Value})
			}
			if pp.TopicAlias != nil {
				return m, p.PacketID, fmt.Errorf("topic alias %d", *pp.TopicAlias)
			}
		}
		return m, p.PacketID, nil
	}
	cp, err := paho311packets.ReadPacket(bytes.NewReader(pkt))
	if err != nil {
		return Message{}, 0, err
	}
	p, ok := cp.(*paho311packets.PublishPacket)
	if !ok {
		return Message{}, 0, fmt.Errorf("not a PUBLISH: %T", cp)
	}
	return Message{Topic: p.TopicName, Payload: p.Payload, QoS: p.Qos, Retain: p.Retain, Dup: p.Dup}, p.MessageID, nil
}

// fastPathAgreesWithPaho decodes one PUBLISH (fixed header byte hdr, body)
// with the fast path and with paho, and returns what differs: a message
// the fast path takes must be the message paho makes of the same bytes
// (the fast path may leave a packet to the library, never read it
// differently).
func fastPathAgreesWithPaho(v Version, hdr byte, body []byte) string {
	m, id, ok := decodePublish(v, hdr, body)
	if !ok {
		return ""
	}
	pkt := appendVBI([]byte{hdr}, len(body))
	pkt = append(pkt, body...)
	want, wantID, err := pahoDecoded(v, pkt)
	switch {
	case err != nil:
		return fmt.Sprintf("MQTT %s: the fast path took % x as %+v, paho refuses it: %v", v, pkt, m, err)
	case m.Topic != want.Topic || !bytes.Equal(m.Payload, want.Payload) || m.QoS != want.QoS || m.Retain != want.Retain ||
		m.Dup != want.Dup || id != wantID:
		return fmt.Sprintf("MQTT %s: % x: fast path %+v id %d, paho %+v id %d", v, pkt, m, id, want, wantID)
	case !reflect.DeepEqual(m.Properties, want.Properties):
		return fmt.Sprintf("MQTT %s: % x: fast path properties %+v, paho %+v", v, pkt, m.Properties, want.Properties)
	}
	return ""
}

// publishSeeds are PUBLISH packets as brokers send them (and a few they
// should not), split into the fixed header byte and the body.
func publishSeeds() []struct {
	v    Version
	hdr  byte
	body []byte
} {
	exp, pf := uint32(3600), byte(1)
	seeds := []struct {
		v    Version
		hdr  byte
		body []byte
	}{
		{V5, 0x30, []byte("\x00\x03a/b\x00hi")},
		{V5, 0x31, []byte("\x00\x01t\x00x")},
		{V5, 0x32, []byte("\x00\x01t\x01\x02\x00x")},
		{V5, 0x3a, []byte("\x00\x01t\x01\x02\x00dup")},
		{V5, 0x30, []byte("\x00\x01t\x07\x03\x00\x04text{}")},
		{V5, 0x30, []byte("\x00\x01t\x00")},
		{V5, 0x30, []byte("\x00\x00\x03\x23\x00\x01x")},
		{V311, 0x30, []byte("\x00\x03a/bhello")},
		{V311, 0x31, []byte("\x00\x01t")},
		{V311, 0x32, []byte("\x00\x01t\x00\x07x")},
	}
	for _, v := range []Version{V5, V311} {
		for _, m := range []Message{
			{Topic: "ec-data/site1/meter1/telemetry", Payload: []byte(`{"p":1200}`)},
			{Topic: "t", Payload: bytes.Repeat([]byte("p"), 300), Retain: true},
			{Topic: "props", Payload: []byte("{}"), Properties: Properties{ContentType: "application/json", MessageExpiry: &exp,
				PayloadFormat: &pf, ResponseTopic: "r/t", CorrelationData: []byte{1, 2},
				UserProperties: []UserProperty{{Key: "site", Value: "A"}, {Key: "site", Value: "B"}}}},
		} {
			pkt := appendQoS0Publish(nil, v, m)
			i := 1
			for pkt[i]&0x80 != 0 {
				i++
			}
			seeds = append(seeds, struct {
				v    Version
				hdr  byte
				body []byte
			}{v, pkt[0], pkt[i+1:]})
		}
	}
	return seeds
}

// The QoS 0 (and MQTT 5 QoS 1) fast path reads every PUBLISH it takes as
// paho reads the same bytes.
func TestFastPathDecodesAsPahoDoes(t *testing.T) {
	for _, s := range publishSeeds() {
		if diff := fastPathAgreesWithPaho(s.v, s.hdr, s.body); diff != "" {
			t.Error(diff)
		}
	}
}

// FuzzFastPathAgreesWithPaho looks for bytes the fast path and paho read
// differently.
func FuzzFastPathAgreesWithPaho(f *testing.F) {
	for _, s := range publishSeeds() {
		f.Add(s.v == V5, s.hdr, s.body)
	}
	f.Fuzz(func(t *testing.T, v5 bool, hdr byte, body []byte) {
		v := V311
		if v5 {
			v = V5
		}
		// The connection hands the fast path PUBLISH packets of QoS 0 and 1 only.
		if hdr>>4 != 3 || (hdr>>1)&3 > 1 {
			return
		}
		if diff := fastPathAgreesWithPaho(v, hdr, body); diff != "" {
			t.Error(diff)
		}
	})
}
