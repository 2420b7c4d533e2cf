package modbus

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// mbapMsg is one Modbus TCP frame read from the connection.
type mbapMsg struct {
	f   MBAPFrame
	at  time.Time
	err error
}

// tcpScanner scans the unit ids behind a Modbus TCP gateway. The gateway
// hides the line, so there are no CRC errors or second frames to see;
// identity and values that differ between polls still show a collision, and
// the gateway's exceptions say which ids are absent (0x0B) or unroutable
// (0x0A).
type tcpScanner struct {
	o     ScanOptions
	res   *Result
	conn  net.Conn
	rx    chan mbapMsg
	rxw   watchedRx[mbapMsg]
	watch hostWatch
	tid   uint16
	sent  map[uint16]tcpReq
	units map[byte]*unitState

	pathUnavailable []byte
	absent          int
	replies         int // MBAP answers of any kind, late ones included
	reconnects      int
	sameAnswer      map[string]int
}

type tcpReq struct {
	unit, fc byte
	at       time.Time
	answered bool
}

func scanTCP(ctx context.Context, o ScanOptions, res *Result) (*Result, error) {
	s := &tcpScanner{o: o, res: res, sent: map[uint16]tcpReq{}, units: map[byte]*unitState{}, sameAnswer: map[string]int{}, watch: hostWatch{now: o.Now}}
	if err := s.dial(); err != nil {
		return res, err
	}
	defer func() { s.conn.Close() }()
	if err := s.sweep(ctx); err != nil {
		return res, err
	}
	if ctx.Err() == nil {
		if err := s.confirm(ctx); err != nil {
			return res, err
		}
	}
	s.finish()
	res.Bus.noteHost(&s.watch)
	return res, nil
}

func (s *tcpScanner) dial() error {
	c, err := net.DialTimeout("tcp", s.o.Target.Addr, max(3*time.Second, s.o.Timeout))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	s.conn = c
	s.rx = make(chan mbapMsg, 64)
	s.rxw = watchedRx[mbapMsg]{ch: s.rx, at: func(m mbapMsg) time.Time { return m.at }}
	go func(c net.Conn, rx chan mbapMsg) {
		r := bufio.NewReader(c)
		for {
			f, err := ReadMBAP(r)
			rx <- mbapMsg{f: f, at: s.o.Now(), err: err}
			if err != nil {
				return
			}
		}
	}(c, s.rx)
	return nil
}

func (s *tcpScanner) unit(id byte, foundBy string) *unitState {
	u := s.units[id]
	if u == nil {
		u = &unitState{id: id, foundBy: foundBy, exceptions: map[ExceptionCode]int{}}
		s.units[id] = u
	}
	return u
}

// transact sends one request and waits for the answer with its transaction
// id. Answers to earlier transactions are late replies.
func (s *tcpScanner) transact(unit byte, p PDU, timeout time.Duration) (pollRec, *MBAPFrame, error) {
	var rec pollRec
	s.tid++
	tid := s.tid
	sentAt := s.o.Now()
	rec.sentAt = sentAt
	if _, err := s.conn.Write(EncodeMBAP(tid, unit, p)); err != nil {
		if rerr := s.reconnect(err); rerr != nil {
			return rec, nil, rerr
		}
		if _, err := s.conn.Write(EncodeMBAP(tid, unit, p)); err != nil {
			return rec, nil, fmt.Errorf("%w: writing to %s: %v", ErrBusIO, s.o.Target.Addr, err)
		}
	}
	s.sent[tid] = tcpReq{unit: unit, fc: p.Function, at: sentAt}
	deadline := s.o.Now().Add(timeout)
	for {
		// The timeout counts only if the scanner saw it pass (hostwatch.go).
		m, ok := s.rxw.recv(&s.watch, deadline)
		if !ok {
			rec.timeout = true
			return rec, nil, nil
		}
		if m.err != nil {
			if rerr := s.reconnect(m.err); rerr != nil {
				return rec, nil, rerr
			}
			rec.timeout = true
			return rec, nil, nil
		}
		req, ok := s.sent[m.f.Transaction]
		if !ok || req.answered || m.f.PDU.BaseFunction() != req.fc {
			continue // not an answer to anything we asked: ignore
		}
		req.answered = true
		s.sent[m.f.Transaction] = req
		s.replies++
		if m.f.Transaction != tid {
			s.late(req, m)
			continue
		}
		if m.f.Unit != unit {
			rec.noise++ // the gateway answered with another unit id
		}
		rec.ok = true
		rec.latency = m.at.Sub(sentAt)
		rec.hostStall = s.watch.stalledDuring(sentAt, m.at)
		if m.f.PDU.IsException() {
			rec.exception = m.f.PDU.Exception()
		} else {
			rec.value = hex.EncodeToString(m.f.PDU.Data)
		}
		return rec, &m.f, nil
	}
}

// late accounts for an answer that came after its request timed out.
func (s *tcpScanner) late(req tcpReq, m mbapMsg) {
	if c := m.f.PDU.Exception(); c == ExGatewayTargetNoResponse || c == ExGatewayPathUnavailable {
		return
	}
	u := s.unit(req.unit, "late_reply")
	u.errs.Late++
	if len(u.polls) == 0 { // found by this answer: the sweep's poll, answered after all
		u.record(latePoll(m.f.PDU, m.at.Sub(req.at)))
	} else { // a confirm poll already recorded as a timeout
		u.responses++
	}
	u.late = append(u.late, m.at.Sub(req.at))
}

func (s *tcpScanner) reconnect(cause error) error {
	if s.reconnects >= 3 {
		return fmt.Errorf("%w: %s closed the connection %d times: %v", ErrBusIO, s.o.Target.Addr, s.reconnects+1, cause)
	}
	s.reconnects++
	s.conn.Close()
	if err := s.dial(); err != nil {
		return fmt.Errorf("%w: %s closed the connection and refuses to reconnect: %v", ErrBusIO, s.o.Target.Addr, err)
	}
	return nil
}

// present reports whether an answer means a device is there: gateway
// exceptions 0x0A and 0x0B mean nothing answered behind it.
func gatewayAbsent(f *MBAPFrame) (absent bool, code ExceptionCode) {
	if f == nil {
		return true, 0
	}
	c := f.PDU.Exception()
	return c == ExGatewayTargetNoResponse || c == ExGatewayPathUnavailable, c
}

func (s *tcpScanner) sweep(ctx context.Context) error {
	start := s.o.Now()
	ids := s.o.IDs
	s.res.Sweep.Total = len(ids)
	tries := sweepTries(s.o)
	for i, id := range ids {
		if ctx.Err() != nil {
			s.res.Stopped = "interrupted"
			break
		}
		var recs []pollRec
		for _, p := range tries {
			rec, f, err := s.transact(id, p, s.o.Timeout)
			if err != nil {
				return err
			}
			absent, code := gatewayAbsent(f)
			if absent {
				if code == ExGatewayPathUnavailable {
					s.pathUnavailable = append(s.pathUnavailable, id)
					break
				}
				if code == ExGatewayTargetNoResponse {
					s.absent++
				}
				recs = append(recs, pollRec{timeout: true})
				continue
			}
			if f.PDU.Exception() == ExIllegalFunction {
				// A gateway answers functions it does not forward itself,
				// for every unit id: no proof of a device behind it.
				recs = append(recs, pollRec{timeout: true})
				continue
			}
			recs = append(recs, rec)
			u := s.unit(id, fmt.Sprintf("fc%02x", p.Function))
			pp := p
			u.found = &pp
			if f.PDU.IsException() {
				u.foundBy += "_exception"
			}
			for _, r := range recs {
				u.record(r)
			}
			s.sameAnswer[hex.EncodeToString(f.PDU.Bytes())]++
			break
		}
		s.res.Sweep.Probed = i + 1
		elapsed := s.o.Now().Sub(start)
		s.progress(Progress{Phase: "sweep", Done: i + 1, Total: len(ids),
			ETA: time.Duration(float64(elapsed) / float64(i+1) * float64(len(ids)-i-1))})
	}
	s.res.Sweep.Complete = s.res.Sweep.Probed == len(ids) && s.res.Stopped == ""
	s.res.Sweep.Found = len(s.units)
	s.res.Sweep.DurationMS = ms(s.o.Now().Sub(start))
	return nil
}

// confirm polls every address the sweep found (confirmer).
func (s *tcpScanner) confirm(ctx context.Context) error {
	start := s.o.Now()
	c := confirmer{o: s.o, p: s, units: s.units, watch: &s.watch, progress: s.progress}
	stopped, err := c.run(ctx)
	if err != nil {
		return err
	}
	if stopped != "" {
		s.res.Stopped = stopped
	}
	s.res.Sweep.ConfirmMS = ms(s.o.Now().Sub(start))
	return nil
}

// pollUnit is one confirm poll through the gateway (unitPoller): its
// exceptions 0x0A and 0x0B say nothing answered, as a timeout would.
func (s *tcpScanner) pollUnit(unit byte, req PDU, timeout time.Duration) (pollRec, *PDU, error) {
	rec, f, err := s.transact(unit, req, timeout)
	if err != nil {
		return rec, nil, err
	}
	if absent, _ := gatewayAbsent(f); absent {
		return pollRec{timeout: true}, nil, nil
	}
	return rec, &f.PDU, nil
}

// halted is false: a gateway hides the line, and any other master on it
// (unitPoller).
func (s *tcpScanner) halted() bool { return false }

func (s *tcpScanner) progress(p Progress) {
	if s.o.Progress != nil {
		p.Found = len(s.units)
		s.o.Progress(p)
	}
}

func (s *tcpScanner) finish() {
	for _, id := range sortedIDs(s.units) {
		s.res.Devices = append(s.res.Devices, judge(s.units[id], baseline{hostJitter: s.watch.Longest}, false, s.o.Timeout, false))
	}
	s.res.Findings = busFindings(s.res, false, false, nil, s.o)
	if n := len(s.pathUnavailable); n > 0 {
		f := Finding{Kind: "gateway", Status: report.Warning,
			Message:  fmt.Sprintf("the gateway answered 'path unavailable' (0x0A) for %d unit id(s): %s", n, idsString(s.pathUnavailable)),
			Evidence: map[string]any{"path_unavailable_ids": idsString(s.pathUnavailable), "absent_0x0b": s.absent},
			Hint:     "the gateway has no route to these unit ids: check its routing table / serial port configuration for them"}
		if len(s.units) == 0 {
			f.Status = report.Failed
		}
		s.res.Findings = append(s.res.Findings, f)
	}
	if s.replies == 0 && s.res.Sweep.Probed > 0 {
		// A gateway answers every request, with 0x0B for a unit id that
		// stays silent; a server that says nothing at all is not one.
		hint := "this may not be a Modbus TCP server (check the port: 502 is usual), or a gateway that waits longer for its serial side than --timeout: try --timeout 3s"
		for i := range s.res.Findings {
			if s.res.Findings[i].Kind == "no_device" {
				s.res.Findings[i].Hint = "nothing answered at all, not even the gateway: " + hint
			}
		}
		s.res.Findings = append(s.res.Findings, Finding{Kind: "gateway", Status: report.Failed,
			Message:  fmt.Sprintf("%s accepted the connection but answered none of %d request(s) within %s, not even with exception 0x0B", s.o.Target.Addr, s.res.Sweep.Probed, s.o.Timeout),
			Evidence: map[string]any{"requests": s.res.Sweep.Probed, "replies": 0},
			Hint:     hint})
	}
	if len(s.units) >= 3 && len(s.units) == s.res.Sweep.Probed && len(s.sameAnswer) == 1 {
		s.res.Findings = append(s.res.Findings, Finding{Kind: "unit_id_ignored", Status: report.Warning,
			Message: fmt.Sprintf("all %d unit ids answered with the same bytes", len(s.units)),
			Hint:    "the server ignores the unit id: it is one Modbus TCP device, not a gateway to a bus; scan it with --ids 1"})
	}
}
