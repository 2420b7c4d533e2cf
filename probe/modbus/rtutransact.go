package modbus

import (
	"encoding/hex"
	"fmt"
	"time"
)

// absorb handles whatever arrives until deadline as not ours to wait for.
func (s *rtuScanner) absorb(deadline time.Time) error {
	for {
		ev, ok, err := s.bus.next(deadline)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBusIO, err)
		}
		if !ok {
			return nil
		}
		s.other(ev, nil, -1)
	}
}

// other accounts for an event that is not the awaited reply: noise, a bad
// frame, a late or second answer to an earlier request, another master.
func (s *rtuScanner) other(ev Event, rec *pollRec, target int) {
	switch ev.Kind {
	case EvNoise:
		if rec != nil {
			rec.noise += len(ev.Raw)
			rec.odd(ev, len(ev.Raw))
		}
	case EvCRCError, EvTruncated:
		if s.lateGarbled(ev, target) {
			s.crcError(int(ev.Unit))
			if rec != nil {
				rec.lateOther++
			}
			return
		}
		s.crcError(target)
		if rec != nil {
			rec.corrupt++
			if int(ev.Unit) != target {
				rec.odd(ev, 0)
			}
		}
	case EvFrame:
		f := ev.Frame
		if f.Dir == Request {
			s.foreignFrame(ev)
			if s.foreignReq == nil {
				s.foreignReq = map[byte]bool{}
			}
			s.foreignReq[f.Unit] = true
			if s.masterPolled == nil {
				s.masterPolled = map[byte]bool{}
			}
			s.masterPolled[f.Unit] = true
			if u := s.units[f.Unit]; u != nil {
				u.masterPolls = true
			}
			return
		}
		if s.claimForeign(ev) {
			return
		}
		ex := s.exch[exKey{f.Unit, f.PDU.BaseFunction()}]
		if ex == nil || ev.End.Sub(ex.lastEnd) > lateHorizon {
			// An answer to a request ectool never sent: a device answering
			// with another address than the one asked, or another master
			// whose request was garbled. Only a request proves a master.
			s.res.Bus.StrayAnswers++
			if len(s.res.Bus.StrayFrames) < 10 {
				s.res.Bus.StrayFrames = append(s.res.Bus.StrayFrames, note(ev))
			}
			return
		}
		ex.answers++
		lat := ev.End.Sub(ex.lastEnd)
		if rec != nil && int(f.Unit) != target {
			rec.lateOther++
		}
		s.learnLate(ev, ex, lat)
		if ex.answers > ex.attempts {
			u := s.unit(f.Unit, "late_reply")
			u.extra++
			u.lateExtra++
			return
		}
		u := s.unit(f.Unit, "late_reply")
		u.errs.Late++
		if len(u.polls) == 0 { // found by this answer: the sweep's poll, answered after all
			u.record(latePoll(f.PDU, lat))
		} else { // a confirm poll already recorded as a timeout
			u.responses++
		}
		u.late = append(u.late, lat)
	}
}

// lateGarbled attributes a bad frame that starts with the address and
// function code of an earlier request, not the one awaited, to that
// address: a garbled answer that came after its timeout (two devices
// answering at once, slowly) must not be blamed on the next address. The
// function code must match too: the tail of another device's answer cut
// by ectool's own request can start with any byte, an address among them.
func (s *rtuScanner) lateGarbled(ev Event, target int) bool {
	if int(ev.Unit) == target || len(ev.Raw) < 2 {
		return false
	}
	var recent bool
	for k, ex := range s.exch {
		if k.unit == ev.Unit && k.fc == ev.Raw[1]&^0x80 && ev.End.Sub(ex.lastEnd) <= lateHorizon && ex.answers < ex.attempts {
			recent = true
		}
	}
	if !recent {
		return false
	}
	u := s.unit(ev.Unit, "garbled_reply")
	u.record(pollRec{corrupt: 1, selfBad: 1})
	return true
}

// answerOwed reports whether an earlier request to unit is still
// unanswered and recent enough for its answer to come, and how long ago
// the latest such request went out.
func (s *rtuScanner) answerOwed(unit byte, now time.Time) (age time.Duration, owed bool) {
	for k, ex := range s.exch {
		if a := now.Sub(ex.lastEnd); k.unit == unit && ex.answers < ex.attempts && a <= lateHorizon && (!owed || a < age) {
			age, owed = a, true
		}
	}
	return age, owed
}

// transact sends one request and waits for its answer, then keeps listening
// for the answer's length and turnaround again to catch a second device.
func (s *rtuScanner) transact(unit byte, p PDU, timeout time.Duration) (pollRec, *Frame, error) {
	var rec pollRec
	if err := s.absorb(s.now()); err != nil {
		return rec, nil, err
	}
	if err := s.bus.awaitInterFrameGap(func(ev Event) { s.other(ev, nil, -1) }); err != nil {
		return rec, nil, fmt.Errorf("%w: %v", ErrBusIO, err)
	}
	req := EncodeRTU(unit, p)
	rec.owedAge, rec.lateInFlight = s.answerOwed(unit, s.now())
	sentAt, err := s.bus.send(req)
	if err != nil {
		return rec, nil, fmt.Errorf("%w: writing to the bus: %v", ErrBusIO, err)
	}
	rec.sentAt = sentAt
	reqEnd := sentAt.Add(s.wire(len(req)))
	ex := s.exchange(unit, p.Function)
	ex.attempts++
	ex.lastEnd = sentAt
	deadline := reqEnd.Add(timeout)
	var reply *Frame
	garbled := 0 // bytes of garbled answers from unit
	for reply == nil {
		ev, ok, err := s.bus.next(deadline)
		if err != nil {
			return rec, nil, fmt.Errorf("%w: %v", ErrBusIO, err)
		}
		if !ok {
			break
		}
		if s.claimForeign(ev) {
			continue
		}
		if s.isAnswer(ev, unit, p.Function) {
			ex.answers++
			f := ev.Frame
			reply = &f
			rec.latency = max(0, ev.End.Sub(sentAt))
			rec.hostStall = s.bus.watch.stalledDuring(sentAt, ev.End)
			s.learnAnswer(rec, len(req), len(ev.Raw))
			continue
		}
		if s.metRequest(ev, unit, reqEnd, &rec) {
			continue
		}
		if (ev.Kind == EvCRCError || ev.Kind == EvTruncated) && ev.Unit == unit {
			rec.selfBad++
			garbled += len(ev.Raw)
			if ev.Kind == EvCRCError && rec.badFrame == "" {
				rec.badFrame = string(ev.Raw)
			}
			// A garbled answer is an answer: wait only as long as a second
			// answer could take, not the whole timeout.
			deadline = minTime(deadline, ev.End.Add(s.secondWindow(ev.End.Sub(sentAt), len(req), len(ev.Raw), timeout)))
		}
		s.other(ev, &rec, int(unit))
		if s.stop() {
			return rec, nil, nil
		}
	}
	if reply == nil {
		if rec.corrupt == 0 && rec.noise >= garbageAnswer {
			rec.corrupt, rec.garbage = 1, true
		} else if rec.corrupt == 0 && rec.noise > 0 {
			s.lineNoise++
		}
		rec.timeout = rec.corrupt == 0
		if garbled > 0 { // answered, garbled: the same window as an answer
			s.floor += s.wire(len(req)) + 2*s.wire(garbled) + 5*time.Millisecond + s.o.Serial.Silence()
		} else {
			s.floor += s.wire(len(req)) + timeout
		}
		return rec, nil, nil
	}
	rec.ok = true
	if reply.PDU.IsException() {
		rec.exception = reply.PDU.Exception()
	} else {
		rec.value = hex.EncodeToString(reply.PDU.Data)
	}
	err = s.listenForASecond(&rec, unit, p.Function, len(req), len(reply.Raw), sentAt, timeout)
	return rec, reply, err
}

// listenForASecond listens after a valid answer from unit for a second
// one (another device at the same address), bytes after it, or the late
// answer to an earlier attempt, for the second-answer window: the whole one
// (secondWindow), or the short one of an address that has answered alone
// (shortSecondWindow).
func (s *rtuScanner) listenForASecond(rec *pollRec, unit, fc byte, reqLen, replyLen int, sentAt time.Time, timeout time.Duration) error {
	ex := s.exchange(unit, fc)
	window := s.secondWindow(rec.latency, reqLen, replyLen, timeout)
	floorWindow := 5*time.Millisecond + s.wire(replyLen) + s.o.Serial.Silence()
	if short := s.shortSecondWindow(unit); short > 0 && short < window {
		window, floorWindow = short, short
	} else {
		rec.listened = true
	}
	s.floor += s.wire(reqLen) + s.wire(replyLen) + floorWindow
	end := s.now().Add(window)
	for {
		ev, ok, err := s.bus.next(end)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBusIO, err)
		}
		if !ok {
			break
		}
		if s.claimForeign(ev) {
			continue
		}
		if s.isAnswer(ev, unit, fc) {
			ex.answers++
			if ex.answers > ex.attempts {
				rec.second++
			} else { // the answer to an earlier attempt that timed out
				u := s.unit(unit, "late_reply")
				u.errs.Late++
				u.late = append(u.late, ev.End.Sub(sentAt))
				s.learnLate(ev, ex, ev.End.Sub(sentAt))
			}
			continue
		}
		switch ev.Kind {
		case EvNoise:
			rec.trailing += len(ev.Raw)
		case EvCRCError, EvTruncated:
			s.crcError(int(unit))
			rec.trailing += len(ev.Raw)
		default:
			s.other(ev, nil, -1)
		}
	}
	return nil
}

// pollUnit is one confirm poll over the line (unitPoller).
func (s *rtuScanner) pollUnit(unit byte, req PDU, timeout time.Duration) (pollRec, *PDU, error) {
	rec, f, err := s.transact(unit, req, timeout)
	if f == nil || err != nil {
		return rec, nil, err
	}
	return rec, &f.PDU, nil
}

// halted reports whether another master was heard without
// --talk-over-master (unitPoller).
func (s *rtuScanner) halted() bool { return s.stop() }

// secondWindow is how long to keep listening after an answer for a second
// one: the first device's turnaround (round trip less both frames' wire
// time, at least 5 ms, at most the timeout) plus the answer's wire time,
// plus the silence that settles the splitter.
func (s *rtuScanner) secondWindow(roundTrip time.Duration, reqLen, replyLen int, timeout time.Duration) time.Duration {
	turnaround := roundTrip - s.wire(reqLen) - s.wire(replyLen)
	turnaround = min(timeout, max(turnaround, 5*time.Millisecond))
	return turnaround + s.wire(replyLen) + s.o.Serial.Silence()
}

// shortSecondWindow is, under --timeout auto and in the confirm polls, the
// second-answer window of an address that has already answered alone in
// two whole windows (unitState.answeredAlone): the shortest turnaround
// (5 ms) and t3.5, instead of the first answer's turnaround and length
// again and the 20 ms silence. The whole window is what makes a confirm
// poll of a slow meter cost twice its round trip (meter 9 of the
// benchmark's bus: 150 ms turnaround, 345 ms a poll), and the silence a
// quarter of a fast meter's poll. A second device would have shown itself
// in the whole windows, and whatever still comes after the short one is
// heard all the same, before the next request waits out its t3.5; it is
// only no longer counted against this poll. 0 when the whole window
// applies: a fixed --timeout, the sweep, or an address not yet shown to
// answer alone.
func (s *rtuScanner) shortSecondWindow(unit byte) time.Duration {
	if s.auto == nil || !s.auto.frozen {
		return 0
	}
	u := s.units[unit]
	if u == nil || !u.answeredAlone() {
		return 0
	}
	return 5*time.Millisecond + interFrameGap(s.o.Serial)
}

// claimForeign reports whether ev answers another master's request (and
// consumes that request).
func (s *rtuScanner) claimForeign(ev Event) bool {
	if ev.Kind != EvFrame || ev.Frame.Dir != Response || !s.foreignReq[ev.Unit] {
		return false
	}
	delete(s.foreignReq, ev.Unit)
	return true
}

func (s *rtuScanner) isAnswer(ev Event, unit, fc byte) bool {
	return ev.Kind == EvFrame && ev.Frame.Dir == Response && ev.Unit == unit && ev.Frame.PDU.BaseFunction() == fc
}

// odd records bytes in a window that nothing explains: when, and the
// longest burst of them (n; 0 for a bad frame).
func (r *pollRec) odd(ev Event, n int) {
	r.oddNoise = max(r.oddNoise, n)
	if r.oddAt.IsZero() {
		r.oddAt = ev.Start
	}
}

// learnLate hands --timeout auto a late answer's timing.
func (s *rtuScanner) learnLate(ev Event, ex *exchange, roundTrip time.Duration) {
	if s.auto == nil {
		return
	}
	turnaround := roundTrip - s.wire(8) - s.wire(len(ev.Raw))
	s.auto.late(roundTrip, turnaround, s.bus.watch.stalledDuring(ex.lastEnd, ev.End))
}

// metRequest handles, in --timeout auto's sweep, a bad frame that began
// while the request to unit was still on the wire (it ended at reqEnd): no
// answer to it, but the request meeting another transmission (an echoing
// adapter hears both garbled), such as a late answer to the address
// before, which the sweep asks again. Not in the confirm polls of a found
// address: there a burst of noise heard before an adapter that queued the
// request sent it can be glued to the device's answer, which stays corrupt
// (the splitter cuts by length and CRC, not by time). It reports whether
// it took ev.
func (s *rtuScanner) metRequest(ev Event, unit byte, reqEnd time.Time, rec *pollRec) bool {
	if s.auto == nil || s.auto.frozen || (ev.Kind != EvCRCError && ev.Kind != EvTruncated) || !ev.Start.Before(reqEnd) {
		return false
	}
	if s.lateGarbled(ev, int(unit)) { // it starts like an earlier address's late answer
		s.crcError(int(ev.Unit))
		rec.lateOther++
		return true
	}
	s.crcError(-1)
	rec.collided++
	rec.odd(ev, 0)
	return true
}

// learnAnswer hands --timeout auto an answer's turnaround (its round trip
// less both frames' wire time).
func (s *rtuScanner) learnAnswer(rec pollRec, reqLen, replyLen int) {
	if s.auto != nil {
		s.auto.answered(rec.latency-s.wire(reqLen)-s.wire(replyLen), rec.hostStall)
	}
}
