package pcapsynth

import (
	"encoding/binary"
)

// MQTT packets for test captures, encoded by hand so tests control every
// byte (mochi's encoder would refuse the malformed ones).

func appendLength(b []byte, n int) []byte {
	for {
		c := byte(n % 128)
		n /= 128
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// Packet frames a body behind a fixed header.
func Packet(first byte, body []byte) []byte {
	b := appendLength([]byte{first}, len(body))
	return append(b, body...)
}

// Connect is a CONNECT: level 3 (MQTT 3.1, "MQIsdp"), 4 (3.1.1) or 5.
func Connect(level byte, clientID string, keepAlive uint16, clean bool, user, password string) []byte {
	name := "MQTT"
	if level == 3 {
		name = "MQIsdp"
	}
	flags := byte(0)
	if clean {
		flags |= 0x02
	}
	if user != "" {
		flags |= 0x80
	}
	if password != "" {
		flags |= 0x40
	}
	b := appendString(nil, name)
	b = append(b, level, flags)
	b = binary.BigEndian.AppendUint16(b, keepAlive)
	if level == 5 {
		b = append(b, 0)
	}
	b = appendString(b, clientID)
	if user != "" {
		b = appendString(b, user)
	}
	if password != "" {
		b = appendString(b, password)
	}
	return Packet(0x10, b)
}

// Connack answers CONNECT with a return or reason code.
func Connack(level byte, code byte) []byte {
	if level == 5 {
		return Packet(0x20, []byte{0, code, 0})
	}
	return Packet(0x20, []byte{0, code})
}

// Publish is a PUBLISH (packet id ignored at QoS 0).
func Publish(level byte, topic string, payload []byte, qos byte, id uint16, retain, dup bool) []byte {
	first := byte(0x30) | qos<<1
	if retain {
		first |= 1
	}
	if dup {
		first |= 0x08
	}
	b := appendString(make([]byte, 0, len(topic)+len(payload)+8), topic)
	if qos > 0 {
		b = binary.BigEndian.AppendUint16(b, id)
	}
	if level == 5 {
		b = append(b, 0)
	}
	b = append(b, payload...)
	return Packet(first, b)
}

// Ack is PUBACK (4), PUBREC (5), PUBREL (6) or PUBCOMP (7); a reason code
// is written for MQTT 5 when not 0.
func Ack(typ byte, level byte, id uint16, reason byte) []byte {
	first := typ << 4
	if typ == 6 {
		first |= 0x02
	}
	b := binary.BigEndian.AppendUint16(nil, id)
	if level == 5 && reason != 0 {
		b = append(b, reason)
	}
	return Packet(first, b)
}

// Subscribe asks for one filter.
func Subscribe(level byte, id uint16, filter string, qos byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	if level == 5 {
		b = append(b, 0)
	}
	b = appendString(b, filter)
	b = append(b, qos)
	return Packet(0x82, b)
}

// Suback grants (or refuses, 0x80 and up) one filter.
func Suback(level byte, id uint16, code byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	if level == 5 {
		b = append(b, 0)
	}
	return Packet(0x90, append(b, code))
}

// Fixed packets.
var (
	Pingreq    = []byte{0xc0, 0}
	Pingresp   = []byte{0xd0, 0}
	Disconnect = []byte{0xe0, 0}
)
