package modbus

import (
	"testing"
	"time"
)

// The sweep's window starts from the line (20 ms at 9600 8N1) and grows
// only on evidence: an in-window turnaround longer than the window allows,
// a late answer up to the cap. A slow outlier sets the long wait, not the
// window; a turnaround measured across a host stall teaches nothing; and
// after the sweep nothing does.
func TestAutoWaitGrowsOnlyOnEvidence(t *testing.T) {
	ms := time.Millisecond
	a := newAutoWait(DefaultSerial, DefaultProbe.PDU())
	if a.window != 20*ms || a.long() != time.Second {
		t.Fatalf("start: window %v long %v, want 20ms and 1s", a.window, a.long())
	}
	if a.sweepWait() != autoConfirm {
		t.Errorf("first request over a fresh port waits %v, want %v", a.sweepWait(), autoConfirm)
	}
	a.answered(30*ms, false) // the first answer over the port: remeasured first
	if a.window != 20*ms || a.fresh != 30*ms {
		t.Errorf("the first answer over the port: window %v fresh %v, want 20ms and 30ms kept aside", a.window, a.fresh)
	}
	a.fresh = 0
	a.asked[1] = time.Now()
	a.answered(12*ms, false) // 12 + 6 < 20
	if a.sweepWait() != 20*ms {
		t.Errorf("after a 12 ms turnaround: window %v, want 20ms", a.sweepWait())
	}
	a.answered(90*ms, true) // across a host stall
	if a.window != 20*ms {
		t.Errorf("a stalled turnaround grew the window to %v", a.window)
	}
	a.answered(30*ms, false)
	if a.window != 45*ms {
		t.Errorf("after a 30 ms turnaround: window %v, want 45ms", a.window)
	}
	a.late(166*ms, 150*ms, false) // the slow meter: an outlier
	if a.window != 45*ms || a.long() != 352*ms {
		t.Errorf("after a 150 ms late answer: window %v long %v, want 45ms and 352ms", a.window, a.long())
	}
	a.late(60*ms, 44*ms, false)
	if a.window != 66*ms {
		t.Errorf("after a 44 ms late turnaround: window %v, want 66ms", a.window)
	}
	a.late(120*ms, 90*ms, false)
	if a.window != autoCap {
		t.Errorf("window %v, want the cap %v", a.window, autoCap)
	}
	long := a.long()
	a.frozen = true
	a.late(3*time.Second, 2*time.Second, false)
	if a.long() != long {
		t.Errorf("a confirm poll's late answer changed the long wait to %v", a.long())
	}
}

// What the sweep notes as evidence at a silent address: a late answer from
// another address, bytes nothing explained, a tail just after the request;
// nothing at an address that answered, nor for a noise pulse later in the
// window.
func TestAutoNoteMarksOnlyEvidence(t *testing.T) {
	ms := time.Millisecond
	s := &rtuScanner{o: ScanOptions{Serial: DefaultSerial, Probe: DefaultProbe}, units: map[byte]*unitState{}}
	s.auto = newAutoWait(DefaultSerial, DefaultProbe.PDU())
	t0 := time.Unix(0, 0)
	s.autoNote(4, []pollRec{{sentAt: t0, timeout: true}})
	s.autoNote(5, []pollRec{{sentAt: t0, lateOther: 1}})
	s.autoNote(6, []pollRec{{sentAt: t0, corrupt: 1, oddAt: t0.Add(30 * ms)}})
	s.autoNote(7, []pollRec{{sentAt: t0, noise: 1, oddAt: t0.Add(10 * ms)}})
	s.autoNote(8, []pollRec{{sentAt: t0, noise: 1, oddAt: t0.Add(27 * ms)}})
	s.autoNote(9, []pollRec{{sentAt: t0, collided: 1, oddAt: t0.Add(2 * ms)}})
	s.units[10] = &unitState{id: 10}
	s.autoNote(10, []pollRec{{sentAt: t0, corrupt: 1, selfBad: 1}})
	want := map[byte]int{5: markLate, 6: markBytes, 7: markTail, 9: markBytes}
	if len(s.auto.marks) != len(want) {
		t.Fatalf("marks %v, want %v", s.auto.marks, want)
	}
	for id, k := range want {
		if s.auto.marks[id] != k {
			t.Errorf("mark of %d = %d, want %d (all: %v)", id, s.auto.marks[id], k, s.auto.marks)
		}
	}
}

// Under --timeout auto, a confirm poll listens after the answer only
// briefly once the address has answered alone in two whole windows; never
// in the sweep, never with a fixed timeout, and never at an address that
// has shown a second answer, bytes after its answer or a garbled one.
func TestTheSecondAnswerWindowShortensOnlyAfterTwoQuietOnes(t *testing.T) {
	quiet := pollRec{ok: true, listened: true}
	cases := []struct {
		name  string
		polls []pollRec
		extra int
		alone bool
	}{
		{"no poll yet", nil, 0, false},
		{"one quiet window", []pollRec{quiet}, 0, false},
		{"two quiet windows", []pollRec{quiet, quiet}, 0, true},
		{"found by a late answer, then one quiet window", []pollRec{{ok: true}, quiet}, 0, false},
		{"a second answer", []pollRec{quiet, quiet, {ok: true, listened: true, second: 1}}, 0, false},
		{"bytes after the answer", []pollRec{quiet, {ok: true, listened: true, trailing: 2}, quiet}, 0, false},
		{"a garbled answer", []pollRec{{corrupt: 1, selfBad: 1}, quiet, quiet}, 0, false},
		{"an answer nobody asked for, after the window", []pollRec{quiet, quiet}, 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := &unitState{id: 9, polls: c.polls, extra: c.extra}
			if got := u.answeredAlone(); got != c.alone {
				t.Errorf("answeredAlone = %v, want %v", got, c.alone)
			}
		})
	}

	u := &unitState{id: 9, polls: []pollRec{quiet, quiet}}
	s := &rtuScanner{o: ScanOptions{Serial: DefaultSerial, Probe: DefaultProbe}, units: map[byte]*unitState{9: u}}
	if w := s.shortSecondWindow(9); w != 0 {
		t.Errorf("a fixed timeout: short window %v, want none", w)
	}
	s.auto = newAutoWait(DefaultSerial, DefaultProbe.PDU())
	if w := s.shortSecondWindow(9); w != 0 {
		t.Errorf("the sweep: short window %v, want none", w)
	}
	s.auto.frozen = true
	if w, want := s.shortSecondWindow(9), 5*time.Millisecond+interFrameGap(DefaultSerial); w != want {
		t.Errorf("the confirm polls: short window %v, want %v", w, want)
	}
	if w := s.shortSecondWindow(10); w != 0 {
		t.Errorf("an address not found: short window %v, want none", w)
	}
}
