package modbus

import (
	"encoding/hex"
	"slices"
	"sort"
	"time"
)

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
	// sentAt is when the request went out: watch stamps the values it
	// read with it.
	sentAt time.Time
	// lateOther counts late answers of other addresses in this window,
	// oddNoise the longest burst of bytes that formed no frame, and oddAt
	// when bytes nothing explained came (--timeout auto's evidence).
	lateOther int
	oddNoise  int
	oddAt     time.Time
	// collided counts bad frames that began while the request was still
	// on the wire (--timeout auto): the request met another transmission.
	collided int
	// badFrame is the first bad-CRC frame in the window that began with
	// the polled address, byte for byte: two devices answering at once
	// merge their answers the same way each time, noise never does.
	badFrame string
	// listened: after the answer, the whole second-answer window was
	// listened to (secondWindow), not the short one of an address that has
	// already answered alone (answeredAlone).
	listened bool
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

// noiseOnly reports whether all u ever gave was what the line's noise
// gives: on a line where noise was heard where no answer was due, an
// address that never answered validly and had bytes in fewer than half of
// its windows; of them at most one frame beginning with its own address,
// and then bytes in fewer than a quarter of at least 8 windows (a full
// range on a noisy line, about 1 in 20 addresses gets that once by chance). A
// device, even two garbling each other, answers on cue: its bytes come in
// most windows (the sweep asks again before it keeps garbage), and noise
// pulses every hundred milliseconds or so fill a long window by chance.
func (u *unitState) noiseOnly(bl baseline) bool {
	if !bl.noisy || u.responses > 0 || u.extra > 0 || len(u.late) > 0 || len(u.serverIDs)+len(u.deviceIDs) > 0 {
		return false
	}
	bad, own := 0, 0
	for _, p := range u.polls {
		if p.ok || p.second > 0 {
			return false
		}
		if p.selfBad > 0 {
			own++
		}
		if p.corrupt > 0 {
			bad++
		}
	}
	if own > 0 {
		// A pulse can begin with any byte, this address's among them: one
		// such frame in many polls otherwise silent is the noise's too.
		return own == 1 && len(u.polls) >= 8 && 4*bad < len(u.polls)
	}
	return len(u.polls) >= 4 && 2*bad < len(u.polls)
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

// answeredAlone reports whether everything u has sent so far says one
// device: at least two polls answered whose whole second-answer window held
// nothing, and no poll of u ever brought a second answer, bytes after the
// answer, a corrupt or garbled one, or a request that met another
// transmission. A second device that answers after the first does so at
// every request (its turnaround is its own, give or take a jitter of
// milliseconds): two whole windows that stayed quiet have shown there is
// none within them. A twin slower still is heard later as an answer
// nobody asked for (extra), which ends this.
func (u *unitState) answeredAlone() bool {
	if u.extra > 0 || u.masterPolls {
		return false
	}
	quiet := 0
	for _, p := range u.polls {
		if p.corrupt > 0 || p.selfBad > 0 || p.second > 0 || p.trailing > 0 || p.garbage || p.collided > 0 {
			return false
		}
		if p.ok && p.listened {
			quiet++
		}
	}
	return quiet >= 2
}

// sortedIDs is the addresses of units, lowest first.
func sortedIDs(units map[byte]*unitState) []byte {
	ids := make([]byte, 0, len(units))
	for id := range units {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
