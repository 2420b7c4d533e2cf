package modbus

import (
	"context"
	"encoding/hex"
	"time"
)

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
