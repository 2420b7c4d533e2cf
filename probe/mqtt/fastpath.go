package mqtt

import (
	"bytes"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// fastPath delivers QoS 0 PUBLISH packets straight from the connection to
// the message queue (see bufConn.setIntercept), in order with the messages
// the library delivers: while any PUBLISH handed to the library has not
// come out of it yet, QoS 0 messages take the library's way too.
//
// With MQTT 5 QoS 1 messages take the fast path too, and it sends their
// PUBACK itself: paho.golang writes every packet under the connection's
// lock, so the acknowledgement cannot land inside one of its packets.
// (paho.mqtt.golang gives no such promise, so 3.1.1 keeps QoS 1 for it.)
type fastPath struct {
	q       *msgQueue
	version Version
	conn    *bufConn
	inLib   atomic.Int64 // PUBLISH packets in the library's pipeline
}

func (f *fastPath) install(conn *bufConn) {
	f.conn = conn
	maxQoS := byte(0)
	if f.version == V5 {
		maxQoS = 1
	}
	conn.setIntercept(maxQoS, f.take, func() { f.inLib.Add(1) })
}

// delivered is called by the library's message handler.
func (f *fastPath) delivered() { f.inLib.Add(-1) }

func (f *fastPath) take(hdr byte, body []byte) bool {
	if f.inLib.Load() > 0 {
		return false
	}
	m, id, ok := decodePublish(f.version, hdr, body)
	if !ok {
		return false // let the library report what is wrong with it
	}
	m.Received = time.Now()
	if m.QoS == 1 {
		// Acknowledge (reason code omitted: success) before the message
		// can reach the consumer, so a DISCONNECT it sends next follows
		// the PUBACK on the wire.
		f.conn.Lock()
		_, _ = f.conn.Write([]byte{0x40, 2, byte(id >> 8), byte(id)})
		f.conn.Unlock()
	}
	f.q.push(m)
	return true
}

// decodePublish decodes the body of a QoS 0 or 1 PUBLISH and returns its
// packet identifier (0 at QoS 0). The payload aliases body.
func decodePublish(v Version, hdr byte, body []byte) (Message, uint16, bool) {
	if len(body) < 2 {
		return Message{}, 0, false
	}
	tl := int(body[0])<<8 | int(body[1])
	if len(body) < 2+tl {
		return Message{}, 0, false
	}
	m := Message{Topic: string(body[2 : 2+tl]), QoS: (hdr >> 1) & 3, Retain: hdr&1 != 0, Dup: hdr&8 != 0}
	rest := body[2+tl:]
	var id uint16
	if m.QoS > 0 {
		if len(rest) < 2 {
			return Message{}, 0, false
		}
		id = uint16(rest[0])<<8 | uint16(rest[1])
		if id == 0 {
			return Message{}, 0, false
		}
		rest = rest[2:]
	}
	if v == V5 {
		if len(rest) == 0 {
			return Message{}, 0, false
		}
		if rest[0] == 0 { // no properties: the usual case
			rest = rest[1:]
		} else {
			props := &packets.Properties{}
			buf := bytes.NewBuffer(rest)
			if err := props.Unpack(buf, packets.PUBLISH); err != nil {
				return Message{}, 0, false
			}
			if props.TopicAlias != nil {
				return Message{}, 0, false // never asked for; leave it to the library
			}
			rest = rest[len(rest)-buf.Len():]
			m.Properties = Properties{
				ContentType: props.ContentType, MessageExpiry: props.MessageExpiry, PayloadFormat: props.PayloadFormat,
				ResponseTopic: props.ResponseTopic, CorrelationData: props.CorrelationData,
			}
			for _, u := range props.User {
				m.Properties.UserProperties = append(m.Properties.UserProperties, UserProperty{Key: u.Key, Value: u.Value})
			}
		}
	}
	m.Payload = rest
	return m, id, true
}

// appendQoS0Publish encodes a QoS 0 PUBLISH of m for version v onto dst: the
// send side of the fast path, one append into the connection's buffer
// instead of the library's several allocations and writes per message.
func appendQoS0Publish(dst []byte, v Version, m Message) []byte {
	var props []byte
	if v == V5 {
		props = appendPublishProperties(nil, m.Properties)
	}
	remaining := 2 + len(m.Topic) + len(m.Payload)
	if v == V5 {
		remaining += vbiLen(len(props)) + len(props)
	}
	hdr := byte(0x30)
	if m.Retain {
		hdr |= 1
	}
	dst = append(dst, hdr)
	dst = appendVBI(dst, remaining)
	dst = append(dst, byte(len(m.Topic)>>8), byte(len(m.Topic)))
	dst = append(dst, m.Topic...)
	if v == V5 {
		dst = appendVBI(dst, len(props))
		dst = append(dst, props...)
	}
	return append(dst, m.Payload...)
}

// publishPacketSize is the encoded size of a QoS 0 PUBLISH of m.
func publishPacketSize(v Version, m Message) int {
	n := 2 + len(m.Topic) + len(m.Payload)
	if v == V5 {
		p := len(appendPublishProperties(nil, m.Properties))
		n += vbiLen(p) + p
	}
	return 1 + vbiLen(n) + n
}

func appendPublishProperties(dst []byte, p Properties) []byte {
	str := func(dst []byte, id byte, s []byte) []byte {
		dst = append(dst, id, byte(len(s)>>8), byte(len(s)))
		return append(dst, s...)
	}
	if p.PayloadFormat != nil {
		dst = append(dst, 0x01, *p.PayloadFormat)
	}
	if e := p.MessageExpiry; e != nil {
		dst = append(dst, 0x02, byte(*e>>24), byte(*e>>16), byte(*e>>8), byte(*e))
	}
	if p.ContentType != "" {
		dst = str(dst, 0x03, []byte(p.ContentType))
	}
	if p.ResponseTopic != "" {
		dst = str(dst, 0x08, []byte(p.ResponseTopic))
	}
	if p.CorrelationData != nil {
		dst = str(dst, 0x09, p.CorrelationData)
	}
	for _, u := range p.UserProperties {
		dst = str(dst, 0x26, []byte(u.Key))
		dst = append(dst, byte(len(u.Value)>>8), byte(len(u.Value)))
		dst = append(dst, u.Value...)
	}
	return dst
}

func appendVBI(dst []byte, n int) []byte {
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		dst = append(dst, b)
		if n == 0 {
			return dst
		}
	}
}

func vbiLen(n int) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	}
	return 4
}
