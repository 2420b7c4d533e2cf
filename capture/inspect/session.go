package inspect

import (
	"bytes"
	"strings"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/ecdata/ectool/probe/mqtt"
)

// session is the MQTT side of one connection: framing, the protocol
// version, and what the diagnosis needs to know of its packets.
type session struct {
	c    *conn
	d    *Decoder
	an   *analysis
	info *Connection
	fr   [2]*framer
	raw  rawPDU

	level     byte
	levelFrom string
	// alignOverride: framerSynced, not the TCP stream, says whether a
	// direction's MQTT bytes start at a packet (MQTT over WebSocket).
	alignOverride bool
	framerSynced  [2]bool

	clientID      string
	connectSeen   bool
	connectTime   time.Time
	connected     bool // a CONNACK accepted the CONNECT
	connackSeen   bool
	keepAlive     time.Duration
	clean         bool
	lastClient    time.Time
	maxSilence    time.Duration
	silenceAt     time.Time
	keepAliveHits int

	// maxToBroker / maxToClient: maximum packet sizes each side announced.
	maxToBroker, maxToClient uint32

	aliases [2]map[uint16]string
	flows   [2]map[uint16]flow // by the publisher's direction
	subs    map[uint16][]Filter
	lat     latencies

	endHow, endBy string
	endTime       time.Time
	endCode       *int
	endReason     string
	closedAt      time.Time
	finished      bool
}

func newSession(c *conn, proto Protocol) *session {
	d := c.d
	s := &session{c: c, d: d, an: d.an}
	s.info = d.an.newConnection(c, proto)
	if lvl := assumedLevel(d.opts.AssumeVersion); lvl != 0 {
		s.level, s.levelFrom = lvl, "assumed"
	}
	return s
}

// feed takes the next bytes of one direction's MQTT stream.
func (s *session) feed(dir int, ts time.Time, b []byte) {
	f := s.fr[dir]
	if f == nil {
		aligned := s.c.half[dir].aligned
		if s.alignOverride {
			aligned = s.framerSynced[dir]
		}
		f = newFramer(dir, s, &s.d.limits, aligned)
		s.fr[dir] = f
	}
	f.feed(ts, b)
}

func (s *session) gap(dir int, ts time.Time, n int) {
	if f := s.fr[dir]; f != nil {
		f.gap(ts, n)
	}
}

func (s *session) release() {
	for _, f := range s.fr {
		if f != nil {
			f.release()
			f.synced = false
		}
	}
}

func (s *session) framingLost(dir int, ts time.Time, reason string) {
	s.an.framingLost(s, ts, reason)
}

// pdu decodes one control packet and follows the conversation.
func (s *session) pdu(dir int, ts time.Time, raw *rawPDU) bool {
	if s.level == 0 {
		s.level, s.levelFrom = s.guessLevel(raw)
	}
	d := s.d
	m := &d.msg
	*m = Message{Time: ts, Stream: s.c.stream, ToBroker: dir == toBroker, ClientID: s.clientID}
	if dir == toBroker {
		m.Src, m.Dst = s.c.client(), s.c.broker()
	} else {
		m.Src, m.Dst = s.c.broker(), s.c.client()
	}
	level := s.level
	if level == 0 {
		level = level311 // neutral packets decode alike in every version
	}
	d.pkt.decode(level, raw, m)
	if m.Malformed != "" && raw.tentative {
		return false
	}
	if m.Type == Connect && m.Connect != nil && m.Malformed == "" {
		s.level, s.levelFrom = m.Connect.ProtocolVersion, "connect"
		s.info.Version, s.info.VersionFrom = levelString(s.level), s.levelFrom
	} else if s.levelFrom == "inferred" || s.levelFrom == "assumed" {
		s.info.Version, s.info.VersionFrom = levelString(s.level), s.levelFrom
	}
	s.handle(dir, m)
	return m.Malformed == ""
}

// guessLevel infers the version of a connection whose CONNECT was not
// captured from packets whose shape differs between 3.1.1 and 5; it
// returns 0 while the packets could be either.
func (s *session) guessLevel(raw *rawPDU) (byte, string) {
	rem := raw.remaining()
	b := raw.body
	v := byte(0)
	switch raw.first >> 4 {
	case typeConnect:
		return 0, ""
	case typeConnack:
		v = level311
		if rem > 2 {
			v = level5
		}
	case typePuback, typePubrec, typePubrel, typePubcomp, typeDisconnect:
		if rem > 2 || (raw.first>>4 == typeDisconnect && rem > 0) {
			v = level5
		}
	case typeUnsuback:
		v = level311
		if rem > 2 {
			v = level5
		}
	case typeSuback:
		if rem == 3 {
			v = level311
		} else if len(b) > 2 && b[2] > 2 && b[2] != 0x80 {
			v = level5
		}
	case typeAuth:
		v = level5
	case typePublish:
		v = publishLevel(raw)
	}
	if v == 0 {
		return 0, ""
	}
	return v, "inferred"
}

// publishLevel tells a 3.1.1 PUBLISH from a 5 one by what follows the
// topic: MQTT 5 puts a property block there, which 3.1.1's payload (JSON,
// text) is very unlikely to form.
func publishLevel(raw *rawPDU) byte {
	b := raw.body
	if len(b) < 2 {
		return 0
	}
	off := 2 + (int(b[0])<<8 | int(b[1]))
	if raw.first&0x06 != 0 {
		off += 2
	}
	if off >= len(b) {
		return level311 // nothing after the topic: no property length
	}
	var p packets.Properties
	if !propsParse(&p, b[off:]) {
		return level311
	}
	return level5
}

func propsParse(p *packets.Properties, b []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_, err := p.Decode(packets.Publish, bytes.NewBuffer(b))
	return err == nil
}

// handle follows the conversation: connection state, flows, topics.
func (s *session) handle(dir int, m *Message) {
	s.an.countPacket(s, dir, m)
	if dir == toBroker {
		s.clientActivity(m.Time)
	}
	s.checkSize(dir, m)
	if m.Type != Connect && m.Type != Connack && !s.connected {
		s.an.res.PacketsBeforeConnack++
	}
	switch m.Type {
	case Connect:
		s.onConnect(dir, m)
	case Connack:
		s.onConnack(dir, m)
	case Publish:
		s.onPublish(dir, m)
	case Puback, Pubrec, Pubrel, Pubcomp:
		// Emitted first: the -t filter looks the flow up, which the
		// acknowledgement may close.
		s.an.emit(s, dir, m)
		s.onAck(dir, m)
		return
	case Subscribe:
		if m.Malformed == "" && len(m.Filters) > 0 {
			if s.subs == nil {
				s.subs = map[uint16][]Filter{}
			}
			fs := make([]Filter, len(m.Filters))
			for i, f := range m.Filters {
				fs[i] = Filter{Filter: strings.Clone(f.Filter), QoS: f.QoS}
			}
			s.subs[m.PacketID] = fs
		}
	case Suback:
		s.onSuback(m)
	case Disconnect:
		if s.endHow == "" {
			s.endHow, s.endTime = "disconnect", m.Time
			s.endBy = byName(dir)
			if m.HasReason {
				c := int(m.ReasonCode)
				s.endCode, s.endReason = &c, m.Reason
				if dir == toClient && m.ReasonCode == 0x8D {
					s.endHow = "keepalive_expiry"
				}
			}
		}
	}
	s.an.emit(s, dir, m)
}

func byName(dir int) string {
	if dir == toBroker {
		return "client"
	}
	return "broker"
}

func (s *session) clientActivity(ts time.Time) {
	if !s.lastClient.IsZero() && s.connectSeen {
		if gap := ts.Sub(s.lastClient); gap > s.maxSilence {
			s.maxSilence, s.silenceAt = gap, s.lastClient
		}
	}
	s.lastClient = ts
}

func (s *session) onConnect(dir int, m *Message) {
	if dir != toBroker {
		s.an.malformed(s, m, "CONNECT sent by the broker")
		return
	}
	if m.Connect == nil {
		return
	}
	if s.connectSeen {
		s.an.malformed(s, m, "a second CONNECT on the same connection")
		return
	}
	c := m.Connect
	s.connectSeen, s.connectTime = true, m.Time
	s.clientID = strings.Clone(m.ClientID)
	s.keepAlive = time.Duration(c.KeepAlive) * time.Second
	s.clean = c.CleanSession
	if m.Props != nil && m.Props.MaximumPacketSize != nil {
		s.maxToClient = *m.Props.MaximumPacketSize
	}
	in := s.info
	in.ClientID = &s.clientID
	in.UsernamePresent, in.PasswordPresent = c.UsernameFlag, c.PasswordFlag
	ka := int(c.KeepAlive)
	in.KeepAliveS = &ka
	clean := c.CleanSession
	in.CleanSession = &clean
	in.MidSession = false
	if c.WillFlag {
		in.Will = &Will{Topic: strings.Clone(c.WillTopic), QoS: c.WillQoS, Retain: c.WillRetain}
	}
	s.lastClient = m.Time
	s.an.connect(s, m.Time)
}

func (s *session) onConnack(dir int, m *Message) {
	if dir != toClient {
		s.an.malformed(s, m, "CONNACK sent by the client")
		return
	}
	s.connackSeen = true
	if !s.connectSeen && s.c.half[toBroker].aligned {
		s.an.res.ConnackWithoutConnect++
	}
	ci := &ConnackInfo{ReasonCode: int(m.ReasonCode), Reason: m.Reason, Accepted: m.ReasonCode == 0, SessionPresent: m.SessionPresent}
	if s.connectSeen {
		l := msSince(s.connectTime, m.Time)
		ci.LatencyMS = &l
	}
	if p := m.Props; p != nil {
		if p.MaximumPacketSize != nil {
			s.maxToBroker = *p.MaximumPacketSize
			ci.MaximumPacketSize = p.MaximumPacketSize
		}
		if p.AssignedClientID != "" {
			ci.AssignedClientID = strings.Clone(p.AssignedClientID)
			if s.clientID == "" {
				s.clientID = ci.AssignedClientID
				s.info.ClientID = &s.clientID
			}
		}
		if p.ServerKeepAlive != nil {
			ka := int(*p.ServerKeepAlive)
			ci.ServerKeepAliveS = &ka
			s.keepAlive = time.Duration(ka) * time.Second
		}
	}
	s.info.Connack = ci
	if m.ReasonCode == 0 {
		s.connected = true
		return
	}
	s.an.refused(s, m)
}

// checkSize compares a packet with the maximum packet size its receiver
// announced (CONNACK for what the client sends, CONNECT for the broker).
func (s *session) checkSize(dir int, m *Message) {
	limit := s.maxToBroker
	if dir == toClient {
		limit = s.maxToClient
	}
	if limit > 0 && uint32(m.Size) > limit {
		s.an.oversize(s, dir, m, limit)
	}
}

func (s *session) onSuback(m *Message) {
	fs, ok := s.subs[m.PacketID]
	if !ok {
		return
	}
	delete(s.subs, m.PacketID)
	for i, code := range m.ReasonCodes {
		if code < 0x80 {
			continue
		}
		filter := "?"
		if i < len(fs) {
			filter = fs[i].Filter
		}
		s.an.subRefused(s, m, filter, code, mqtt.ReasonText(reasonVersion(s.level), mqtt.PacketSuback, code))
	}
}

// closed records the end of the TCP connection (the first FIN or RST).
func (s *session) closed(dir int, ts time.Time, rst bool) {
	if s.closedAt.IsZero() {
		s.closedAt = ts
	}
	if s.endHow != "" {
		return
	}
	s.endHow, s.endBy, s.endTime = "fin", byName(dir), ts
	if rst {
		s.endHow = "rst"
	}
	// A broker that closes on a client silent beyond 1.5 × its keep-alive
	// has let the keep-alive expire.
	if dir == toClient && s.keepAlive > 0 && !s.lastClient.IsZero() && ts.Sub(s.lastClient) > s.keepAlive*3/2 {
		s.endHow = "keepalive_expiry"
	}
}

func msSince(a, b time.Time) float64 {
	return float64(b.Sub(a).Microseconds()) / 1000
}
