package modbus

import (
	"context"
	"encoding/hex"
	"time"
)

// unitPoller sends one confirm poll: a request to an address, and what came
// back. rtuScanner and tcpScanner are the two; each keeps its own framing,
// its own account of whatever else arrived on the way (late answers, noise,
// another master) and its own idea of an answer that does not count (a
// gateway's 0x0A or 0x0B). The confirm loop owns everything else, so both
// transports confirm alike. A Client is the third (clientpoll.go): modbus
// watch polls through it.
type unitPoller interface {
	// pollUnit sends req to unit and waits up to timeout for the answer.
	// answer is nil when none came, or none that counts.
	pollUnit(unit byte, req PDU, timeout time.Duration) (rec pollRec, answer *PDU, err error)
	// halted reports whether ectool must stop talking on this bus: another
	// master was heard, without --talk-over-master.
	halted() bool
}

// confirmer polls every address the sweep found, to tell a single device
// from two answering at the same address: identities read twice, the
// confirm polls, and more polls where latencies alternate or answers come
// back corrupt now and then.
type confirmer struct {
	o     ScanOptions
	p     unitPoller
	units map[byte]*unitState // the scanner's: late answers may add to it
	// watch is the host's, whose longest stall latencies are judged by.
	watch    *hostWatch
	progress func(Progress)
}

// run confirms each address, lowest first. stopped says why it ended early
// ("foreign_master", "interrupted"; "" when it did not); err is an error of
// the bus or connection.
func (c *confirmer) run(ctx context.Context) (stopped string, err error) {
	return c.runIDs(ctx, sortedIDs(c.units))
}

// runIDs confirms the addresses ids, lowest first (run).
func (c *confirmer) runIDs(ctx context.Context, ids []byte) (stopped string, err error) {
	for i, id := range ids {
		if ctx.Err() != nil {
			return "interrupted", nil
		}
		if err := c.unit(ctx, c.units[id]); err != nil {
			return "", err
		}
		c.progress(Progress{Phase: "confirm", Done: i + 1, Total: len(ids)})
		if c.p.halted() {
			return "foreign_master", nil
		}
		if ctx.Err() != nil {
			return "interrupted", nil
		}
	}
	return "", nil
}

// poll sends one request to u and records what came back. confirm marks
// the polls whose values and latencies the verdict compares.
func (c *confirmer) poll(u *unitState, req PDU, confirm bool) (*PDU, error) {
	// Each poll's timeout follows the late answers seen so far, this
	// phase's included: the sweep may have missed the one that shows how
	// slow the device is (lost in a collision).
	rec, answer, err := c.p.pollUnit(u.id, req, confirmTimeout(c.o.Timeout, u))
	if err != nil {
		return nil, err
	}
	rec.confirm = confirm
	rec.fc = req.Function
	u.record(rec)
	return answer, nil
}

// more reports whether polling may go on.
func (c *confirmer) more(ctx context.Context) bool { return !c.p.halted() && ctx.Err() == nil }

// unit confirms one address.
func (c *confirmer) unit(ctx context.Context, u *unitState) error {
	if c.o.Confirm <= 0 {
		return nil
	}
	poll := func(req PDU, confirm bool) (*PDU, error) { return c.poll(u, req, confirm) }
	if err := u.readIdentity(poll); err != nil {
		return err
	}
	for range c.o.Confirm {
		if !c.more(ctx) {
			break
		}
		a, err := poll(confirmPDU(c.o, u), true)
		if err != nil {
			return err
		}
		if a != nil && c.o.IDRegister >= 0 && !a.IsException() {
			v := hex.EncodeToString(a.Data)
			u.idRegs = append(u.idRegs, v)
			if u.identity.IDRegister == "" {
				u.identity.IDRegister = v
			}
		}
	}
	if len(u.serverIDs) > 0 && !c.p.halted() {
		if err := u.readServerID(poll); err != nil {
			return err
		}
	}
	if u.latenciesAlternate(c.watch.Longest) { // chance or twins: ask again
		for range extraLatencyPolls(c.o) {
			if !c.more(ctx) {
				break
			}
			if _, err := poll(confirmPDU(c.o, u), true); err != nil {
				return err
			}
		}
	}
	return c.pollWhileCorrupt(ctx, u, poll)
}

// pollWhileCorrupt polls an address whose replies are sometimes corrupt and
// sometimes clean: two devices answering at once are indistinguishable
// while their answers are identical and garble each other when they
// differ. It alternates the identity (which carries a serial number on many
// meters) and the probe, to see which answers break. Behind a gateway no
// reply is ever corrupt, so this never polls there.
func (c *confirmer) pollWhileCorrupt(ctx context.Context, u *unitState, poll pduPoll) error {
	extraPolls := max(6, c.o.Confirm)
	if u.corruptPolls() == 0 || u.extra != 0 || c.corruptionDecided(u, extraPolls) {
		return nil
	}
	for k := range extraPolls {
		if !c.more(ctx) || c.corruptionDecided(u, extraPolls-k) {
			break // decided: the polls left cannot bring corruption under half
		}
		var err error
		if k%2 == 0 {
			_, err = poll(ReportServerIDRequest(), false)
		} else {
			_, err = poll(confirmPDU(c.o, u), true)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

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

// corruptionDecided reports whether more polls of u could not change what
// its corrupt answers say: so many of its polls came back corrupt that even
// extra clean ones would leave at least half corrupt, and other addresses
// answered, so the bus baseline the verdict compares against exists
// (collision when the rest of the bus is clean, an error when every address
// is garbled). The extra polls are for addresses whose answers are sometimes
// clean and sometimes corrupt; polling a decided one again only costs time.
func (c *confirmer) corruptionDecided(u *unitState, extra int) bool {
	return len(c.units) > 1 && 2*u.corruptPolls() >= len(u.polls)+extra
}
