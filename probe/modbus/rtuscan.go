package modbus

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"
)

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
	// auto is --timeout auto's state (nil with a fixed timeout).
	auto *autoWait
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

// confirm polls every address the sweep found (confirmer), then takes the
// late answers to its last polls.
func (s *rtuScanner) confirm(ctx context.Context) error {
	start := s.now()
	if s.auto != nil {
		s.o.Timeout = s.auto.confirmWait()
		s.auto.frozen = true
	}
	first := sortedIDs(s.units)
	c := confirmer{o: s.o, p: s, units: s.units, watch: &s.bus.watch, progress: s.progress}
	stopped, err := c.run(ctx)
	if err != nil {
		return err
	}
	if s.auto != nil && stopped == "" && len(s.units) > len(first) {
		// Late answers heard during the confirm polls found more
		// addresses: confirm them too.
		stopped, err = s.confirmLate(ctx, c, first)
		if err != nil {
			return err
		}
	}
	if stopped != "" {
		s.res.Stopped = stopped
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

func (s *rtuScanner) finish() {
	ids := sortedIDs(s.units)
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
		if !settingsWrong && u.noiseOnly(bl) {
			s.res.Bus.NoiseOnlyIDs = append(s.res.Bus.NoiseOnlyIDs, int(id))
			continue
		}
		d := judge(u, bl, settingsWrong, s.o.Timeout, true)
		if s.auto != nil {
			autoLate(&d, u)
		}
		if settingsWrong && d.Verdict == VerdictError {
			d.Hint = settingsWrongHint + settingsFix(s.o.Target.Transport)
		}
		s.res.Devices = append(s.res.Devices, d)
	}
	s.res.Findings = busFindings(s.res, s.foreign, settingsWrong, s.sweepGarbled, s.o)
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
