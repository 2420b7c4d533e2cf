package modbus

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// sweepTries is what the sweep asks each address, over RTU and TCP alike,
// until one answers: the probe, again for each retry, then with --thorough
// FC 04 and FC 0x11 (those the probe is not).
func sweepTries(o ScanOptions) []PDU {
	probe := o.Probe.PDU()
	tries := []PDU{probe}
	for r := 0; r < o.Retries; r++ {
		tries = append(tries, probe)
	}
	if o.Thorough {
		if o.Probe.Function != FuncReadInputRegisters {
			tries = append(tries, ReadRequest{Function: FuncReadInputRegisters, Quantity: 1}.PDU())
		}
		if o.Probe.Function != FuncReportServerID {
			tries = append(tries, ReportServerIDRequest())
		}
	}
	return tries
}

// sweep asks every address once (and again per sweepTries) and keeps those
// that answered, or answered garbled, for the confirm phase.
func (s *rtuScanner) sweep(ctx context.Context) error {
	start := s.now()
	ids := s.o.IDs
	s.res.Sweep.Total = len(ids)
	for i, id := range ids {
		if ctx.Err() != nil {
			s.res.Stopped = "interrupted"
			break
		}
		if err := s.sweepOne(id, s.sweepWait()); err != nil {
			return err
		}
		if s.auto != nil && i == 0 {
			if err := s.remeasure(id); err != nil {
				return err
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
	// Under --timeout auto the re-probes go first: they hear the same
	// late answers meanwhile.
	if !s.stop() && ctx.Err() == nil {
		end := s.now().Add(s.lastWait())
		if s.auto != nil {
			if err := s.reprobe(); err != nil {
				return err
			}
		}
		if err := s.absorb(end); err != nil {
			return err
		}
	}
	s.res.Sweep.Complete = s.res.Sweep.Probed == len(ids) && s.res.Stopped == ""
	s.res.Sweep.Found = len(s.units)
	s.res.Sweep.DurationMS = ms(s.now().Sub(start))
	return nil
}

// sweepOne asks id per sweepTries, each waiting timeout, and keeps it for
// the confirm phase when it answered, or answered garbled.
func (s *rtuScanner) sweepOne(id byte, timeout time.Duration) error {
	probe := s.o.Probe.PDU()
	tries := sweepTries(s.o)
	var recs []pollRec
	var reply *Frame
	foundBy := s.o.Probe.String()
	foundPDU := probe
	for _, p := range tries {
		rec, f, err := s.transact(id, p, timeout)
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
		if !slices.Contains(s.sweepGarbled, id) { // asked again by --timeout auto
			s.sweepGarbled = append(s.sweepGarbled, id)
		}
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
		rec, f, err := s.transact(id, probe, timeout)
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
	if s.auto != nil {
		s.autoNote(id, recs)
	}
	return nil
}

// sweepWait is the sweep's wait at each address: --timeout, or under
// --timeout auto the window learned so far.
func (s *rtuScanner) sweepWait() time.Duration {
	if s.auto != nil {
		return s.auto.sweepWait()
	}
	return s.o.Timeout
}

// lastWait is how long the sweep listens after its last request for late
// answers: --timeout, or under --timeout auto the confirm wait, and the
// long wait once a late answer has shown how long a device takes.
func (s *rtuScanner) lastWait() time.Duration {
	if s.auto == nil {
		return s.o.Timeout
	}
	if s.auto.maxLate > 0 {
		return s.auto.long()
	}
	return s.auto.confirmWait()
}
