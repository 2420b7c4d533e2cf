package modbus

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ecdata/ectool/probe/serialport"
)

// ScanOptions configure Scan. Zero values take the documented defaults.
type ScanOptions struct {
	Target Target
	// Serial is the line's settings (rtu). For rtuovertcp they are the
	// settings behind the serial server, used only for wire-time windows.
	Serial SerialSettings
	// IDs are the addresses to probe (1-247).
	IDs []byte
	// Probe is the request that asks each address (default FC 03 register 0).
	Probe ProbeSpec
	// Thorough re-probes silent addresses with FC 04 and FC 0x11.
	Thorough bool
	// Timeout is per request: 100 ms on serial, 1 s on tcp by default.
	Timeout time.Duration
	// Retries re-sends a request that got no answer at all.
	Retries int
	// Listen is how long to listen before the first request (default 3 s;
	// negative: not at all).
	Listen time.Duration
	// Confirm is how many polls each found address gets to look for a
	// collision (default 5; negative: none).
	Confirm int
	// IDRegister, when >= 0, is the address of a register holding a serial
	// number: confirm polls read it (two registers) so two devices show as
	// two serial numbers.
	IDRegister int
	// IDTable is IDRegister's table: holding (the default, TableUnset) or
	// input.
	IDTable Table
	// Force opens a port another process holds (it breaks that process's
	// traffic). It never switches off another safety.
	Force bool
	// TalkOverMaster keeps scanning when another master is heard on the bus
	// (a warning instead of a stop): ectool's requests then collide with
	// its polls now and then.
	TalkOverMaster bool
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Progress, when set, is called after each address and phase.
	Progress func(Progress)
	// Open, when set, is used instead of opening Target (the lab, tests).
	Open func() (Port, error)
}

// Errors of Scan (besides serialport.Open's): the scan could not
// run at all.
var (
	// ErrUnreachable: a TCP target refused or did not answer the connection.
	ErrUnreachable = errors.New("bus target unreachable")
	// ErrBusIO: the port failed or vanished mid-scan.
	ErrBusIO = errors.New("bus I/O error")
)

// TargetError is an error of a scan or sniff of a TCP target, carrying the
// transport so the hint names the right device: a Modbus TCP gateway
// (tcp://) or a transparent serial server (rtuovertcp://).
type TargetError struct {
	Transport Transport
	Addr      string
	Err       error
}

func (e *TargetError) Error() string { return e.Err.Error() }

// Unwrap makes errors.Is(err, ErrUnreachable) and ErrBusIO see through.
func (e *TargetError) Unwrap() error { return e.Err }

// targetError wraps err of a scan of t (nil stays nil; serial ports need
// no wrapping, their errors name the device already).
func targetError(t Target, err error) error {
	if err == nil || t.Transport == TransportRTU {
		return err
	}
	return &TargetError{Transport: t.Transport, Addr: t.Addr, Err: err}
}

func (o *ScanOptions) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Serial.Baud == 0 {
		o.Serial = DefaultSerial
	}
	if len(o.IDs) == 0 {
		for i := 1; i <= 247; i++ {
			o.IDs = append(o.IDs, byte(i))
		}
	}
	if o.Probe.Function == 0 {
		o.Probe = DefaultProbe
	}
	if o.Timeout == 0 {
		o.Timeout = 100 * time.Millisecond
		if o.Target.Transport == TransportTCP {
			o.Timeout = time.Second
		}
	}
	if o.Listen == 0 {
		o.Listen = 3 * time.Second
	}
	if o.Confirm == 0 {
		o.Confirm = 5
	}
}

// idsString renders ids as ranges: 1-10,17.
func idsString(ids []byte) string {
	s := append([]byte(nil), ids...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprint(s[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", s[i], s[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func (o *ScanOptions) settings() Settings {
	st := Settings{
		Transport: string(o.Target.Transport), IDs: idsString(o.IDs), Probe: o.Probe.String(),
		Thorough: o.Thorough, TimeoutMS: ms(o.Timeout), Retries: o.Retries,
		Confirm: max(0, o.Confirm), ListenMS: ms(max(0, o.Listen)), Forced: o.Force,
		TalkOverMaster: o.TalkOverMaster,
	}
	if o.Target.Serial() {
		s := o.Serial
		st.Serial = &s
	}
	if o.IDRegister >= 0 {
		r := o.IDRegister
		st.IDRegister = &r
		st.IDRegisterTable = o.IDTable.or(TableHolding).String()
	}
	return st
}

// Scan finds the devices on a bus and looks for address collisions. It
// returns an error only when it could not run (port missing, busy or held,
// connection refused, I/O error); everything it found is in the Result.
func Scan(ctx context.Context, o ScanOptions) (*Result, error) {
	res, err := scan(ctx, o)
	return res, kinded(err)
}

func scan(ctx context.Context, o ScanOptions) (*Result, error) {
	o.defaults()
	res := &Result{Target: o.Target.String(), Settings: o.settings(), Devices: []Device{}, Findings: []Finding{}}
	if o.Target.Transport == TransportTCP {
		_, err := scanTCP(ctx, o, res)
		return res, targetError(o.Target, err)
	}
	port, err := openRTU(&o, res)
	if err != nil {
		return res, targetError(o.Target, err)
	}
	bus := newRTUBus(port, o.Serial, o.Now)
	defer bus.close()
	s := &rtuScanner{o: o, bus: bus, res: res, units: map[byte]*unitState{}, exch: map[exKey]*exchange{}}
	err = s.run(ctx)
	res.Bus.Echo = bus.echoSeen
	res.Bus.NoiseBytes = bus.noiseBytes
	res.Bus.noteHost(&bus.watch)
	return res, targetError(o.Target, err)
}

func openRTU(o *ScanOptions, res *Result) (Port, error) {
	if o.Open != nil {
		return o.Open()
	}
	if o.Target.Transport == TransportRTUOverTCP {
		p, err := DialRTUOverTCP(o.Target.Addr, max(3*time.Second, o.Timeout))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
		}
		return p, nil
	}
	p, op, err := serialport.Open(o.Target.Path, o.Serial, serialport.Options{Force: o.Force, LowLatency: true})
	res.Settings.Bridges, res.Settings.ForcedPast, res.Settings.LatencyTimer = op.Bridges, op.ForcedPast, op.LatencyTimer
	if err != nil {
		return nil, err
	}
	return p, nil
}

// lateHorizon is how long after a request an answer is still attributed to
// it (as a late reply) rather than to another master.
const lateHorizon = 3 * time.Second

type exKey struct{ unit, fc byte }

// exchange counts requests and answers per address and function, so an
// answer beyond the requests sent is a second device, and an answer after
// a timeout is a late reply.
type exchange struct {
	attempts, answers int
	// lastEnd is when the last request was written.
	lastEnd time.Time
}

// pollRec is one request to a found address and what came back.
type pollRec struct {
	confirm   bool
	fc        byte
	ok        bool
	exception ExceptionCode
	timeout   bool
	corrupt   int // bad-CRC or cut frames where the reply should be
	selfBad   int // of those, how many start with the polled address
	noise     int
	latency   time.Duration
	value     string
	trailing  int  // bytes after a valid reply that are not a frame
	second    int  // valid answers beyond the one expected
	garbage   bool // no frame, but an answer's worth of garbage in the window
	// hostStall: the host stalled while the answer was awaited, so its
	// latency says more about the host than about the device.
	hostStall bool
	// lateInFlight: an answer from this address to an earlier request
	// was still owed when this request went out, that request owedAge
	// before. At a device that answers later than the timeout, ectool's own
	// request then collides with that late answer on the line, and the
	// garbage says nothing of the device.
	lateInFlight bool
	owedAge      time.Duration
}

// garbageAnswer is how many bytes that form no frame, in a window where an
// answer was due and none came, count as a garbled answer. Two devices
// answering at once can garble even the address byte, which leaves only
// garbage (a UART that loses bit sync merges characters, so a 7-byte answer
// can read as 3); a noise pulse reads as one or two bytes. The sweep asks
// again before it takes garbage for a device.
const garbageAnswer = 3

// unitState is everything observed about one address.
type unitState struct {
	id         byte
	foundBy    string
	found      *PDU // the request the address answered in the sweep
	polls      []pollRec
	serverIDs  []string
	deviceIDs  []string
	idRegs     []string
	identity   Identity
	extra      int // answers beyond requests (second answers)
	lateExtra  int // of those, arriving after the listening window
	late       []time.Duration
	latencies  []time.Duration
	errs       ErrorCounts
	responses  int
	exceptions map[ExceptionCode]int
	// masterPolls: another master was heard asking this address
	// (--talk-over-master), so its exchanges and ectool's collide here.
	masterPolls bool
}

type rtuScanner struct {
	o       ScanOptions
	bus     *rtuBus
	res     *Result
	units   map[byte]*unitState
	exch    map[exKey]*exchange
	foreign bool

	sweepValid   int
	lineNoise    int    // windows with a noise pulse (too short for an answer) and no answer
	sweepGarbled []byte // addresses whose window held only garbage
	// masterPolled is every address another master was heard asking.
	masterPolled map[byte]bool
	// foreignReq marks addresses another master has just asked: their next
	// answer is its, not ours (with --talk-over-master).
	foreignReq map[byte]bool
	// floor is the physical minimum of the exchanges made so far: wire
	// times, the timeout of unanswered requests, the shortest listening
	// window after an answer.
	floor time.Duration
}

func (s *rtuScanner) now() time.Time { return s.o.Now() }

func (s *rtuScanner) wire(n int) time.Duration { return s.o.Serial.WireTime(n) }

func (s *rtuScanner) stop() bool { return s.foreign && !s.o.TalkOverMaster }

func (s *rtuScanner) progress(p Progress) {
	if s.o.Progress != nil {
		p.Found = len(s.units)
		s.o.Progress(p)
	}
}

func (s *rtuScanner) unit(id byte, foundBy string) *unitState {
	u := s.units[id]
	if u == nil {
		u = &unitState{id: id, foundBy: foundBy, exceptions: map[ExceptionCode]int{}, masterPolls: s.masterPolled[id]}
		s.units[id] = u
	}
	return u
}

func (s *rtuScanner) exchange(unit, fc byte) *exchange {
	k := exKey{unit, fc}
	e := s.exch[k]
	if e == nil {
		e = &exchange{}
		s.exch[k] = e
	}
	return e
}

func (s *rtuScanner) run(ctx context.Context) error {
	if err := s.listen(ctx); err != nil {
		return err
	}
	if s.stop() {
		s.res.Stopped = "foreign_master"
		s.finish()
		return nil
	}
	if err := s.sweep(ctx); err != nil {
		return err
	}
	if !s.stop() && ctx.Err() == nil {
		if err := s.confirm(ctx); err != nil {
			return err
		}
	}
	s.finish()
	return nil
}

// listen hears the bus before ectool says anything: another master polling,
// or noise on an idle line.
func (s *rtuScanner) listen(ctx context.Context) error {
	if s.o.Listen <= 0 {
		return nil
	}
	s.progress(Progress{Phase: "listen", ETA: s.o.Listen})
	start := s.now()
	end := start.Add(s.o.Listen)
	for s.now().Before(end) && ctx.Err() == nil {
		// Wake every 100 ms to honour cancellation.
		ev, ok, err := s.bus.next(minTime(end, s.now().Add(100*time.Millisecond)))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBusIO, err)
		}
		if !ok {
			continue
		}
		switch ev.Kind {
		case EvNoise:
			s.res.Bus.ListenNoiseBytes += len(ev.Raw)
		case EvCRCError, EvTruncated:
			s.crcError(-1)
			s.res.Bus.ListenNoiseBytes += len(ev.Raw)
		case EvFrame:
			s.foreignFrame(ev)
		}
		if s.stop() {
			break
		}
	}
	s.res.Bus.ListenedMS = ms(s.now().Sub(start))
	return nil
}

// crcError counts a frame with a bad CRC or cut short, at the address whose
// answer it stands for (-1: none, such as while listening), so bus.crc can
// say which of them a verdict explains.
func (s *rtuScanner) crcError(unit int) {
	s.res.Bus.CRCErrors++
	if unit < 0 {
		s.res.Bus.CRCErrorsElsewhere++
		return
	}
	if s.res.Bus.CRCErrorsByUnit == nil {
		s.res.Bus.CRCErrorsByUnit = map[int]int{}
	}
	s.res.Bus.CRCErrorsByUnit[unit]++
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (s *rtuScanner) foreignFrame(ev Event) {
	s.foreign = true
	s.res.Bus.ForeignMaster = true
	if len(s.res.Bus.ForeignFrames) < 10 {
		s.res.Bus.ForeignFrames = append(s.res.Bus.ForeignFrames, note(ev))
	}
}

func note(ev Event) FrameNote {
	return FrameNote{
		At: ev.End.UTC().Format(time.RFC3339Nano), Dir: ev.Frame.Dir.String(),
		UnitID: int(ev.Unit), Function: int(ev.Frame.PDU.Function), Raw: hex.EncodeToString(ev.Raw),
	}
}

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
		}
	case EvCRCError, EvTruncated:
		if s.lateGarbled(ev, target) {
			s.crcError(int(ev.Unit))
			return
		}
		s.crcError(target)
		if rec != nil {
			rec.corrupt++
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

// latePoll is the record of a poll whose answer came after its timeout:
// answered, so it counts among the responses and the polls alike.
func latePoll(p PDU, lat time.Duration) pollRec {
	rec := pollRec{ok: true, latency: lat, fc: p.BaseFunction()}
	if p.IsException() {
		rec.exception = p.Exception()
	} else {
		rec.value = hex.EncodeToString(p.Data)
	}
	return rec
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
	req := EncodeRTU(unit, p)
	rec.owedAge, rec.lateInFlight = s.answerOwed(unit, s.now())
	sentAt, err := s.bus.send(req)
	if err != nil {
		return rec, nil, fmt.Errorf("%w: writing to the bus: %v", ErrBusIO, err)
	}
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
			continue
		}
		if (ev.Kind == EvCRCError || ev.Kind == EvTruncated) && ev.Unit == unit {
			rec.selfBad++
			garbled += len(ev.Raw)
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
	s.floor += s.wire(len(req)) + s.wire(len(reply.Raw)) + 5*time.Millisecond + s.wire(len(reply.Raw)) + s.o.Serial.Silence()
	rec.ok = true
	if reply.PDU.IsException() {
		rec.exception = reply.PDU.Exception()
	} else {
		rec.value = hex.EncodeToString(reply.PDU.Data)
	}
	end := s.now().Add(s.secondWindow(rec.latency, len(req), len(reply.Raw), timeout))
	for {
		ev, ok, err := s.bus.next(end)
		if err != nil {
			return rec, reply, fmt.Errorf("%w: %v", ErrBusIO, err)
		}
		if !ok {
			break
		}
		if s.claimForeign(ev) {
			continue
		}
		if s.isAnswer(ev, unit, p.Function) {
			ex.answers++
			if ex.answers > ex.attempts {
				rec.second++
			} else { // the answer to an earlier attempt that timed out
				u := s.unit(unit, "late_reply")
				u.errs.Late++
				u.late = append(u.late, ev.End.Sub(sentAt))
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
	return rec, reply, nil
}

// secondWindow is how long to keep listening after an answer for a second
// one: the first device's turnaround (round trip less both frames' wire
// time, at least 5 ms, at most the timeout) plus the answer's wire time,
// plus the silence that settles the splitter.
func (s *rtuScanner) secondWindow(roundTrip time.Duration, reqLen, replyLen int, timeout time.Duration) time.Duration {
	turnaround := roundTrip - s.wire(reqLen) - s.wire(replyLen)
	turnaround = min(timeout, max(turnaround, 5*time.Millisecond))
	return turnaround + s.wire(replyLen) + s.o.Serial.Silence()
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

// corruptPolls counts polls whose answer was garbled.
func (u *unitState) corruptPolls() int {
	n := 0
	for _, p := range u.polls {
		if u.garbled(p) {
			n++
		}
	}
	return n
}

// garbled reports whether poll p of u came back corrupt for a reason that
// may be the device's. Not so when ectool's own request went out while an
// answer from u to an earlier request was owed and u is seen answering
// later than the timeout: the request and that late answer collided on the
// line (a retry, or the next confirm poll, sent into it). Nor at an
// address another master polls (masterCollision).
func (u *unitState) garbled(p pollRec) bool {
	return !p.ok && p.corrupt > 0 && !u.ownCollision(p) && !u.masterCollision(p)
}

// masterCollision reports whether poll p of u came back corrupt at an
// address another master polls: with --talk-over-master its requests and
// answers there collide with ectool's, at that address more than any
// other, and the garbage says nothing of a second device. Other evidence
// (second answers, identities or values that differ) still does.
func (u *unitState) masterCollision(p pollRec) bool {
	return u.masterPolls && !p.ok && p.corrupt > 0 && !u.ownCollision(p)
}

// ownCollision reports whether poll p of u may have collided with u's own
// late answer: u answers late, and p went out while an answer was owed
// from a request recent enough for it to be on the line then (the slowest
// late answer seen, and a maximal frame's wire time at 9600 baud).
func (u *unitState) ownCollision(p pollRec) bool {
	if p.ok || p.corrupt == 0 || !p.lateInFlight || len(u.late) == 0 {
		return false
	}
	return p.owedAge <= slices.Max(u.late)+300*time.Millisecond
}

// record adds a poll to a unit's history and counters.
func (u *unitState) record(rec pollRec) {
	u.polls = append(u.polls, rec)
	switch {
	case rec.ok:
		u.responses++
		u.latencies = append(u.latencies, rec.latency)
		if rec.exception != 0 {
			u.errs.Exception++
			u.exceptions[rec.exception]++
		}
	case rec.corrupt > 0:
		u.errs.CRC += rec.corrupt
	case rec.timeout:
		u.errs.Timeout++
	}
	u.extra += rec.second
}

func (s *rtuScanner) sweep(ctx context.Context) error {
	start := s.now()
	ids := s.o.IDs
	s.res.Sweep.Total = len(ids)
	probe := s.o.Probe.PDU()
	for i, id := range ids {
		if ctx.Err() != nil {
			s.res.Stopped = "interrupted"
			break
		}
		var recs []pollRec
		var reply *Frame
		foundBy := s.o.Probe.String()
		foundPDU := probe
		tries := []PDU{probe}
		for r := 0; r < s.o.Retries; r++ {
			tries = append(tries, probe)
		}
		if s.o.Thorough {
			if s.o.Probe.Function != FuncReadInputRegisters {
				tries = append(tries, ReadRequest{Function: FuncReadInputRegisters, Quantity: 1}.PDU())
			}
			if s.o.Probe.Function != FuncReportServerID {
				tries = append(tries, ReportServerIDRequest())
			}
		}
		for _, p := range tries {
			rec, f, err := s.transact(id, p, s.o.Timeout)
			if err != nil {
				return err
			}
			recs = append(recs, rec)
			if f != nil {
				reply = f
				foundBy = fmt.Sprintf("fc%02x", p.Function)
				foundPDU = p
				break
			}
			// Something answered, garbled: confirm will tell. A pulse of
			// noise (a byte or two) is no answer: the retries go on.
			if rec.corrupt > 0 || rec.noise >= garbageAnswer || s.stop() {
				break
			}
		}
		last := recs[len(recs)-1]
		switch {
		case reply != nil:
			s.sweepValid++
			u := s.unit(id, foundBy)
			u.found = &foundPDU
			if reply.PDU.IsException() && u.foundBy == foundBy {
				u.foundBy = foundBy + "_exception"
			}
			for _, r := range recs {
				u.record(r)
			}
		case last.corrupt > 0 || last.noise > 0:
			s.sweepGarbled = append(s.sweepGarbled, id)
			if last.selfBad > 0 {
				u := s.unit(id, "garbled_reply")
				for _, r := range recs {
					u.record(r)
				}
				break
			}
			if !last.garbage || s.stop() {
				break
			}
			// Garbage where the answer was due, without even the address:
			// two devices answering at once, or line noise. Ask once more;
			// noise does not come back on cue, an answer does.
			rec, f, err := s.transact(id, probe, s.o.Timeout)
			if err != nil {
				return err
			}
			if f == nil && rec.corrupt == 0 {
				break
			}
			u := s.unit(id, "garbled_reply")
			if f != nil {
				s.sweepValid++
				u.found = &foundPDU
			}
			for _, r := range append(recs, rec) {
				u.record(r)
			}
		}
		s.res.Sweep.Probed = i + 1
		elapsed := s.now().Sub(start)
		s.progress(Progress{Phase: "sweep", Done: i + 1, Total: len(ids),
			ETA: time.Duration(float64(elapsed) / float64(i+1) * float64(len(ids)-i-1))})
		if s.stop() {
			s.res.Stopped = "foreign_master"
			break
		}
	}
	// Late replies to the last addresses.
	if !s.stop() && ctx.Err() == nil {
		if err := s.absorb(s.now().Add(s.o.Timeout)); err != nil {
			return err
		}
	}
	s.res.Sweep.Complete = s.res.Sweep.Probed == len(ids) && s.res.Stopped == ""
	s.res.Sweep.Found = len(s.units)
	s.res.Sweep.DurationMS = ms(s.now().Sub(start))
	return nil
}

// timeoutFor is the per-request timeout for confirm polls: a device that
// answered late gets twice its slowest observed latency.
func (s *rtuScanner) timeoutFor(u *unitState) time.Duration { return confirmTimeout(s.o.Timeout, u) }

// confirmTimeout is --timeout, or twice u's slowest late answer so far when
// that is longer (up to 5 s: an answer later than that is lost anyway), for
// RTU and TCP alike.
func confirmTimeout(timeout time.Duration, u *unitState) time.Duration {
	t := timeout
	for _, l := range u.late {
		t = max(t, 2*l+20*time.Millisecond)
	}
	return max(timeout, min(t, 5*time.Second))
}

// latenciesAlternate reports whether u's confirm polls so far answered with
// latencies that alternate between two groups, as twins taking turns do. A
// loaded host or network gives five polls that pattern by chance (about one
// in eight when its delays hit half of them), so the confirm phase then polls
// as often again before the verdict reads them all. hostJitter and the
// polls left out are judge's: latencies measured across a stall of the host
// are not compared.
func (u *unitState) latenciesAlternate(hostJitter time.Duration) bool {
	var lats []time.Duration
	for _, p := range u.polls { // the polls judge compares
		if p.ok && p.confirm && p.exception == 0 && !p.hostStall {
			lats = append(lats, p.latency)
		}
	}
	return latencyGroups(lats, hostJitter) != ""
}

// extraLatencyPolls is how many more confirm polls alternating latencies get.
func extraLatencyPolls(o ScanOptions) int { return max(6, o.Confirm) }

// confirmPDU is what confirm polls ask an address: the --id-register, or
// the request it answered in the sweep (FC 04 or 0x11 for a device found by
// --thorough), or the probe.
func confirmPDU(o ScanOptions, u *unitState) PDU {
	if o.IDRegister >= 0 {
		return ReadRequest{Function: o.IDTable.or(TableHolding).ReadFunction(), Address: uint16(o.IDRegister), Quantity: 2}.PDU()
	}
	if u.found != nil {
		return *u.found
	}
	return o.Probe.PDU()
}

func (s *rtuScanner) confirm(ctx context.Context) error {
	start := s.now()
	ids := s.sortedUnits()
	for i, id := range ids {
		u := s.units[id]
		poll := func(p PDU, confirm bool) (*Frame, error) {
			// Each poll's timeout follows the late answers seen so far,
			// this phase's included: the sweep may have missed the one
			// that shows how slow the device is (lost in a collision).
			rec, f, err := s.transact(id, p, s.timeoutFor(u))
			if err != nil {
				return nil, err
			}
			rec.confirm = confirm
			rec.fc = p.Function
			u.record(rec)
			return f, nil
		}
		pdus := func(req PDU, confirm bool) (*PDU, error) {
			f, err := poll(req, confirm)
			if f == nil {
				return nil, err
			}
			return &f.PDU, err
		}
		if s.o.Confirm > 0 {
			if err := u.readIdentity(pdus); err != nil {
				return err
			}
		}
		for range max(0, s.o.Confirm) {
			if s.stop() || ctx.Err() != nil {
				break
			}
			f, err := poll(confirmPDU(s.o, u), true)
			if err != nil {
				return err
			}
			if f != nil && s.o.IDRegister >= 0 && !f.PDU.IsException() {
				v := hex.EncodeToString(f.PDU.Data)
				u.idRegs = append(u.idRegs, v)
				if u.identity.IDRegister == "" {
					u.identity.IDRegister = v
				}
			}
		}
		if s.o.Confirm > 0 && len(u.serverIDs) > 0 && !s.stop() {
			if err := u.readServerID(pdus); err != nil {
				return err
			}
		}
		if s.o.Confirm > 0 && u.latenciesAlternate(s.bus.watch.Longest) {
			for range extraLatencyPolls(s.o) {
				if s.stop() || ctx.Err() != nil {
					break
				}
				if _, err := poll(confirmPDU(s.o, u), true); err != nil {
					return err
				}
			}
		}
		// Replies that are sometimes corrupt and sometimes clean: two
		// devices answering at once are indistinguishable while their
		// answers are identical and garble each other when they differ.
		// Poll more, alternating the identity (which carries a serial
		// number on many meters) and the probe, to see which answers break.
		extraPolls := max(6, s.o.Confirm)
		if s.o.Confirm > 0 && u.corruptPolls() > 0 && u.extra == 0 && !s.corruptionDecided(u, extraPolls) {
			for k := range extraPolls {
				if s.stop() || ctx.Err() != nil || s.corruptionDecided(u, extraPolls-k) {
					break // decided: the polls left cannot bring corruption under half
				}
				var err error
				if k%2 == 0 {
					_, err = poll(ReportServerIDRequest(), false)
				} else {
					_, err = poll(confirmPDU(s.o, u), true)
				}
				if err != nil {
					return err
				}
			}
		}
		s.progress(Progress{Phase: "confirm", Done: i + 1, Total: len(ids)})
		if s.stop() {
			s.res.Stopped = "foreign_master"
			break
		}
		if ctx.Err() != nil {
			s.res.Stopped = "interrupted"
			break
		}
	}
	if !s.stop() && ctx.Err() == nil {
		if err := s.absorb(s.now().Add(s.o.Timeout)); err != nil {
			return err
		}
	}
	s.res.Sweep.ConfirmMS = ms(s.now().Sub(start))
	s.res.Sweep.FloorMS = ms(s.floor)
	return nil
}

// corruptionDecided reports whether more polls of u could not change what
// its corrupt answers say: so many of its polls came back corrupt that even
// extra clean ones would leave at least half corrupt, and other addresses
// answered, so the bus baseline the verdict compares against exists
// (collision when the rest of the bus is clean, an error when every address
// is garbled). The extra polls are for addresses whose answers are sometimes
// clean and sometimes corrupt; polling a decided one again only costs time.
func (s *rtuScanner) corruptionDecided(u *unitState, extra int) bool {
	return len(s.units) > 1 && 2*u.corruptPolls() >= len(u.polls)+extra
}

func (s *rtuScanner) sortedUnits() []byte {
	ids := make([]byte, 0, len(s.units))
	for id := range s.units {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func (s *rtuScanner) finish() {
	ids := s.sortedUnits()
	// The bus baseline: how often the other addresses' replies were corrupt.
	settingsWrong := s.sweepValid == 0 && len(s.sweepGarbled) >= 2
	for _, id := range ids {
		u := s.units[id]
		var others, otherBad, otherTrailing int
		byFC := map[byte][2]int{}
		for _, oid := range ids {
			if oid == id {
				continue
			}
			for _, p := range s.units[oid].polls {
				others++
				if s.units[oid].garbled(p) {
					otherBad++
				}
				if p.ok && p.trailing >= garbageAnswer {
					otherTrailing++
				}
				c := byFC[p.fc]
				c[0]++
				if s.units[oid].garbled(p) {
					c[1]++
				}
				byFC[p.fc] = c
			}
		}
		bl := baseline{polls: others, bad: otherBad, trailing: otherTrailing, fc: byFC, noisy: s.lineNoise > 0 || s.res.Bus.ListenNoiseBytes > 0, hostJitter: s.bus.watch.Longest}
		d := judge(u, bl, settingsWrong, s.o.Timeout, true)
		if settingsWrong && d.Verdict == VerdictError {
			d.Hint = settingsWrongHint + settingsFix(s.o.Target.Transport)
		}
		s.res.Devices = append(s.res.Devices, d)
	}
	s.res.Findings = busFindings(s.res, s.foreign, settingsWrong, s.sweepGarbled, s.o)
}

// pduPoll sends one request to the unit being confirmed and returns the
// answer's PDU (nil when none came), whatever the transport's framing.
type pduPoll func(req PDU, confirm bool) (*PDU, error)

// readServerID polls FC 0x11 once and keeps the server id it answers, so
// twins that report different ids show up across polls.
func (u *unitState) readServerID(poll pduPoll) error {
	p, err := poll(ReportServerIDRequest(), false)
	if err != nil || p == nil || p.IsException() {
		return err
	}
	if b, err := ParseServerID(*p); err == nil {
		u.serverIDs = append(u.serverIDs, hex.EncodeToString(b))
		if u.identity.ServerID == "" {
			u.identity.ServerID = hex.EncodeToString(b)
			u.identity.ServerIDText = printable(b)
		}
	}
	return nil
}

// readIdentity reads FC 0x11 and FC 0x2B/0x0E (basic device identification)
// once, before the confirm polls.
func (u *unitState) readIdentity(poll pduPoll) error {
	if err := u.readServerID(poll); err != nil {
		return err
	}
	p, err := poll(ReadDeviceIDRequest(DeviceIDBasic, ObjVendorName), false)
	if err != nil {
		return err
	}
	if p != nil && !p.IsException() {
		if d, err := ParseDeviceID(*p); err == nil {
			u.identity.Vendor = d.Object(ObjVendorName)
			u.identity.Product = d.Object(ObjProductCode)
			u.identity.Revision = d.Object(ObjMajorMinorRevision)
			u.deviceIDs = append(u.deviceIDs, u.identity.Vendor+"|"+u.identity.Product+"|"+u.identity.Revision)
		}
	}
	return nil
}
