package modbus

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// baseline is how the rest of the bus behaved: polls to other addresses and
// how many of them came back corrupt.
// trailing counts other addresses' polls with bytes after a valid reply:
// on a noisy line every address gets some, which is the line's doing.
// fc counts the other addresses' polls and corrupt answers per function
// code: on a noisy line long answers (FC 0x11, 0x2B) are hit more often
// than short ones, at every address.
// noisy says noise pulses were heard where no answer was due (while
// listening, or in an absent address's window): isolated CRC errors and
// stray bytes are then the line's, and take a wider margin to blame a device.
// hostJitter is the longest stall of the host during the scan
// (hostwatch.go): latencies that differ by less than twice that may differ
// by the host's doing alone.
type baseline struct {
	polls, bad, trailing int
	fc                   map[byte][2]int
	noisy                bool
	hostJitter           time.Duration
}

// trailingRate is the share of the other addresses' polls with bytes after
// a valid reply.
func (b baseline) trailingRate() float64 {
	if b.polls == 0 {
		return 0
	}
	return float64(b.trailing) / float64(b.polls)
}

func (b baseline) rate() float64 {
	if b.polls == 0 {
		return 0
	}
	return float64(b.bad) / float64(b.polls)
}

// known reports whether enough other polls exist to call the bus clean.
func (b baseline) known() bool { return b.polls >= 3 }

// settingsWrongHint starts the hint of an address garbled like every other.
const settingsWrongHint = "replies from every address fail the CRC: the serial settings probably do not match the bus; "

// settingsFix is what to do when the serial settings do not match the
// meters'. On an adapter ectool sets them (and --auto-detect finds them);
// behind a transparent serial server they are the server's own, set in its
// configuration, and --baud and --parity only tell ectool the line's timing.
func settingsFix(t Transport) string {
	if t == TransportRTUOverTCP {
		return "set the serial server's port to the meters' baud rate and parity (in its web page or configuration tool: --baud and --parity only tell ectool the line's timing), as shown on a meter's display"
	}
	return "try --auto-detect, or the baud rate and parity shown on a meter's display"
}

const collisionHint = "two devices answer at address %d: disconnect them one at a time, or read the address on each meter's display, and give one of them a free address"

// judge turns what was observed at one address into a verdict with its
// evidence and a hint. serial says whether bytes on the line were visible
// (RTU) or hidden behind a gateway (TCP). Each step adds what it finds
// to ev, in an order the evidence lists keep; later steps weigh what
// earlier ones found.
func judge(u *unitState, bl baseline, settingsWrong bool, timeout time.Duration, serial bool) Device {
	d := deviceOf(u)
	var ev evidence
	masterExtra := ev.secondAnswers(u)
	d.IDRegisters = ev.identities(u)
	if v := distinct(u.serverIDs); len(v) > 1 {
		d.ServerIDs = v
	}
	t := tallyPolls(u)
	ev.patterns(u, t, bl)
	if serial {
		ev.corruption(t, bl, settingsWrong)
		if !settingsWrong {
			ev.repeatedGarble(u)
		}
		if !settingsWrong && bl.known() && bl.rate() <= 0.1 && len(ev.collision) == 0 {
			ev.corruptFunction(u, t, bl)
		}
	}
	ev.trailingBytes(t, bl)
	ev.silence(u, t, settingsWrong)
	ev.verdict(&d, u, settingsWrong, serial)
	forgiven(&d, u, t, masterExtra)
	return d
}

// deviceOf is the verdict of u before any evidence: ok, with its counts,
// identity, poll history and exceptions.
func deviceOf(u *unitState) Device {
	d := Device{
		UnitID: int(u.id), Verdict: VerdictOK, Responses: u.responses, Polls: len(u.polls),
		Errors: u.errs, LatencyMS: latencySummary(u.latencies), FoundBy: u.foundBy, Evidence: []string{},
	}
	if !u.identity.Empty() {
		id := u.identity
		d.Identity = &id
	}
	for _, p := range u.polls {
		d.History = append(d.History, p.outcome())
	}
	for c, n := range u.exceptions {
		d.Exceptions = append(d.Exceptions, fmt.Sprintf("%s x%d", c, n))
	}
	sort.Strings(d.Exceptions)
	return d
}

// evidence is what judge found at an address, by weight: proof of two
// devices, signs of them (or of a sick device), and proof that the device
// does not work.
type evidence struct {
	collision, suspect, broken []string
}

func (e *evidence) collide(f string, a ...any) {
	e.collision = append(e.collision, fmt.Sprintf(f, a...))
}

func (e *evidence) suspectf(f string, a ...any) { e.suspect = append(e.suspect, fmt.Sprintf(f, a...)) }

// secondAnswers weighs answers beyond the requests sent. It returns how
// many it forgave: at an address another master polls, an answer ectool did
// not ask for is likely its (its request lost in a collision, or the same
// bytes as ectool's taken for an echo), and only what the answers carry
// tells twins apart there.
func (e *evidence) secondAnswers(u *unitState) (masterExtra int) {
	switch {
	case u.extra > 0 && u.masterPolls:
		return u.extra
	case u.extra > 0:
		if u.lateExtra > 0 {
			e.collide("%d answer(s) beyond the requests sent (%d arrived after the listening window, as a 'late' second answer)", u.extra, u.lateExtra)
		} else {
			e.collide("%d second answer(s) after a valid reply", u.extra)
		}
	}
	return 0
}

// identities compares the identities read across polls: two differing
// ones are two devices. It returns the id register values seen.
func (e *evidence) identities(u *unitState) (idRegisters []string) {
	if v := distinct(u.serverIDs); len(v) > 1 {
		e.collide("Report Server ID differs between polls: %s", strings.Join(v, " vs "))
	}
	if v := distinct(u.deviceIDs); len(v) > 1 {
		e.collide("device identification differs between polls: %s", strings.Join(v, " vs "))
	}
	idRegisters = distinct(u.idRegs)
	if v := idRegisters; len(v) > 1 {
		e.collide("id register differs between polls: %s", strings.Join(v, " vs "))
	}
	return idRegisters
}

// pollTally is what judge counts over an address's polls.
type pollTally struct {
	values []string        // confirm polls' values (exceptions aside)
	lats   []time.Duration // their latencies (those across a host stall aside)
	// bad counts corrupt answers, trailing valid ones with bytes after
	// them; own and shared count corrupt answers forgiven (ownCollision,
	// masterCollision).
	bad, trailing, timeouts, polls, own, shared int
}

func tallyPolls(u *unitState) pollTally {
	var t pollTally
	for _, p := range u.polls {
		t.polls++
		switch {
		case u.ownCollision(p):
			t.own++
		case u.masterCollision(p):
			t.shared++
		case p.ok:
			if p.confirm && p.exception == 0 {
				t.values = append(t.values, p.value)
				if !p.hostStall {
					t.lats = append(t.lats, p.latency)
				}
			}
			if p.trailing >= garbageAnswer { // a pulse of noise reads as a byte or two
				t.trailing++
			}
		case p.corrupt > 0:
			t.bad++
		case p.timeout:
			t.timeouts++
		}
	}
	return t
}

// patterns weighs values and latencies that fall into two groups, as twins
// taking turns answer.
func (e *evidence) patterns(u *unitState, t pollTally, bl baseline) {
	if alt, strict := alternates(t.values); alt && u.idRegs == nil {
		if strict {
			e.collide("values alternate between two groups over %d polls: %s", len(t.values), strings.Join(distinct(t.values), " / "))
		} else {
			e.suspectf("values fall into two groups over %d polls: %s", len(t.values), strings.Join(distinct(t.values), " / "))
		}
	}
	if g := latencyGroups(t.lats, bl.hostJitter); g != "" {
		if len(e.collision) > 0 {
			e.collide("latencies alternate between two groups: %s", g)
		} else {
			e.suspectf("latencies alternate between two groups: %s", g)
		}
	}
}

// corruption weighs corrupt answers against the rest of the bus (serial
// lines only).
func (e *evidence) corruption(t pollTally, bl baseline, settingsWrong bool) {
	if t.bad == 0 {
		return
	}
	rate := 0.0
	if t.polls > 0 {
		rate = float64(t.bad) / float64(t.polls)
	}
	bad, polls := t.bad, t.polls
	switch {
	case settingsWrong:
		e.broken = append(e.broken, fmt.Sprintf("%d of %d replies failed the CRC, like every address on this bus", bad, polls))
	case rate >= 0.5 && bl.known() && bl.rate() <= 0.1:
		e.collide("%d of %d replies corrupt (bad CRC or cut short) while the rest of the bus is clean (%d of %d): two devices answering at once corrupt each other", bad, polls, bl.bad, bl.polls)
	case rate >= 0.5:
		e.suspectf("%d of %d replies corrupt (bad CRC or cut short), with no clean addresses to compare: two devices answering at once, or a bad transceiver or wiring at this device", bad, polls)
	case bad >= 2 && rate > 3*bl.rate()+0.05 && !bl.noisy,
		bad >= 3 && rate > 3*bl.rate()+0.15:
		e.suspectf("%d of %d replies corrupt, against %d of %d elsewhere on the bus", bad, polls, bl.bad, bl.polls)
	}
}

// repeatedGarble looks for the same corrupt answer more than once. Two
// devices answering at once merge their bits the same way whenever their
// answers to a request are the same pair, so the garbled frame repeats byte
// for byte (the overlapping twins' answers to FC 0x11, which carry two
// serial numbers); line noise hits a random bit of a random answer, and a
// flaky transceiver a random one too. It is the proof that still holds on a
// noisy line, where the share of corrupt answers does not: three identical
// corrupt frames are a collision, two a suspect (a device that garbles one
// answer the same way is rare, but not a second device).
func (e *evidence) repeatedGarble(u *unitState) {
	seen := map[string]int{}
	var top string
	for _, p := range u.polls {
		if p.badFrame == "" || len(p.badFrame) < 5 || !u.garbled(p) {
			continue
		}
		seen[p.badFrame]++
		if seen[p.badFrame] > seen[top] {
			top = p.badFrame
		}
	}
	n := seen[top]
	if n < 2 {
		return
	}
	f := fmt.Sprintf("the same corrupt answer to FC 0x%02X came back %d times, byte for byte (%d bytes, bad CRC): line noise never garbles two answers alike, two devices answering at once merge their bits the same way each time their answers differ", top[1]&^0x80, n, len(top))
	if n >= 3 {
		e.collide("%s", f)
		return
	}
	e.suspectf("%s", f)
}

// corruptFunction looks for corruption concentrated on one kind of request
// at this address, on an otherwise clean bus: a single device does not
// garble one function's answers only, while two devices answering at once
// do whenever their answers differ.
func (e *evidence) corruptFunction(u *unitState, t pollTally, bl baseline) {
	byFC := map[byte][2]int{} // fc -> polls, corrupt
	for _, p := range u.polls {
		c := byFC[p.fc]
		c[0]++
		if u.garbled(p) {
			c[1]++
		}
		byFC[p.fc] = c
	}
	for fc, c := range byFC {
		if o := bl.fc[fc]; o[0] >= 2 && 10*o[1] > o[0] {
			continue // the other addresses' answers to it are garbled too: noise on long answers
		}
		if c[0] >= 3 && c[1] >= 2 && 3*c[1] >= 2*c[0] && c[1] < t.bad+1 && t.bad < t.polls {
			if bl.noisy {
				// Noise pulses hit long answers more often than short
				// ones: on such a line this is no proof of two devices.
				e.suspectf("answers to FC 0x%02X come back corrupt in %d of %d polls while other requests to %d come back clean, on a line with noise pulses: two devices answering at once, or the noise hitting long answers (scan again after fixing the noise, or with --id-register)", fc, c[1], c[0], u.id)
				break
			}
			e.collide("answers to FC 0x%02X come back corrupt in %d of %d polls while other requests to %d come back clean and the rest of the bus is clean (%d of %d): two devices answer at once and garble each other whenever their answers differ", fc, c[1], c[0], u.id, bl.bad, bl.polls)
			break
		}
	}
}

// trailingBytes weighs bytes after a valid reply: at this address only, a
// second answer cut short; at every address alike, line noise, which the
// bus findings report (polls == 0 guards the rate).
func (e *evidence) trailingBytes(t pollTally, bl baseline) {
	lineNoise := t.polls > 0 && float64(t.trailing)/float64(t.polls) <= 3*bl.trailingRate()+0.05
	if t.trailing >= 2 && !lineNoise && (t.trailing >= 3 || bl.trailing == 0) {
		e.suspectf("bytes after a valid reply in %d of %d polls, against %d of %d elsewhere on the bus (a second device's answer cut short, or a transceiver glitching at turn-off)", t.trailing, t.polls, bl.trailing, bl.polls)
	} else if t.trailing == 1 && len(e.collision) > 0 {
		e.collide("bytes after a valid reply in 1 of %d polls", t.polls)
	}
}

// silence weighs polls without a valid answer.
func (e *evidence) silence(u *unitState, t pollTally, settingsWrong bool) {
	if u.responses == 0 && t.bad > 0 && !settingsWrong && len(e.collision)+len(e.suspect) == 0 {
		// Never a valid answer: whatever garbled the few that came, this
		// is no healthy device.
		e.suspectf("no valid answer in %d polls, %d garbled", t.polls, t.bad)
	}
	if u.responses == 0 && t.bad == 0 {
		e.broken = append(e.broken, "no valid reply in the confirm polls")
	} else if t.timeouts > 0 && t.timeouts*2 >= t.polls && u.responses > 0 {
		e.suspectf("silent in %d of %d polls", t.timeouts, t.polls)
	}
}

// verdict sets d's verdict, evidence and hint from what was found: a
// collision outweighs a broken device, which outweighs a suspect one.
func (e *evidence) verdict(d *Device, u *unitState, settingsWrong, serial bool) {
	switch {
	case len(e.collision) > 0:
		d.Verdict = VerdictCollision
		d.Evidence = append(e.collision, e.suspect...)
		d.Hint = fmt.Sprintf(collisionHint, u.id)
	case len(e.broken) > 0 && (settingsWrong || u.responses == 0):
		d.Verdict = VerdictError
		d.Evidence = append(e.broken, e.suspect...)
		if settingsWrong {
			d.Hint = settingsWrongHint + settingsFix(TransportRTU)
		} else {
			d.Hint = fmt.Sprintf("the device at %d answered once and then stopped answering: check its wiring and power, then scan again with a longer --timeout", u.id)
		}
	case len(e.suspect) > 0:
		d.Verdict = VerdictSuspect
		d.Evidence = e.suspect
		d.Hint = fmt.Sprintf("address %d behaves unlike a single healthy device: scan again with --confirm 20 (and --id-register if the meter has a serial-number register), or check it on the meter's display", u.id)
		if !serial {
			d.Hint += "; behind a gateway, two devices answering at once show as answers that come and go (exception 0x0B in between): scan the RS-485 side directly to see the garbled frames"
		}
	}
	if d.Verdict == VerdictOK {
		switch {
		case u.errs.Exception == u.responses && u.responses > 0:
			d.Evidence = append(d.Evidence, fmt.Sprintf("answers only with exceptions (%s): a device is there", strings.Join(d.Exceptions, ", ")))
		default:
			d.Evidence = append(d.Evidence, fmt.Sprintf("%d consistent replies", u.responses))
		}
	}
}

// forgiven adds to d's evidence what was not held against the device:
// answers garbled by another master's or ectool's own exchanges, answers
// taken for another master's, and late replies (a warning, and the hint
// when there is none).
func forgiven(d *Device, u *unitState, t pollTally, masterExtra int) {
	if t.shared > 0 {
		d.Evidence = append(d.Evidence, fmt.Sprintf("%d answer(s) garbled while another master polls this address: its exchanges and ectool's collide (--talk-over-master), not held against the device", t.shared))
	}
	if masterExtra > 0 {
		d.Evidence = append(d.Evidence, fmt.Sprintf("%d answer(s) beyond ectool's requests while another master polls this address: taken for its exchanges, not a second device", masterExtra))
	}
	if len(u.late) > 0 {
		worst := u.late[0]
		for _, l := range u.late {
			worst = max(worst, l)
		}
		d.Warning = fmt.Sprintf("late reply from %d after %s: try --timeout %s", u.id, fmtMS(worst), suggestTimeout(worst))
		d.Evidence = append(d.Evidence, d.Warning)
		if t.own > 0 {
			d.Evidence = append(d.Evidence, fmt.Sprintf("%d answer(s) garbled by ectool's next request, sent while the late answer was on its way (not held against the device)", t.own))
		}
		if d.Hint == "" {
			d.Hint = d.Warning
		}
	}
}

// suggestTimeout rounds twice the observed latency up to a friendly value.
func suggestTimeout(l time.Duration) string {
	t := 2 * l
	steps := []time.Duration{200, 300, 500, 1000, 2000, 3000, 5000}
	for _, s := range steps {
		if t <= s*time.Millisecond {
			if s >= 1000 {
				return fmt.Sprintf("%ds", s/1000)
			}
			return fmt.Sprintf("%dms", s)
		}
	}
	return fmt.Sprintf("%ds", int(t.Seconds())+1)
}

func distinct(vs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range vs {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// alternates reports whether values form exactly two groups, each seen at
// least twice with at least two changes (alt), and whether they strictly
// alternate A B A B (strict). A live register gives many values; a status
// register toggles rarely; two meters taking turns alternate.
func alternates(values []string) (alt, strict bool) {
	if len(values) < 4 {
		return false, false
	}
	count := map[string]int{}
	changes := 0
	for i, v := range values {
		count[v]++
		if i > 0 && values[i-1] != v {
			changes++
		}
	}
	if len(count) != 2 || changes < 2 {
		return false, false
	}
	for _, n := range count {
		if n < 2 {
			return false, false
		}
	}
	return true, changes == len(values)-1
}

// latencyGroups reports two latency clusters that strictly alternate with a
// clear gap between them ("" when there are none). USB adapters and
// schedulers jitter by a few milliseconds, so the gap must be wide: 15 ms,
// and twice the longest stall of the host during the scan (a loaded
// machine delays a reply by whatever it delays the scanner).
func latencyGroups(l []time.Duration, hostJitter time.Duration) string {
	if len(l) < 4 {
		return ""
	}
	s := append([]time.Duration(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	gap, at := time.Duration(0), 0
	for i := 1; i < len(s); i++ {
		if g := s[i] - s[i-1]; g > gap {
			gap, at = g, i
		}
	}
	if at < 2 || len(s)-at < 2 {
		return ""
	}
	lowSpread := s[at-1] - s[0]
	highSpread := s[len(s)-1] - s[at]
	if gap < max(15*time.Millisecond, 2*hostJitter) || gap < 3*max(lowSpread, highSpread) {
		return ""
	}
	cut := s[at]
	for i := 1; i < len(l); i++ {
		if (l[i] >= cut) == (l[i-1] >= cut) {
			return ""
		}
	}
	return fmt.Sprintf("%s-%s and %s-%s", fmtMS(s[0]), fmtMS(s[at-1]), fmtMS(s[at]), fmtMS(s[len(s)-1]))
}

// busFindings are the conclusions about the whole line.
func busFindings(r *Result, foreign, settingsWrong bool, garbled []byte, o ScanOptions) []Finding {
	var out []Finding
	if foreign {
		f := Finding{Kind: "foreign_master", Status: report.Failed,
			Message:  fmt.Sprintf("another master is active on this bus: %d frame(s) ectool did not cause", len(r.Bus.ForeignFrames)),
			Evidence: map[string]any{"frames": len(r.Bus.ForeignFrames)},
			Hint:     "a gateway or PLC polls this bus; requests from ectool would collide with it. Stop it, or watch its traffic with 'ectool scan sniff' on an adapter of your own; --talk-over-master scans anyway (its polls and ectool's then collide now and then)"}
		if len(r.Bus.ForeignFrames) > 0 {
			f.Evidence["first"] = r.Bus.ForeignFrames[0]
		}
		if o.TalkOverMaster {
			f.Status = report.Warning
			f.Message += " (--talk-over-master: scanned anyway)"
		}
		out = append(out, f)
	}
	if r.Bus.ListenedMS > 0 {
		f := Finding{Kind: "noise", Status: report.OK, Message: fmt.Sprintf("quiet for %.1f s before the first request", r.Bus.ListenedMS/1000),
			Evidence: map[string]any{"noise_bytes": r.Bus.ListenNoiseBytes, "listened_ms": r.Bus.ListenedMS}}
		if r.Bus.ListenNoiseBytes > 0 && !foreign {
			f.Status = report.Warning
			f.Message = fmt.Sprintf("%d byte(s) of noise while nobody transmitted", r.Bus.ListenNoiseBytes)
			f.Hint = "bytes on an idle line: check the termination (120 ohm at both ends only), the bias resistors, the shield and the distance from power cables; a master at another baud rate also shows as noise"
		}
		out = append(out, f)
	}
	if settingsWrong {
		s := "the configured settings"
		if o.Target.Transport == TransportRTU || o.Target.Transport == TransportRTUOverTCP {
			s = o.Serial.String()
		}
		out = append(out, Finding{Kind: "settings", Status: report.Failed,
			Message:  fmt.Sprintf("%d address(es) answered with bytes that are not valid frames and none answered cleanly at %s", len(garbled), s),
			Evidence: map[string]any{"garbled_ids": idsString(garbled), "crc_errors": r.Bus.CRCErrors},
			Hint:     "CRC errors on every address mean the baud rate or parity is wrong (9600 8N1 and 19200 8E1 are the usual ones): " + settingsFix(o.Target.Transport)})
	} else if len(garbled) >= 3 && r.Bus.CRCErrors > 0 {
		out = append(out, Finding{Kind: "settings", Status: report.Warning,
			Message:  fmt.Sprintf("garbled answers at %d addresses (%s) beside clean ones", len(garbled), idsString(garbled)),
			Evidence: map[string]any{"garbled_ids": idsString(garbled), "crc_errors": r.Bus.CRCErrors},
			Hint:     "some devices may use other serial settings than the rest, or the line is noisy: check the termination and each meter's settings on its display"})
	}
	if len(r.Devices) == 0 && !settingsWrong && r.Stopped == "" && r.Sweep.Probed > 0 {
		msg := fmt.Sprintf("no device answered at %s", r.Settings.IDs)
		hint := "check the wiring (A/B swapped is the most common fault: swap them and scan again), the termination, the meters' power, and that the serial settings match the meters (--auto-detect)"
		if o.Target.Transport == TransportRTUOverTCP {
			hint = "check the RS-485 wiring at the serial server (A/B swapped is the most common fault: swap them and scan again), the termination, the meters' power, and that the serial server's port uses the meters' baud rate and parity (set in its web page or configuration tool)"
		}
		if o.Target.Transport == TransportTCP {
			hint = "the gateway answered for no unit id: check its serial settings towards the meters and the RS-485 wiring behind it"
		}
		out = append(out, Finding{Kind: "no_device", Status: report.Failed, Message: msg, Hint: hint})
	}
	return out
}

func (p pollRec) outcome() string {
	var s string
	switch {
	case p.ok && p.exception != 0:
		s = "exception"
	case p.ok:
		s = "ok"
	case p.corrupt > 0:
		s = "corrupt"
	case p.timeout:
		s = "timeout"
	default:
		s = "noise"
	}
	if p.second > 0 {
		s += "+second"
	}
	if p.trailing > 0 {
		s += "+trailing"
	}
	return s
}
