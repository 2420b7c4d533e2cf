package inspect

import (
	"math"
	"sort"
	"strings"
	"time"
)

// flow is a QoS 1 or 2 PUBLISH waiting for its acknowledgements.
type flow struct {
	start time.Time
	topic *Topic
	qos   byte
	// rec: a QoS 2 flow got its PUBREC and waits for PUBREL/PUBCOMP.
	rec  bool
	dups int
}

func other(dir int) int { return 1 - dir }

func (s *session) onPublish(dir int, m *Message) {
	if m.Malformed != "" {
		return
	}
	topic := m.Topic
	if m.Props != nil && m.Props.TopicAlias != nil {
		alias := *m.Props.TopicAlias
		if s.aliases[dir] == nil {
			s.aliases[dir] = map[uint16]string{}
		}
		if topic != "" {
			if _, ok := s.aliases[dir][alias]; !ok || s.aliases[dir][alias] != topic {
				s.aliases[dir][alias] = strings.Clone(topic)
			}
		} else if t, ok := s.aliases[dir][alias]; ok {
			topic = t
			m.Topic = t
		}
	}
	if dir == toBroker {
		s.info.PublishesToBroker++
	} else {
		s.info.PublishesToClient++
	}
	if m.Dup {
		s.info.QoS.Dup++
	}
	t := s.an.publish(s, dir, m, topic)
	if m.QoS == 0 {
		return
	}
	if m.QoS == 1 {
		s.info.QoS.Published1++
	} else {
		s.info.QoS.Published2++
	}
	if s.flows[dir] == nil {
		s.flows[dir] = map[uint16]flow{}
	}
	if f, ok := s.flows[dir][m.PacketID]; ok {
		if m.Dup {
			f.dups++
			s.flows[dir][m.PacketID] = f
			return
		}
		// The id was reused while its flow was open: that flow is over
		// without its acknowledgement.
		s.judgeFlow(f, m.PacketID, m.Time, true)
	}
	s.flows[dir][m.PacketID] = flow{start: m.Time, topic: t, qos: m.QoS}
}

// onAck follows PUBACK, PUBREC, PUBREL and PUBCOMP.
func (s *session) onAck(dir int, m *Message) {
	if m.Malformed != "" {
		return
	}
	// PUBREL comes from the publisher, the others from the receiver.
	pubDir := other(dir)
	if m.Type == Pubrel {
		pubDir = dir
	}
	f, ok := s.flows[pubDir][m.PacketID]
	if !ok {
		s.info.QoS.UnmatchedAcks++
		return
	}
	refused := m.HasReason && m.ReasonCode >= 0x80
	switch m.Type {
	case Puback:
		if f.qos != 1 {
			s.info.QoS.UnmatchedAcks++
			return
		}
		s.lat.add(msSince(f.start, m.Time))
		delete(s.flows[pubDir], m.PacketID)
		if refused {
			s.info.QoS.Refused++
			s.an.publishRefused(s, m, f)
			return
		}
		s.info.QoS.Completed++
	case Pubrec:
		if f.qos != 2 {
			s.info.QoS.UnmatchedAcks++
			return
		}
		if !f.rec {
			s.lat.add(msSince(f.start, m.Time))
		}
		if refused {
			delete(s.flows[pubDir], m.PacketID)
			s.info.QoS.Refused++
			s.an.publishRefused(s, m, f)
			return
		}
		f.rec = true
		s.flows[pubDir][m.PacketID] = f
	case Pubrel:
		// The publisher released it: waiting for PUBCOMP now.
	case Pubcomp:
		if f.qos != 2 {
			s.info.QoS.UnmatchedAcks++
			return
		}
		delete(s.flows[pubDir], m.PacketID)
		s.info.QoS.Completed++
	}
}

// takeFlows moves an earlier connection's open flows into this one: the
// client reconnected with the same client id and kept its session, so it
// resends them (with DUP) and the broker acknowledges them here.
func (s *session) takeFlows(old *session) {
	for dir := range old.flows {
		for id, f := range old.flows[dir] {
			if s.flows[dir] == nil {
				s.flows[dir] = map[uint16]flow{}
			}
			if _, ok := s.flows[dir][id]; !ok {
				s.flows[dir][id] = f
			}
		}
		old.flows[dir] = nil
	}
}

// judgeFlow decides whether a flow that ended without its last
// acknowledgement failed (enough capture remained for it) or was only
// open at the capture's end.
func (s *session) judgeFlow(f flow, id uint16, now time.Time, reused bool) {
	wait := 5 * time.Second
	if p99, ok := s.lat.quantile(0.99); ok {
		if w := time.Duration(p99 * 10 * float64(time.Millisecond)); w > wait {
			wait = w
		}
	}
	end := s.an.end
	if reused {
		end = now
	}
	if end.Sub(f.start) > wait {
		s.info.QoS.Incomplete++
		s.an.flowIncomplete(s, f, id, end.Sub(f.start), reused)
		return
	}
	s.info.QoS.OpenAtEnd++
	s.an.flowOpen(s, f, id, end.Sub(f.start))
}

// latencies keeps acknowledgement latencies (ms): every sample up to a
// cap, then a deterministic reservoir sample, so quantiles stay honest
// with bounded memory.
type latencies struct {
	samples []float32
	seen    int
	rng     uint64
	// frozen: the samples were reduced to the quantiles the diagnosis
	// needs (the connection ended; its memory goes back).
	frozen        bool
	p50, p99      float64
	frozenHasData bool
}

// freeze keeps p50 and p99 and drops the samples.
func (l *latencies) freeze() {
	if l.frozen {
		return
	}
	l.p50, l.frozenHasData = l.quantile(0.5)
	l.p99, _ = l.quantile(0.99)
	l.samples, l.frozen = nil, true
}

const maxSamples = 4096

func (l *latencies) add(ms float64) {
	if l.frozen {
		return
	}
	l.seen++
	if len(l.samples) < maxSamples {
		l.samples = append(l.samples, float32(ms))
		return
	}
	if l.rng == 0 {
		l.rng = 0x9e3779b97f4a7c15
	}
	l.rng ^= l.rng << 13
	l.rng ^= l.rng >> 7
	l.rng ^= l.rng << 17
	if j := int(l.rng % uint64(l.seen)); j < maxSamples {
		l.samples[j] = float32(ms)
	}
}

func (l *latencies) quantile(q float64) (float64, bool) {
	if l.frozen {
		if q >= 0.99 {
			return l.p99, l.frozenHasData
		}
		return l.p50, l.frozenHasData
	}
	if len(l.samples) == 0 {
		return 0, false
	}
	s := make([]float64, len(l.samples))
	for i, v := range l.samples {
		s[i] = float64(v)
	}
	sort.Float64s(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	if i < 0 {
		i = 0
	}
	return math.Round(s[i]*1000) / 1000, true
}
