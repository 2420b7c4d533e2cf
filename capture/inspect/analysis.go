package inspect

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// maxTopics bounds the per-topic table; publishes to further topics are
// counted under otherTopics.
const (
	maxTopics   = 100000
	otherTopics = "(other topics)"
)

// analysis gathers what every connection contributes to the diagnosis.
type analysis struct {
	opts  *Options
	res   *Result
	start time.Time
	end   time.Time

	topics   map[string]*Topic
	connects map[string][]connectAt // CONNECTs per client id
	live     map[string]*session    // the latest connection of each client id
	filters  []string
}

type connectAt struct {
	ts     time.Time
	stream int
}

func newAnalysis(o *Options) *analysis {
	return &analysis{opts: o, res: &Result{}, topics: map[string]*Topic{}, connects: map[string][]connectAt{},
		live: map[string]*session{}, filters: o.Topics}
}

func (an *analysis) seen(ts time.Time) {
	if an.start.IsZero() || ts.Before(an.start) {
		an.start = ts
	}
	if ts.After(an.end) {
		an.end = ts
	}
}

func (an *analysis) linkUnknown(lt layers.LinkType) {
	if an.res.Input.LinkTypes == nil {
		an.res.Input.LinkTypes = map[string]int{}
	}
	an.res.Input.LinkTypes[fmt.Sprintf("%s (%d)", lt, int(lt))]++
}

// newConnection starts a connection's record; it is added to the result
// when the connection is done.
func (an *analysis) newConnection(c *conn, proto Protocol) *Connection {
	return &Connection{Stream: c.stream, Client: c.client().String(), Broker: c.broker().String(), Protocol: string(proto),
		VersionFrom: "unknown", MidSession: true, Start: Stamp(c.first), Types: map[string]int{}, included: len(an.opts.Clients) == 0}
}

func (an *analysis) included(s *session) bool { return s.info.included }

// connect records a CONNECT: the client filter, reconnect counting and a
// session another connection of the same client id leaves behind.
func (an *analysis) connect(s *session, ts time.Time) {
	id := s.clientID
	if len(an.opts.Clients) > 0 {
		s.info.included = false
		for _, c := range an.opts.Clients {
			if c == id {
				s.info.included = true
			}
		}
	}
	if id == "" {
		return
	}
	if ts := an.connects[id]; len(ts) < 100000 {
		an.connects[id] = append(ts, connectAt{s.connectTime, s.c.stream})
	}
	if old := an.live[id]; old != nil && old != s && !old.finished {
		if !s.clean {
			s.takeFlows(old)
		}
		if old.endHow == "" && old.closedAt.IsZero() {
			old.endHow, old.endBy, old.endTime = "taken_over", "client", ts
		}
	}
	an.live[id] = s
}

func (an *analysis) countPacket(s *session, dir int, m *Message) {
	in := s.info
	if dir == toBroker {
		in.PacketsToBroker++
	} else {
		in.PacketsToClient++
	}
	in.typeCount[m.Type&0x0f]++
	if m.Malformed != "" && in.included {
		in.Malformed++
		an.res.Decode.add(an.instance(s, m.Time, m.Malformed))
	}
}

func (an *analysis) instance(s *session, ts time.Time, what string) Instance {
	return Instance{Time: Stamp(ts), Stream: s.c.stream, ClientID: s.clientID, Client: s.info.Client, What: what}
}

func (an *analysis) malformed(s *session, m *Message, why string) {
	if m.Malformed == "" {
		m.Malformed = why
		if s.info.included {
			s.info.Malformed++
			an.res.Decode.add(an.instance(s, m.Time, why))
		}
	}
}

func (an *analysis) framingLost(s *session, ts time.Time, reason string) {
	if s.info.included {
		an.res.Decode.add(an.instance(s, ts, "MQTT framing lost: "+reason))
	}
}

// topic returns the record of a topic, made when first seen.
func (an *analysis) topic(name string) *Topic {
	if t, ok := an.topics[name]; ok {
		return t
	}
	if len(an.topics) >= maxTopics {
		name = otherTopics
		if t, ok := an.topics[name]; ok {
			return t
		}
	}
	name = strings.Clone(name)
	t := &Topic{Topic: name, included: matchesAny(an.filters, name)}
	an.topics[name] = t
	return t
}

func (an *analysis) publish(s *session, dir int, m *Message, name string) *Topic {
	t := an.topic(name)
	if !t.included || !s.info.included {
		return t
	}
	t.Publishes++
	if dir == toBroker {
		t.ToBroker++
		if t.publishers == nil {
			t.publishers = map[string]struct{}{}
		}
		if len(t.publishers) < 1000 {
			if _, ok := t.publishers[s.clientID]; !ok {
				t.publishers[strings.Clone(s.clientID)] = struct{}{}
			}
		}
		if t.lastPublish.IsZero() {
			t.First = Stamp(m.Time)
		}
		t.lastPublish = m.Time
	} else {
		t.ToClients++
	}
	switch m.QoS {
	case 0:
		t.QoS0++
	case 1:
		t.QoS1++
	default:
		t.QoS2++
	}
	if m.Retain {
		t.Retained++
	}
	if m.Dup {
		t.Dup++
	}
	t.Bytes += int64(m.PayloadSize)
	if time.Time(t.First).IsZero() {
		t.First = Stamp(m.Time)
	}
	t.Last = Stamp(m.Time)
	return t
}

func (an *analysis) refused(s *session, m *Message) {
	if !s.info.included {
		return
	}
	c := int(m.ReasonCode)
	in := an.instance(s, m.Time, fmt.Sprintf("the broker refused the connection: 0x%02X %s", m.ReasonCode, m.Reason))
	in.Code = &c
	an.res.Refused.add(in)
}

func (an *analysis) noConnack(s *session) {
	if !s.info.included {
		return
	}
	if s.endHow == "" || s.endHow == "capture_end" {
		an.res.ConnectsPending++
		return
	}
	an.res.ConnectsWithoutAck++
	what := fmt.Sprintf("no CONNACK: the %s closed the connection (%s) without one", s.endBy, s.endHow)
	an.res.Refused.add(an.instance(s, s.connectTime, what))
}

func (an *analysis) wsRefused(s *session, status int) {
	if s.info.included {
		an.res.Refused.add(an.instance(s, s.c.first, fmt.Sprintf("the WebSocket upgrade was refused: HTTP %d", status)))
	}
}

func (an *analysis) keepAliveExceeded(s *session) {
	if !s.info.included {
		return
	}
	an.res.KeepAlive.add(an.instance(s, s.silenceAt, fmt.Sprintf("silent for %.1f s with a keep-alive of %s (limit 1.5 × = %.1f s)",
		s.maxSilence.Seconds(), s.keepAlive, (s.keepAlive*3/2).Seconds())))
}

func (an *analysis) oversize(s *session, dir int, m *Message, limit uint32) {
	if !s.info.included {
		return
	}
	whose := "the broker's (CONNACK)"
	if dir == toClient {
		whose = "the client's (CONNECT)"
	}
	in := an.instance(s, m.Time, fmt.Sprintf("%s of %d bytes over %s maximum packet size %d", m.Type.Upper(), m.Size, whose, limit))
	in.Topic = strings.Clone(m.Topic)
	an.res.Size.add(in)
}

func (an *analysis) subRefused(s *session, m *Message, filter string, code byte, reason string) {
	if !s.info.included || !matchesFilterAny(an.filters, filter) {
		return
	}
	c := int(code)
	in := an.instance(s, m.Time, fmt.Sprintf("subscription to %s refused: 0x%02X %s", filter, code, reason))
	in.Topic, in.Code = filter, &c
	an.res.Subscribe.add(in)
}

func (an *analysis) publishRefused(s *session, m *Message, f flow) {
	if !s.info.included || (f.topic != nil && !f.topic.included) {
		return
	}
	c := int(m.ReasonCode)
	in := an.instance(s, m.Time, fmt.Sprintf("QoS %d PUBLISH refused with %s: 0x%02X %s", f.qos, m.Type.Upper(), m.ReasonCode, m.Reason))
	in.PacketID, in.Code = int(m.PacketID), &c
	if f.topic != nil {
		in.Topic = f.topic.Topic
	}
	an.res.QoS.add(in)
}

func (an *analysis) flowIncomplete(s *session, f flow, id uint16, waited time.Duration, reused bool) {
	if !s.info.included || (f.topic != nil && !f.topic.included) {
		return
	}
	what := fmt.Sprintf("QoS %d PUBLISH never acknowledged (%.1f s of capture followed it)", f.qos, waited.Seconds())
	if f.rec {
		what = fmt.Sprintf("QoS 2 PUBLISH got PUBREC but never PUBCOMP (%.1f s of capture followed it)", waited.Seconds())
	}
	if reused {
		what = fmt.Sprintf("QoS %d PUBLISH never acknowledged: its packet id was reused %.1f s later", f.qos, waited.Seconds())
	}
	in := an.instance(s, f.start, what)
	in.PacketID = int(id)
	if f.topic != nil {
		in.Topic = f.topic.Topic
	}
	an.res.QoS.add(in)
}

func (an *analysis) flowOpen(s *session, f flow, id uint16, waited time.Duration) {
	if !s.info.included || (f.topic != nil && !f.topic.included) {
		return
	}
	in := an.instance(s, f.start, fmt.Sprintf("QoS %d PUBLISH still waiting for its acknowledgement when the capture ended %.1f s later", f.qos, waited.Seconds()))
	in.PacketID = int(id)
	if f.topic != nil {
		in.Topic = f.topic.Topic
	}
	an.res.QoSOpen.add(in)
}

func (an *analysis) tlsProblem(t *tlsConn, ts time.Time, what string) {
	if !t.info.included {
		return
	}
	an.res.TLS.add(Instance{Time: Stamp(ts), Stream: t.c.stream, Client: t.info.Client, What: what})
}

func (an *analysis) sessionDone(s *session) {
	an.connDone(s.c, s.info)
	if an.live[s.clientID] == s {
		delete(an.live, s.clientID)
	}
}

// connDone adds a finished connection to the result with its TCP figures.
func (an *analysis) connDone(c *conn, in *Connection) {
	if !in.included {
		return
	}
	for typ, n := range in.typeCount {
		if n > 0 {
			in.Types[PacketType(typ).String()] = n
		}
	}
	in.TCP = ConnTCP{BytesToBroker: c.half[toBroker].bytes, BytesToClient: c.half[toClient].bytes,
		Retransmissions: c.half[0].retrans + c.half[1].retrans, ZeroWindows: c.half[0].zeroWin + c.half[1].zeroWin}
	tcp := &an.res.TCP
	tcp.Retransmissions += in.TCP.Retransmissions
	tcp.ZeroWindows += in.TCP.ZeroWindows
	if (in.TCP.Retransmissions > 0 || in.TCP.ZeroWindows > 0) && len(tcp.First) < maxInstances {
		id := ""
		if in.ClientID != nil {
			id = *in.ClientID
		}
		tcp.First = append(tcp.First, Instance{Time: in.Start, Stream: in.Stream, ClientID: id, Client: in.Client,
			What: fmt.Sprintf("%d retransmission(s), %d zero window(s)", in.TCP.Retransmissions, in.TCP.ZeroWindows)})
	}
	an.res.Connections = append(an.res.Connections, in)
}

// finish completes the result once every connection is done.
func (an *analysis) finish() {
	res := an.res
	res.Start, res.End = an.start, an.end
	sort.Slice(res.Connections, func(i, j int) bool { return res.Connections[i].Stream < res.Connections[j].Stream })
	an.reconnects()
	for _, t := range an.topics {
		if !t.included || t.Publishes == 0 {
			continue
		}
		t.Publishers = len(t.publishers)
		if span := t.lastPublish.Sub(time.Time(t.First)); t.ToBroker > 1 && span > 0 {
			t.RatePerMin = roundTo(float64(t.ToBroker-1)/span.Minutes(), 3)
		}
		res.Topics = append(res.Topics, t)
	}
	sort.Slice(res.Topics, func(i, j int) bool { return res.Topics[i].Topic < res.Topics[j].Topic })
}

// reconnects finds client ids that sent 5 or more CONNECTs within 60 s.
func (an *analysis) reconnects() {
	ids := make([]string, 0, len(an.connects))
	for id := range an.connects {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !includedID(an.opts.Clients, id) {
			continue
		}
		ts := an.connects[id]
		sort.Slice(ts, func(i, j int) bool { return ts[i].ts.Before(ts[j].ts) })
		worst, at := 0, connectAt{}
		j := 0
		for i := range ts {
			for ts[i].ts.Sub(ts[j].ts) > 60*time.Second {
				j++
			}
			if n := i - j + 1; n > worst {
				worst, at = n, ts[j]
			}
		}
		if worst >= 5 {
			an.res.Reconnects.add(Instance{Time: Stamp(at.ts), ClientID: id, Stream: at.stream,
				What: fmt.Sprintf("%d CONNECTs within 60 s from stream %d (%d in the capture)", worst, at.stream, len(ts))})
		}
	}
}

func includedID(clients []string, id string) bool {
	if len(clients) == 0 {
		return true
	}
	for _, c := range clients {
		if c == id {
			return true
		}
	}
	return false
}

func roundTo(v float64, digits int) float64 {
	p := 1.0
	for i := 0; i < digits; i++ {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}
