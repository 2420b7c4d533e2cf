package inspect

import (
	"bytes"
	"time"
)

// sniffer decides what a connection carries from its first bytes (a TLS
// ClientHello, an HTTP upgrade, MQTT), falling back on what the port is
// known to carry when the connection was joined mid-way, then hands the
// streams to the handler for it.
type sniffer struct {
	c     *conn
	hint  Protocol
	inner streamHandler
	// closes seen before the first byte, replayed once the protocol is
	// known (a client may close before the broker speaks).
	closes []closeEvent
}

type closeEvent struct {
	dir int
	ts  time.Time
	rst bool
}

func (s *sniffer) pick(dir int, b []byte) {
	proto := s.hint
	h := s.c.half[dir]
	switch {
	case looksLikeTLS(b):
		proto = ProtoTLS
	case dir == toBroker && h.aligned && bytes.HasPrefix(b, []byte("GET ")):
		proto = ProtoWS
	case dir == toBroker && h.aligned && len(b) > 0 && b[0] == 0x10:
		proto = ProtoMQTT
	case proto == ProtoTLS && !h.aligned:
		// A TLS port joined mid-way, and these bytes are not a record
		// start: keep the port's word for it.
	}
	s.c.proto = proto
	switch proto {
	case ProtoTLS:
		s.inner = newTLSConn(s.c)
	case ProtoWS:
		s.inner = newWSConn(s.c)
	default:
		s.inner = &mqttHandler{s: newSession(s.c, ProtoMQTT)}
	}
	for _, e := range s.closes {
		s.inner.closed(e.dir, e.ts, e.rst)
	}
	s.closes = nil
}

// looksLikeTLS is a TLS record header: handshake, alert, change cipher
// spec or application data, version 3.x.
func looksLikeTLS(b []byte) bool {
	return len(b) >= 5 && b[0] >= 20 && b[0] <= 23 && b[1] == 3 && b[2] <= 4
}

func (s *sniffer) data(dir int, ts time.Time, b []byte) {
	if s.inner == nil {
		s.pick(dir, b)
	}
	s.inner.data(dir, ts, b)
}

func (s *sniffer) gap(dir int, ts time.Time, n int) {
	if s.inner != nil {
		s.inner.gap(dir, ts, n)
	}
}

func (s *sniffer) closed(dir int, ts time.Time, rst bool) {
	if s.inner == nil {
		s.closes = append(s.closes, closeEvent{dir, ts, rst})
		return
	}
	s.inner.closed(dir, ts, rst)
}

func (s *sniffer) release() {
	if s.inner != nil {
		s.inner.release()
	}
}

func (s *sniffer) finish(end time.Time) {
	if s.inner == nil {
		// Not a byte either way: an aborted or probing connection, reported
		// as its port's protocol.
		s.pick(toBroker, nil)
	}
	s.inner.finish(end)
}

// mqttHandler reads MQTT in clear.
type mqttHandler struct{ s *session }

func (h *mqttHandler) data(dir int, ts time.Time, b []byte) { h.s.feed(dir, ts, b) }
func (h *mqttHandler) gap(dir int, ts time.Time, n int)     { h.s.gap(dir, ts, n) }
func (h *mqttHandler) closed(dir int, ts time.Time, rst bool) {
	h.s.closed(dir, ts, rst)
}
func (h *mqttHandler) release() {
	h.s.release()
	h.s.lat.freeze()
}
func (h *mqttHandler) finish(end time.Time) { h.s.finish(end) }

// finish closes the session at the end of the capture (or when its
// 4-tuple is reused): open flows are judged, the connection's record is
// completed.
func (s *session) finish(end time.Time) {
	if s.finished {
		return
	}
	s.finished = true
	for _, f := range s.fr {
		if f != nil {
			f.release()
		}
	}
	in := s.info
	if s.endHow == "" {
		s.endHow, s.endTime = "capture_end", s.an.end
	}
	in.End = End{How: s.endHow, By: s.endBy, ReasonCode: s.endCode, Reason: s.endReason, Time: Stamp(s.endTime)}
	in.DurationMS = msSince(in.Start.T(), s.endTime)
	if in.DurationMS < 0 {
		in.DurationMS = 0
	}
	// Silence from the client's last packet to the end of the connection.
	if s.connectSeen && !s.lastClient.IsZero() {
		stop := s.endTime
		if !s.closedAt.IsZero() && s.closedAt.Before(stop) {
			stop = s.closedAt
		}
		if gap := stop.Sub(s.lastClient); gap > s.maxSilence {
			s.maxSilence, s.silenceAt = gap, s.lastClient
		}
	}
	in.MaxSilenceS = s.maxSilence.Seconds()
	if s.keepAlive > 0 && s.connectSeen && s.maxSilence > s.keepAlive*3/2 {
		s.an.keepAliveExceeded(s)
	}
	if s.connectSeen && !s.connackSeen {
		s.an.noConnack(s)
	}
	for dir := range s.flows {
		for id, f := range s.flows[dir] {
			s.judgeFlow(f, id, end, false)
		}
		s.flows[dir] = nil
	}
	if p, ok := s.lat.quantile(0.5); ok {
		in.QoS.AckP50MS = &p
	}
	if p, ok := s.lat.quantile(0.99); ok {
		in.QoS.AckP99MS = &p
	}
	s.lat = latencies{}
	s.an.sessionDone(s)
}
