package modbus

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

func TestParseTargetReadsEveryWayTechniciansWriteAPort(t *testing.T) {
	cases := []struct {
		in   string
		want Target
	}{
		{"rtu:///dev/ttyUSB0", Target{Transport: TransportRTU, Path: "/dev/ttyUSB0"}},
		{"/dev/ttyUSB0", Target{Transport: TransportRTU, Path: "/dev/ttyUSB0"}},
		{"./ttyS0", Target{Transport: TransportRTU, Path: "./ttyS0"}},
		{"COM12", Target{Transport: TransportRTU, Path: "COM12"}},
		{"com3", Target{Transport: TransportRTU, Path: "COM3"}},
		{`\\.\COM10`, Target{Transport: TransportRTU, Path: "COM10"}}, // go.bug.st/serial adds \\.\ back
		{"rtu://COM12", Target{Transport: TransportRTU, Path: "COM12"}},
		{"tcp://192.168.1.50", Target{Transport: TransportTCP, Addr: "192.168.1.50:502"}},
		{"tcp://gw.local:1502", Target{Transport: TransportTCP, Addr: "gw.local:1502"}},
		{"tcp://[fe80::1]:502", Target{Transport: TransportTCP, Addr: "[fe80::1]:502"}},
		{"rtuovertcp://10.0.0.7:4001", Target{Transport: TransportRTUOverTCP, Addr: "10.0.0.7:4001"}},
	}
	for _, c := range cases {
		got, err := ParseTarget(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "ttyUSB0", "ftp://x", "rtuovertcp://host", "tcp://:502", "tcp://h:99999", "rtu://"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
}

func TestParseIDsNeverAllowsBroadcastOrReservedAddresses(t *testing.T) {
	ids, err := ParseIDs("1-3, 17,2,10-11")
	if err != nil || idsString(ids) != "1-3,10-11,17" {
		t.Fatalf("ParseIDs = %v (%s), %v", ids, idsString(ids), err)
	}
	if all, _ := ParseIDs("1-247"); len(all) != 247 {
		t.Fatalf("1-247 gives %d ids", len(all))
	}
	for _, bad := range []string{"0", "0-5", "248", "240-255", "5-1", "x", ""} {
		if _, err := ParseIDs(bad); err == nil {
			t.Errorf("ParseIDs(%q) accepted", bad)
		}
	}
}

func TestParseProbeRefusesWrites(t *testing.T) {
	for in, want := range map[string]ProbeSpec{"fc03": {3, 0}, "FC04": {4, 0}, "3": {3, 0}, "fc03:4000": {3, 4000}, "fc01:0x10": {1, 16}, "fc11": {0x11, 0}} {
		if got, err := ParseProbe(in); err != nil || got != want {
			t.Errorf("ParseProbe(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"fc05", "fc06", "fc10", "fc0f", "fc11:3", "fc03:70000", "read"} {
		if _, err := ParseProbe(bad); err == nil {
			t.Errorf("ParseProbe(%q) accepted", bad)
		}
	}
}

func okPoll(v string, lat time.Duration) pollRec {
	return pollRec{ok: true, confirm: true, value: v, latency: lat, fc: 3}
}

func unitWith(polls ...pollRec) *unitState {
	u := &unitState{id: 17, foundBy: "fc03", exceptions: map[ExceptionCode]int{}}
	for _, p := range polls {
		u.record(p)
	}
	return u
}

var clean = baseline{polls: 27}

func TestVerdictOfOneHealthyMeterIsOK(t *testing.T) {
	ms := time.Millisecond
	d := judge(unitWith(okPoll("0208ec", 20*ms), okPoll("0208ed", 21*ms), okPoll("0208ec", 20*ms), okPoll("0208ee", 22*ms), okPoll("0208f0", 20*ms)), clean, false, 100*ms, true)
	if d.Verdict != VerdictOK || d.Hint != "" || d.Responses != 5 || d.LatencyMS == nil {
		t.Fatalf("judge = %+v", d)
	}
}

func TestVerdictOfTwinsThatAlternateIsCollision(t *testing.T) {
	ms := time.Millisecond
	d := judge(unitWith(okPoll("a", 20*ms), okPoll("b", 20*ms), okPoll("a", 21*ms), okPoll("b", 20*ms), okPoll("a", 20*ms)), clean, false, 100*ms, true)
	if d.Verdict != VerdictCollision || !strings.Contains(d.Hint, "two devices answer at address 17") {
		t.Fatalf("judge = %+v", d)
	}
}

func TestVerdictOfTwinsWithAlternatingLatencies(t *testing.T) {
	ms := time.Millisecond
	d := judge(unitWith(okPoll("a", 20*ms), okPoll("a", 60*ms), okPoll("a", 21*ms), okPoll("a", 61*ms), okPoll("a", 20*ms)), clean, false, 100*ms, true)
	if d.Verdict != VerdictSuspect || !strings.Contains(strings.Join(d.Evidence, ";"), "latencies alternate") {
		t.Fatalf("judge = %+v", d)
	}
	// Jitter is not a second device.
	d = judge(unitWith(okPoll("a", 20*ms), okPoll("a", 26*ms), okPoll("a", 21*ms), okPoll("a", 27*ms), okPoll("a", 20*ms)), clean, false, 100*ms, true)
	if d.Verdict != VerdictOK {
		t.Fatalf("jitter judged %+v", d)
	}
}

// Latencies measured across a stall of the host (a loaded laptop, a CI
// runner under a CPU quota) are the host's: two groups of them are no
// second device.
func TestVerdictIgnoresLatenciesMeasuredAcrossAHostStall(t *testing.T) {
	ms := time.Millisecond
	stalled := func(p pollRec) pollRec { p.hostStall = true; return p }
	d := judge(unitWith(okPoll("a", 21*ms), stalled(okPoll("a", 130*ms)), okPoll("a", 22*ms), stalled(okPoll("a", 136*ms)), okPoll("a", 21*ms), stalled(okPoll("a", 131*ms)), okPoll("a", 28*ms)), clean, false, 100*ms, true)
	if d.Verdict != VerdictOK {
		t.Fatalf("latencies stretched by host stalls judged %+v", d)
	}
}

// A meter slower than the timeout answers each request after the next one
// went out: a retry or the next poll collides with its late answer on the
// line, and ectool reads garbage it caused itself. That is no evidence
// against the meter; the late replies are, for a longer --timeout.
func TestVerdictOfASlowMeterDoesNotHoldItsOwnCollisionsAgainstIt(t *testing.T) {
	ms := time.Millisecond
	own := pollRec{corrupt: 1, selfBad: 1, fc: 3, lateInFlight: true, owedAge: 110 * ms}
	u := unitWith(pollRec{timeout: true, fc: 3}, own, okPoll("a", 170*ms), own, okPoll("a", 171*ms), okPoll("a", 169*ms), okPoll("a", 170*ms), okPoll("a", 172*ms))
	u.late = []time.Duration{166 * ms, 168 * ms}
	u.errs.Late = 2
	d := judge(u, baseline{}, false, 100*ms, true)
	if d.Verdict != VerdictOK || !strings.Contains(d.Warning, "try --timeout") || !strings.Contains(strings.Join(d.Evidence, ";"), "garbled by ectool's next request") {
		t.Fatalf("judge = %+v", d)
	}
	// Without late replies nothing explains the garbage.
	u.late = nil
	if d := judge(u, baseline{}, false, 100*ms, true); d.Verdict != VerdictSuspect {
		t.Fatalf("two corrupt answers at a meter that never answers late: %+v", d)
	}
	// Nor when the answer owed was too old to be on the line still.
	u.late = []time.Duration{166 * ms, 168 * ms}
	u.polls[1].owedAge, u.polls[3].owedAge = 2*time.Second, 2*time.Second
	if d := judge(u, baseline{}, false, 100*ms, true); d.Verdict != VerdictSuspect {
		t.Fatalf("corrupt answers long after the last unanswered request: %+v", d)
	}
}

// An address that never gave a valid answer is no healthy device, even
// when its one garbled answer is too few to call a collision.
func TestVerdictOfAnAddressWithoutAValidAnswerIsNeverOK(t *testing.T) {
	bad := pollRec{corrupt: 1, selfBad: 1, fc: 3}
	silent := pollRec{timeout: true, fc: 3}
	d := judge(unitWith(bad, silent, silent, silent, silent, silent, silent, silent, silent), clean, false, 100*time.Millisecond, true)
	if d.Verdict == VerdictOK {
		t.Fatalf("one garbled answer and eight silences judged %+v", d)
	}
}

// Only a bad frame with the address and function code of an earlier,
// unanswered request is that request's garbled late answer. The tail of
// another device's answer, cut short by ectool's own next request, may
// start with any byte: an address polled a moment ago among them.
func TestALateGarbledAnswerNeedsItsRequestsFunctionCode(t *testing.T) {
	now := time.Now()
	s := &rtuScanner{units: map[byte]*unitState{}, exch: map[exKey]*exchange{
		{8, FuncReadHoldingRegisters}: {attempts: 3, lastEnd: now.Add(-300 * time.Millisecond)},
	}}
	tail := Event{Kind: EvTruncated, Unit: 8, Raw: []byte{0x08, 0x11, 0x26}, End: now}
	if s.lateGarbled(tail, 9) || s.units[8] != nil {
		t.Fatalf("a frame from 8 with FC 0x11 taken for 8's late answer to FC 03")
	}
	late := Event{Kind: EvCRCError, Unit: 8, Raw: []byte{0x08, 0x03, 0x02, 0x08, 0xF2, 0x00, 0x00}, End: now}
	if !s.lateGarbled(late, 9) || s.units[8] == nil {
		t.Fatalf("8's garbled late answer to FC 03 not attributed to 8")
	}
}

func TestVerdictOfCorruptionConcentratedOnOneAddress(t *testing.T) {
	ms := time.Millisecond
	bad := pollRec{corrupt: 1, selfBad: 1, fc: 3}
	d := judge(unitWith(bad, bad, okPoll("a", 20*ms), bad, bad), clean, false, 100*ms, true)
	if d.Verdict != VerdictCollision {
		t.Fatalf("4 of 5 corrupt on a clean bus: %+v", d)
	}
	// The same with the whole bus garbled is the settings, not a collision.
	d = judge(unitWith(bad, bad, bad, bad), baseline{polls: 20, bad: 20}, true, 100*ms, true)
	if d.Verdict != VerdictError || !strings.Contains(d.Hint, "serial settings") {
		t.Fatalf("garbled everywhere: %+v", d)
	}
	// One CRC error in nine polls is a line glitch, not evidence.
	d = judge(unitWith(bad, okPoll("a", 20*ms), okPoll("a", 20*ms), okPoll("a", 20*ms), okPoll("a", 20*ms), okPoll("a", 20*ms), okPoll("a", 20*ms), okPoll("a", 20*ms), okPoll("a", 20*ms)), clean, false, 100*ms, true)
	if d.Verdict != VerdictOK {
		t.Fatalf("one CRC error: %+v", d)
	}
}

func TestVerdictOfASecondAnswerIsCollision(t *testing.T) {
	p := okPoll("a", 20*time.Millisecond)
	p.second = 1
	d := judge(unitWith(p), clean, false, 100*time.Millisecond, true)
	if d.Verdict != VerdictCollision || !strings.Contains(strings.Join(d.Evidence, ";"), "second answer") || d.History[0] != "ok+second" {
		t.Fatalf("judge = %+v", d)
	}
}

func TestVerdictOfAnExceptionOnlyDeviceIsOK(t *testing.T) {
	p := pollRec{ok: true, confirm: true, exception: ExIllegalDataAddress, fc: 3}
	d := judge(unitWith(p, p, p), clean, false, 100*time.Millisecond, true)
	if d.Verdict != VerdictOK || d.Errors.Exception != 3 || !strings.Contains(d.Evidence[0], "only with exceptions") {
		t.Fatalf("judge = %+v", d)
	}
}

func TestVerdictOfALateDeviceSuggestsATimeout(t *testing.T) {
	u := unitWith(okPoll("a", 140*time.Millisecond))
	u.late = []time.Duration{140 * time.Millisecond}
	u.errs.Late = 1
	d := judge(u, clean, false, 100*time.Millisecond, true)
	if d.Verdict != VerdictOK || d.Warning != "late reply from 17 after 140 ms: try --timeout 300ms" {
		t.Fatalf("judge = %+v", d)
	}
}

func TestAlternatesTellsTwoMetersFromALiveRegister(t *testing.T) {
	cases := []struct {
		values      string
		alt, strict bool
	}{
		{"a b a b a", true, true},
		{"a a b b a", true, false},
		{"a b c d e", false, false},
		{"a a a a a", false, false},
		{"a b a", false, false},
		{"a a a a b", false, false},
	}
	for _, c := range cases {
		alt, strict := alternates(strings.Fields(c.values))
		if alt != c.alt || strict != c.strict {
			t.Errorf("alternates(%s) = %v %v, want %v %v", c.values, alt, strict, c.alt, c.strict)
		}
	}
}

// Bytes after a valid reply at one address only are a second answer cut
// short; at every address alike they are line noise, which the bus findings
// report, not a fault of this meter.
func TestVerdictOfTrailingBytesIsMeasuredAgainstTheBus(t *testing.T) {
	ms := time.Millisecond
	trail := func(v string) pollRec { p := okPoll(v, 20*ms); p.trailing = 7; return p }
	u := func() *unitState {
		return unitWith(trail("a"), okPoll("a", 20*ms), trail("a"), okPoll("a", 20*ms), okPoll("a", 20*ms), okPoll("a", 20*ms))
	}
	if d := judge(u(), clean, false, 100*ms, true); d.Verdict != VerdictSuspect {
		t.Errorf("trailing bytes in 2 of 6 polls on a clean bus: verdict %s, want suspect", d.Verdict)
	}
	noisy := baseline{polls: 27, trailing: 8}
	if d := judge(u(), noisy, false, 100*ms, true); d.Verdict != VerdictOK {
		t.Errorf("trailing bytes in 2 of 6 polls where 8 of 27 elsewhere have them: verdict %s %v, want ok", d.Verdict, d.Evidence)
	}
	pulse := func(v string) pollRec { p := okPoll(v, 20*ms); p.trailing = 1; return p }
	if d := judge(unitWith(pulse("a"), pulse("a"), okPoll("a", 20*ms), pulse("a"), okPoll("a", 20*ms)), clean, false, 100*ms, true); d.Verdict != VerdictOK {
		t.Errorf("a byte of noise after 3 of 5 replies: verdict %s %v, want ok", d.Verdict, d.Evidence)
	}
}

// Answers to FC 0x11 (long) garbled while FC 03 answers (short) come back
// clean: twins whose identities differ, unless the other meters' FC 0x11
// answers are garbled too, which is noise hitting long answers.
func TestVerdictOfOneFunctionGarbledIsMeasuredAgainstTheBus(t *testing.T) {
	ms := time.Millisecond
	bad11 := pollRec{corrupt: 1, fc: 0x11}
	ok11 := pollRec{ok: true, fc: 0x11, latency: 30 * ms}
	u := func() *unitState {
		return unitWith(okPoll("a", 20*ms), bad11, okPoll("a", 20*ms), okPoll("a", 20*ms), bad11, okPoll("a", 20*ms), bad11, okPoll("a", 20*ms), ok11)
	}
	if d := judge(u(), baseline{polls: 27, fc: map[byte][2]int{0x11: {6, 0}}}, false, 100*ms, true); d.Verdict != VerdictCollision {
		t.Errorf("FC 0x11 garbled at 17 only: verdict %s %v, want collision", d.Verdict, d.Evidence)
	}
	noisy := baseline{polls: 27, bad: 2, fc: map[byte][2]int{0x11: {6, 2}, 3: {21, 0}}}
	if d := judge(u(), noisy, false, 100*ms, true); d.Verdict == VerdictCollision {
		t.Errorf("FC 0x11 garbled everywhere (noise on long answers): verdict collision %v", d.Evidence)
	}
	// Noise pulses heard where no answer was due: long answers are hit more
	// often than short ones, and the other meters' few long answers may
	// happen to come back clean (the lab's noisy bus did this about one run
	// in ten). That is no proof of twins: a suspect, never a collision.
	pulses := baseline{polls: 27, fc: map[byte][2]int{0x11: {6, 0}}, noisy: true}
	if d := judge(u(), pulses, false, 100*ms, true); d.Verdict != VerdictSuspect {
		t.Errorf("FC 0x11 garbled at 17 on a line with noise pulses: verdict %s %v, want suspect", d.Verdict, d.Evidence)
	}
}

// bus.crc never says ok beside CRC errors it does not explain: errors at a
// collided address are explained by the collision (and say so), errors at
// a healthy address or while listening make it a warning that counts them.
func TestBusCRCStatusAgreesWithItsEvidence(t *testing.T) {
	dev := func(unit int, v Verdict) Device { return Device{UnitID: unit, Verdict: v} }
	cases := []struct {
		name       string
		byUnit     map[int]int
		elsewhere  int
		devices    []Device
		status     report.Status
		explained  string
		unexplains int
	}{
		{"clean", nil, 0, []Device{dev(1, VerdictOK)}, report.OK, "", 0},
		{"all at the collision", map[int]int{17: 7}, 0, []Device{dev(1, VerdictOK), dev(17, VerdictCollision)}, report.OK, "collision at 17", 0},
		{"one at a healthy meter", map[int]int{1: 1, 17: 7}, 0, []Device{dev(1, VerdictOK), dev(17, VerdictCollision)}, report.Warning, "collision at 17", 1},
		{"while listening", nil, 2, []Device{dev(1, VerdictOK)}, report.Warning, "", 2},
		{"at an address that is no device", map[int]int{9: 1}, 0, []Device{dev(1, VerdictOK)}, report.Warning, "", 1},
		{"suspect explains its own", map[int]int{5: 3}, 0, []Device{dev(5, VerdictSuspect)}, report.OK, "suspect at 5", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			total := c.elsewhere
			for _, n := range c.byUnit {
				total += n
			}
			r := &Result{Settings: Settings{Transport: string(TransportRTU)}, Devices: c.devices,
				Bus: BusInfo{CRCErrors: total, CRCErrorsByUnit: c.byUnit, CRCErrorsElsewhere: c.elsewhere}}
			ch := r.crcCheck()
			un, _ := ch.Evidence["unexplained"].(int)
			ex, _ := ch.Evidence["explained_by"].(string)
			if ch.Status != c.status || un != c.unexplains || ex != c.explained || ch.Evidence["crc_errors"] != total {
				t.Fatalf("bus.crc %s %v, want %s explained_by %q unexplained %d", ch.Status, ch.Evidence, c.status, c.explained, c.unexplains)
			}
			if (ch.Status == report.Warning) != (ch.Hint != "") || (un > 0 && !strings.Contains(ch.Hint, "no verdict explains")) {
				t.Errorf("hint %q for %s", ch.Hint, ch.Status)
			}
		})
	}
}

// scan sniff's bus.crc: under --max-crc-rate it is ok only when a verdict
// explains every CRC error.
func TestSniffCRCStatusAgreesWithItsEvidence(t *testing.T) {
	for _, c := range []struct {
		name   string
		devs   []*SniffDevice
		crc    int
		status report.Status
	}{
		{"clean", []*SniffDevice{{UnitID: 1, Verdict: VerdictOK}}, 0, report.OK},
		{"at a collision", []*SniffDevice{{UnitID: 17, Verdict: VerdictCollision, CRCErrors: 2}}, 2, report.OK},
		{"at a healthy meter", []*SniffDevice{{UnitID: 1, Verdict: VerdictOK, CRCErrors: 1}}, 1, report.Warning},
		{"on the line", []*SniffDevice{{UnitID: 1, Verdict: VerdictOK}}, 1, report.Warning},
		{"over the threshold", []*SniffDevice{{UnitID: 1, Verdict: VerdictOK, CRCErrors: 10}}, 10, report.Failed},
	} {
		r := &SniffResult{Frames: 100, CRCErrors: c.crc, Devices: c.devs, maxRate: 0.05}
		rep := report.New("scan sniff", "x", nil)
		r.Report(rep, nil)
		var got report.Check
		for _, ch := range rep.Checks {
			if ch.ID == CheckCRC {
				got = ch
			}
		}
		if got.Status != c.status || (got.Status != report.OK) != (got.Hint != "") {
			t.Errorf("%s: bus.crc %s %v hint %q, want %s", c.name, got.Status, got.Evidence, got.Hint, c.status)
		}
	}
}

// With --talk-over-master, the address the other master polls is where its
// exchanges and ectool's collide: answers garbled there are no second
// device, nor are answers ectool did not ask for (its requests garbled, or
// the same bytes as ectool's taken for an echo): TestScanWithTalkOverMaster
// KeepsGoingBesideAnotherMaster failed 2 in 20 under load on both. What the
// answers carry (identities, values) still tells twins apart.
func TestVerdictAtAnAddressAnotherMasterPollsDoesNotBlameItsCollisions(t *testing.T) {
	ms := time.Millisecond
	sid := pollRec{corrupt: 1, selfBad: 1, fc: 0x11}
	u := unitWith(okPoll("a", 20*ms), sid, okPoll("a", 20*ms), okPoll("a", 21*ms), sid, okPoll("a", 20*ms), okPoll("a", 20*ms), sid, okPoll("a", 20*ms), pollRec{ok: true, fc: 0x11})
	if d := judge(u, clean, false, 100*ms, true); d.Verdict != VerdictCollision {
		t.Fatalf("FC 0x11 garbled in 3 of 4 polls where no other master polls: %+v", d)
	}
	u.masterPolls = true
	d := judge(u, clean, false, 100*ms, true)
	if d.Verdict != VerdictOK || !strings.Contains(strings.Join(d.Evidence, ";"), "3 answer(s) garbled while another master polls this address") {
		t.Fatalf("the other master's collisions judged %+v", d)
	}
	second := okPoll("a", 20*ms)
	second.second = 1
	u.record(second)
	if d := judge(u, clean, false, 100*ms, true); d.Verdict != VerdictOK {
		t.Fatalf("an unasked answer where another master polls: %+v", d)
	}
	u.serverIDs = []string{"EM340 #1", "EM340 #2"}
	if d := judge(u, clean, false, 100*ms, true); d.Verdict != VerdictCollision {
		t.Fatalf("two identities where another master polls: %+v", d)
	}
}

// Two devices answering at once merge their bits the same way each time
// their answers are the same pair: the same corrupt frame comes back byte
// for byte, which noise never does. On a noisy line, where the share of
// corrupt answers proves nothing (the lab's noisy bus judged its twins ok
// about one scan in twelve before this), that repetition still does.
func TestVerdictOfTheSameCorruptFrameRepeated(t *testing.T) {
	ms := time.Millisecond
	twin := pollRec{corrupt: 1, selfBad: 1, fc: 0x11, badFrame: "\x11\x11\x0c\x10\x01\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\xa0\x0f"}
	hit := func(b byte) pollRec { // noise: a different bit each time
		return pollRec{corrupt: 1, selfBad: 1, fc: 0x11, badFrame: "\x11\x11\x0c" + string([]byte{b}) + "\x01\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\xa0\x0f"}
	}
	noisy := baseline{polls: 33, bad: 6, fc: map[byte][2]int{0x11: {12, 4}, 3: {21, 1}}, noisy: true}
	ok := func() pollRec { return okPoll("a", 20*ms) }
	d := judge(unitWith(twin, ok(), ok(), ok(), ok(), ok(), twin, ok(), twin, ok(), ok()), noisy, false, 100*ms, true)
	if d.Verdict != VerdictCollision || !strings.Contains(strings.Join(d.Evidence, ";"), "byte for byte") {
		t.Errorf("three identical corrupt answers on a noisy line: %s %v, want collision", d.Verdict, d.Evidence)
	}
	d = judge(unitWith(twin, ok(), ok(), ok(), ok(), ok(), twin, ok(), ok(), ok(), ok()), noisy, false, 100*ms, true)
	if d.Verdict != VerdictSuspect {
		t.Errorf("two identical corrupt answers on a noisy line: %s %v, want suspect", d.Verdict, d.Evidence)
	}
	d = judge(unitWith(hit(1), ok(), ok(), ok(), ok(), ok(), hit(2), ok(), hit(4), ok(), ok()), noisy, false, 100*ms, true)
	if d.Verdict != VerdictOK {
		t.Errorf("three differently garbled answers on a noisy line (noise): %s %v, want ok", d.Verdict, d.Evidence)
	}
}

// On a line with noise, an address where nothing ever answered validly
// nor began a frame, with bytes in under half its windows, is the noise's:
// no device (listed in the noise finding). Garbage on cue, in most
// windows, stays a device: two devices garbling even the address byte.
func TestNoiseAloneMakesNoDevice(t *testing.T) {
	noiseHit := pollRec{corrupt: 1, garbage: true, noise: 3, fc: 3}
	silent := pollRec{timeout: true, noise: 1, fc: 3}
	noisy := baseline{polls: 33, bad: 6, noisy: true}
	u := unitWith(noiseHit, noiseHit, silent, silent, noiseHit, silent, silent, silent, silent, silent)
	if !u.noiseOnly(noisy) {
		t.Errorf("3 garbage windows in 10 on a noisy line kept as a device")
	}
	if u.noiseOnly(baseline{polls: 33}) {
		t.Errorf("garbage on a line where no noise was heard taken for noise")
	}
	onCue := unitWith(noiseHit, noiseHit, noiseHit, silent, noiseHit, noiseHit, silent)
	if onCue.noiseOnly(noisy) {
		t.Errorf("garbage in 5 of 7 windows (an answer garbled on cue) taken for noise")
	}
	own := unitWith(pollRec{corrupt: 1, selfBad: 1, fc: 3}, silent, silent, silent, silent)
	if own.noiseOnly(noisy) {
		t.Errorf("a frame beginning with the address taken for noise")
	}
	// Seen on a full-range scan of the noisy lab bus: one pulse that began
	// with the address's byte, then 13 silent confirm polls.
	once := unitWith(append([]pollRec{{corrupt: 1, selfBad: 1, fc: 3}}, slices.Repeat([]pollRec{silent}, 13)...)...)
	if !once.noiseOnly(noisy) {
		t.Errorf("one frame beginning with the address in 14 otherwise silent polls kept as a device")
	}
	twice := unitWith(append([]pollRec{{corrupt: 1, selfBad: 1, fc: 3}, {corrupt: 1, selfBad: 1, fc: 3}}, slices.Repeat([]pollRec{silent}, 12)...)...)
	if twice.noiseOnly(noisy) {
		t.Errorf("two frames beginning with the address taken for noise")
	}
	res := &Result{Bus: BusInfo{NoiseOnlyIDs: []int{9, 40}}, Sweep: Sweep{Probed: 2}}
	if c := res.sweepCheck(nil); c.Status != report.Warning || c.Evidence["noise_only"] != idsString([]byte{9, 40}) {
		t.Errorf("bus.sweep with noise-only addresses: %+v", c)
	}
}
