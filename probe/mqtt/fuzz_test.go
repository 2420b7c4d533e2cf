package mqtt

import (
	"bytes"
	"testing"
	"time"
	"unicode/utf8"
)

// Every byte the broker sends passes through these parsers before anything
// else sees it: they must never panic, whatever arrives.

func FuzzDecodePublish(f *testing.F) {
	f.Add(true, byte(0x30), []byte("\x00\x03a/b\x00hi"))
	f.Add(true, byte(0x32), []byte("\x00\x01t\x01\x02\x00x"))
	f.Add(true, byte(0x30), []byte("\x00\x01t\x07\x03\x00\x04text{}"))
	f.Add(true, byte(0x30), []byte("\x00\x01t\x7f\x26\x00\x01k"))
	f.Add(false, byte(0x31), []byte("\x00\x03a/bhello"))
	f.Fuzz(func(t *testing.T, v5 bool, hdr byte, body []byte) {
		v := V311
		if v5 {
			v = V5
		}
		m, id, ok := decodePublish(v, hdr, body)
		if !ok {
			return
		}
		if m.QoS > 0 && id == 0 {
			t.Fatalf("QoS %d publish decoded with packet id 0", m.QoS)
		}
		if len(m.Topic)+len(m.Payload) > len(body) {
			t.Fatalf("decoded more bytes than the body holds")
		}
	})
}

func FuzzQoS0PublishRoundTrip(f *testing.F) {
	f.Add(true, "ec-data/site/meter/telemetry", []byte(`{"kwh":1}`), "application/json", true)
	f.Add(false, "a", []byte{0, 1, 2}, "", false)
	f.Fuzz(func(t *testing.T, v5 bool, topic string, payload []byte, contentType string, retain bool) {
		if len(topic) > 0xffff || !utf8.ValidString(topic) || !utf8.ValidString(contentType) || len(contentType) > 0xffff {
			return
		}
		v := V311
		if v5 {
			v = V5
		}
		m := Message{Topic: topic, Payload: payload, Retain: retain}
		if v5 {
			m.Properties.ContentType = contentType
		}
		pkt := appendQoS0Publish(nil, v, m)
		if len(pkt) != publishPacketSize(v, m) {
			t.Fatalf("encoded %d bytes, size says %d", len(pkt), publishPacketSize(v, m))
		}
		// Skip the fixed header: type byte and variable-length remaining length.
		i := 1
		for pkt[i]&0x80 != 0 {
			i++
		}
		got, _, ok := decodePublish(v, pkt[0], pkt[i+1:])
		if !ok {
			t.Fatalf("own encoding not decodable: % x", pkt)
		}
		if got.Topic != topic || !bytes.Equal(got.Payload, payload) || got.Retain != retain {
			t.Fatalf("round trip changed the message: %+v", got)
		}
		if v5 && got.Properties.ContentType != contentType {
			t.Fatalf("content type %q, want %q", got.Properties.ContentType, contentType)
		}
	})
}

func FuzzParseSeqPayload(f *testing.F) {
	f.Add(AppendSeqPayload(nil, "ectool-1", 7, time.Unix(1795768613, 622288841), "hello"))
	f.Add([]byte(`{"seq":1,"ts":2}`))
	f.Add([]byte(`{"seq":-1,"ts":"x"}`))
	f.Add([]byte(`{"seq":`))
	f.Fuzz(func(t *testing.T, p []byte) {
		info, ok := ParseSeqPayload(p)
		if !ok {
			return
		}
		tr := &SeqTracker{}
		tr.Observe(info)
		tr.Observe(info)
		if s := tr.Summary(); s.Duplicated != 1 {
			t.Fatalf("the same sequence number twice must count one duplicate: %+v", s)
		}
	})
}

func FuzzParseBroker(f *testing.F) {
	for _, s := range []string{"mqtt://127.0.0.1:1883", "mqtts://broker:8883", "ws://h/mqtt", "wss://[::1]:443/x", "h:1", "ftp://x", "mqtt://u:p@h", "mqtt://h:99999", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		b, err := ParseBroker(raw)
		if err != nil {
			return
		}
		if b.Host == "" || b.Port <= 0 || b.Port > 65535 {
			t.Fatalf("%q accepted as %+v", raw, b)
		}
		if _, err := ParseBroker(b.String()); err != nil {
			t.Fatalf("%q parsed, but its own String() %q does not: %v", raw, b.String(), err)
		}
	})
}

func FuzzValidateTopic(f *testing.F) {
	for _, s := range []string{"a/b", "a/+/c", "#", "a/#/b", "", "a\x00b", "$SYS/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateTopic(s) == nil && bytes.ContainsAny([]byte(s), "+#\x00") {
			t.Fatalf("publish topic %q with a wildcard or NUL accepted", s)
		}
		_ = ValidateFilter(s)
	})
}

// What a server that is not a broker sends first is worded for a
// technician: never a panic, always valid UTF-8, never a bare byte that
// would garble a terminal.
func FuzzNotMQTTWords(f *testing.F) {
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
	f.Add([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46})
	f.Add([]byte("SSH-2.0-OpenSSH_9.2p1\r\n"))
	f.Add([]byte{0x48, 0x00, 0xff})
	f.Add([]byte("HTTP/"))
	f.Fuzz(func(t *testing.T, first []byte) {
		for _, tls := range []bool{false, true} {
			b := Broker{Scheme: "mqtt", Host: "h", Port: 1883}
			if tls {
				b.Scheme = "mqtts"
			}
			msg, hint := notMQTTWords(first, b)
			for _, s := range []string{msg, hint} {
				if s == "" || !utf8.ValidString(s) {
					t.Fatalf("words %q / %q for % X", msg, hint, first)
				}
				for _, r := range s {
					if r < 0x20 || r == 0x7f {
						t.Fatalf("control character in %q for % X", s, first)
					}
				}
			}
		}
	})
}

// The PINGREQ count follows packet boundaries whatever bytes are sent.
func FuzzOutScanNeverPanics(f *testing.F) {
	f.Add([]byte{0xC0, 0x00, 0x30, 0x02, 0xC0, 0x00})
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, p []byte) {
		var whole, split outScan
		whole.scan(p)
		for i := range p {
			split.scan(p[i : i+1])
		}
		if whole.pings != split.pings {
			t.Fatalf("% X: %d PINGREQs in one write, %d byte by byte", p, whole.pings, split.pings)
		}
	})
}
