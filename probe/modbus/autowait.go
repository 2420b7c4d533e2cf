package modbus

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// --timeout auto. A fixed timeout pays its whole length at every silent
// address, and is set long for the one slow meter on the bus. But ectool
// hears every byte on the line (rtubus.go), so an answer that comes after
// its window is not lost: it is attributed by address and CRC to the
// request it answers (rtutransact.go, other). So the sweep waits only as
// long as the line and the answers so far say a device takes, and spends
// the long wait only where the line shows evidence of a late answer: a late
// reply from another address in an address's window, or bytes it cannot
// explain. Those addresses are asked again with the long wait, undisturbed;
// an address whose window held bytes nothing explains is never reported
// silent (bus.sweep names it). The confirm polls of found addresses wait as
// a fixed --timeout does by default, and longer for a device seen answering
// late, so the verdicts are those of a fixed long timeout.
const (
	// autoFloor is the shortest sweep window: most meters answer within it.
	autoFloor = 20 * time.Millisecond
	// autoCap is the longest the sweep window grows to on late answers
	// (the fixed default): a meter slower than that is an outlier, found
	// by its late reply and asked again, not a reason to wait longer at
	// every silent address.
	autoCap = 100 * time.Millisecond
	// autoLong is the re-probe wait when no late answer has shown how long
	// a device on this bus takes.
	autoLong = time.Second
	// autoMaxLong bounds the long wait (an answer later than that is lost
	// anyway, as confirmTimeout's bound).
	autoMaxLong = 5 * time.Second
	// autoConfirm is the confirm polls' base wait: the fixed default.
	autoConfirm = 100 * time.Millisecond
	// autoRounds bounds the re-probe rounds (a re-probe can show new
	// evidence around other addresses).
	autoRounds = 3
)

// autoWait is the state of --timeout auto during one RTU scan.
type autoWait struct {
	floor   time.Duration
	window  time.Duration // the sweep's wait at a silent address now
	maxTurn time.Duration // longest turnaround seen within a window
	maxLate time.Duration // longest round trip of a late answer
	// asked is when the sweep last asked each address.
	asked map[byte]time.Time
	// marks are the addresses to ask again with the long wait, and why
	// (markLate...); oddAt is when bytes nothing explained came in an
	// address's window.
	marks map[byte]int
	oddAt map[byte]time.Time
	done  map[byte]bool
	// reprobed are the addresses asked again with the long wait (walked
	// back to included), unexplained those whose windows still hold bytes
	// no answer explains.
	reprobed    []byte
	unexplained []byte
	// frozen: the sweep and its re-probes are over; the confirm polls'
	// answers teach the sweep nothing.
	frozen bool
	// fresh is the turnaround of the answer to the first request over the
	// port just opened, not learned from until asked again (remeasure).
	fresh time.Duration
}

// newAutoWait starts from the line: t3.5 on either side of the probe's
// answer, at least autoFloor.
func newAutoWait(s SerialSettings, probe PDU) *autoWait {
	floor := max(autoFloor, 2*interFrameGap(s)+s.WireTime(expectedAnswerLen(probe)))
	return &autoWait{floor: floor, window: floor, asked: map[byte]time.Time{}, marks: map[byte]int{}, oddAt: map[byte]time.Time{}, done: map[byte]bool{}}
}

// expectedAnswerLen is the length of a normal answer to p on the wire
// (address, PDU, CRC); a Report Server ID answer is taken at 40 bytes.
func expectedAnswerLen(p PDU) int {
	switch p.Function {
	case FuncReadHoldingRegisters, FuncReadInputRegisters:
		if len(p.Data) >= 4 {
			return 5 + 2*int(uint16(p.Data[2])<<8|uint16(p.Data[3]))
		}
	case FuncReadCoils, FuncReadDiscreteInputs:
		if len(p.Data) >= 4 {
			return 5 + (int(uint16(p.Data[2])<<8|uint16(p.Data[3]))+7)/8
		}
	}
	return 40
}

// long is the re-probe wait: twice the slowest late answer seen (as
// confirmTimeout waits for it), or autoLong when none has been.
func (a *autoWait) long() time.Duration {
	if a.maxLate == 0 {
		return autoLong
	}
	return min(autoMaxLong, max(2*a.maxLate+20*time.Millisecond, 4*a.window))
}

// answered learns from an answer within its window: the wait covers the
// slowest turnaround seen and half as much again. A turnaround measured
// across a stall of the host is the host's, not the device's.
func (a *autoWait) answered(turnaround time.Duration, stalled bool) {
	if a.frozen || stalled {
		return
	}
	if len(a.asked) == 0 { // the first request over the port: remeasure
		a.fresh = max(a.fresh, turnaround)
		return
	}
	a.learn(turnaround)
}

func (a *autoWait) learn(turnaround time.Duration) {
	if turnaround <= a.maxTurn {
		return
	}
	a.maxTurn = turnaround
	a.grow(a.cover(turnaround))
}

// cover is the window that waits for a device with this turnaround.
func (a *autoWait) cover(turnaround time.Duration) time.Duration {
	return turnaround + max(5*time.Millisecond, turnaround/2)
}

// late learns from an answer attributed after its window: its round trip
// sets the long wait; a turnaround up to autoCap lengthens the window (the
// other meters of that make are likely as slow), a longer one is an
// outlier whose neighbours are asked again instead.
func (a *autoWait) late(roundTrip, turnaround time.Duration, stalled bool) {
	if a.frozen {
		return
	}
	// Across a stall of the host the round trip is overstated: still
	// good for the long wait (longer), not for the window.
	a.maxLate = max(a.maxLate, roundTrip)
	if !stalled && turnaround < autoCap {
		a.grow(turnaround * 3 / 2)
	}
}

func (a *autoWait) grow(w time.Duration) { a.window = min(autoCap, max(a.window, a.floor, w)) }

// mark asks for id to be asked again, for the reason kind (the first
// reason found stands, a tail only until stronger evidence).
func (a *autoWait) mark(id byte, kind int, at time.Time) {
	if a.done[id] {
		return
	}
	if k, ok := a.marks[id]; !ok || k == markTail {
		a.marks[id] = kind
	}
	if !at.IsZero() {
		if _, ok := a.oddAt[id]; !ok {
			a.oddAt[id] = at
		}
	}
}

// sweepWait is the wait at the sweep's next address. The first request
// over a port just opened waits as a fixed --timeout does: an adapter's
// first transfer, a serial server's fresh connection or a simulator that
// has just noticed the open can take longer than any later one, and an
// answer delayed that much would land under the next request, unheard.
func (a *autoWait) sweepWait() time.Duration {
	if len(a.asked) == 0 {
		return a.confirmWait()
	}
	return a.window
}

// confirmWait is the confirm polls' base wait.
func (a *autoWait) confirmWait() time.Duration {
	return max(autoConfirm, 2*a.maxTurn+20*time.Millisecond)
}

// Kinds of evidence that an address is asked again (autoWait.marks).
const (
	// markLate: a late answer from another address came in its window.
	markLate = iota + 1
	// markBytes: bytes that form no answer came in its window.
	markBytes
	// markTail: a byte or two came just after its request, as the tail
	// of an answer that started while ectool was sending (half-duplex: it
	// hears nothing meanwhile) does; line noise looks the same, so it is
	// only followed up, never reported.
	markTail
)

// autoNote checks the sweep's window(s) at id for evidence (markLate,
// markBytes, markTail).
func (s *rtuScanner) autoNote(id byte, recs []pollRec) {
	a := s.auto
	if len(recs) == 0 {
		return
	}
	a.asked[id] = recs[len(recs)-1].sentAt
	if s.units[id] != nil {
		return
	}
	tail := s.wire(8) + s.wire(expectedAnswerLen(s.o.Probe.PDU())) + interFrameGap(s.o.Serial)
	for _, r := range recs {
		switch {
		case r.lateOther > 0:
			a.mark(id, markLate, time.Time{})
		case r.corrupt > r.selfBad || r.garbage || r.oddNoise >= garbageAnswer || r.collided > 0:
			a.mark(id, markBytes, r.oddAt)
		case r.noise > 0 && !r.oddAt.IsZero() && r.oddAt.Sub(r.sentAt) <= tail:
			a.mark(id, markTail, r.oddAt)
		}
	}
}

// remeasure asks the sweep's first address again when it answered the
// first request over the port just opened and that answer would lengthen
// the window: the first transfer through an adapter, a serial server's
// fresh connection or a simulator that has just noticed the open can add
// more to it than the device takes (10-30 ms more in the lab), and a
// window learned from it would be paid at every silent address. The second
// answer teaches the window (a device that slow answers as slowly again);
// without one, the first does. The poll is recorded like any other.
func (s *rtuScanner) remeasure(id byte) error {
	a := s.auto
	fresh := a.fresh
	a.fresh = 0
	u := s.units[id]
	if fresh == 0 || a.frozen || s.stop() {
		return nil
	}
	if u == nil || u.found == nil || a.cover(fresh) <= a.window {
		a.learn(fresh)
		return nil
	}
	rec, f, err := s.transact(id, *u.found, a.confirmWait())
	if err != nil {
		return err
	}
	u.record(rec)
	if f == nil {
		a.learn(fresh)
	}
	return nil
}

// reprobeOne asks id again. After a late answer from another address in
// its window, with the long wait. After bytes nothing explained, the
// earlier addresses are walked back first (walkBack): when one of them
// turns out to have sent them, id needs only an undisturbed window (the
// confirm wait); when none did, id gets the long wait, and is unexplained
// if that explains nothing either.
func (s *rtuScanner) reprobeOne(id byte, kind int) error {
	a := s.auto
	a.reprobed = append(a.reprobed, id)
	if kind == markLate {
		return s.sweepOne(id, a.long())
	}
	found, err := s.walkBack(id)
	if err != nil || s.units[id] != nil {
		return err
	}
	if found {
		if kind == markTail && s.lineNoise > 0 {
			s.lineNoise-- // the tail was that address's answer, not noise
		}
		return s.sweepOne(id, a.confirmWait())
	}
	if err := s.sweepOne(id, a.long()); err != nil {
		return err
	}
	if kind == markBytes && s.units[id] == nil {
		a.unexplained = append(a.unexplained, id)
	}
	return nil
}

// reprobe asks the marked addresses again with the long wait, then walks
// back from an address whose window still holds bytes nothing explained
// (autoWalkBack). Done after the sweep, so the late answers of the sweep's
// last addresses have come.
func (s *rtuScanner) reprobe() error {
	a := s.auto
	for range autoRounds {
		ids := make([]byte, 0, len(a.marks))
		kinds := maps.Clone(a.marks)
		for id := range a.marks {
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			return nil
		}
		slices.Sort(ids)
		clear(a.marks)
		for _, id := range ids {
			if s.stop() {
				return nil
			}
			a.done[id] = true
			if s.units[id] != nil {
				continue // found meanwhile (a late answer): confirm polls it with a wait to match
			}
			if err := s.reprobeOne(id, kinds[id]); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkBack looks for the source of bytes nothing explained in id's window:
// an earlier address that answers so late that its answer met one of
// ectool's later requests on the line and came out as garbage (or as a
// tail of a byte or two: ectool hears nothing while it sends), or an
// address seen answering garbled, whose garbled answers came late. Each silent
// address asked within the long wait before the bytes is asked again, the
// most recent first, with a wait as long as the bytes came after it, until
// one answers (found).
func (s *rtuScanner) walkBack(id byte) (found bool, err error) {
	a := s.auto
	at, odd := a.oddAt[id]
	if !odd {
		return false, nil
	}
	long := a.long()
	for j, t := range a.asked {
		// An address seen answering garbled (two devices at once) shortly
		// before: its garbled answers, late, are the bytes.
		if d := at.Sub(t); s.units[j] != nil && s.units[j].corruptPolls() > 0 && d > 0 && d <= long {
			return true, nil
		}
	}
	var cands []byte
	for j, t := range a.asked {
		if d := at.Sub(t); j != id && s.units[j] == nil && !a.done[j] && d >= a.window && d <= long {
			cands = append(cands, j)
		}
	}
	slices.SortFunc(cands, func(x, y byte) int { return a.asked[y].Compare(a.asked[x]) })
	for _, j := range cands {
		if s.stop() {
			return false, nil
		}
		a.done[j] = true
		a.reprobed = append(a.reprobed, j)
		if err := s.sweepOne(j, min(long, at.Sub(a.asked[j])+a.window)); err != nil {
			return false, err
		}
		if s.units[j] != nil {
			return true, nil
		}
	}
	return false, nil
}

// autoLate is a late reply under --timeout auto: expected of a device
// slower than the sweep's short window, and waited for in its confirm
// polls. Only when a later poll went unanswered too does the warning of a
// fixed timeout stand.
func autoLate(d *Device, u *unitState) {
	if d.Warning == "" || len(u.late) == 0 {
		return
	}
	for _, p := range u.polls[1:] { // the first is the sweep's, answered late
		if p.timeout {
			return
		}
	}
	worst := slices.Max(u.late)
	for i, e := range d.Evidence {
		if e == d.Warning {
			d.Evidence[i] = fmt.Sprintf("answers after %s, later than the sweep's short wait: --timeout auto waited for it in the confirm polls", fmtMS(worst))
		}
	}
	if d.Hint == d.Warning {
		d.Hint = ""
	}
	d.Warning = ""
}

// autoSummary fills the sweep's account of --timeout auto.
func (a *autoWait) summary(sw *Sweep) {
	sw.WaitMS = ms(a.window)
	sw.LongWaitMS = ms(a.long())
	sw.Reprobed = idsString(a.reprobed)
	sw.Unexplained = idsString(a.unexplained)
}

// unexplainedHint is bus.sweep's hint when windows held bytes nothing
// explained.
func unexplainedHint(ids string, long time.Duration) string {
	return strings.TrimSpace(fmt.Sprintf("bytes that form no answer came where %s's answer was due, and asking again (with a %s wait, and the addresses before it) did not explain them: line noise, or a device answering later still or garbled each time; scan %s again with --timeout 2s, and check the termination", ids, fmtMS(long), ids))
}

// confirmLate confirms the addresses found by late answers during the
// confirm polls of the others (under --timeout auto the sweep's waits are
// short, so a slow device's answer can come that late), until no more
// turn up.
func (s *rtuScanner) confirmLate(ctx context.Context, c confirmer, first []byte) (stopped string, err error) {
	confirmed := map[byte]bool{}
	for _, id := range first {
		confirmed[id] = true
	}
	for {
		var ids []byte
		for _, id := range sortedIDs(s.units) {
			if !confirmed[id] {
				ids = append(ids, id)
				confirmed[id] = true
			}
		}
		if len(ids) == 0 || stopped != "" || err != nil {
			return stopped, err
		}
		stopped, err = c.runIDs(ctx, ids)
	}
}
