package mqtt

import (
	"testing"
	"time"
)

func TestSequencedPayloadRoundTrips(t *testing.T) {
	sent := time.Unix(1764230400, 123456789)
	p := AppendSeqPayload(nil, "ectool-1", 42, sent, `hello "x"`)
	want := `{"seq":42,"ts":1764230400123456789,"src":"ectool-1","data":"hello \"x\""}`
	if string(p) != want {
		t.Fatalf("payload %s, want %s", p, want)
	}
	s, ok := ParseSeqPayload(p)
	if !ok || s.Seq != 42 || !s.Sent.Equal(sent) || s.Src != "ectool-1" || s.Data != `hello "x"` {
		t.Fatalf("parsed %+v ok=%v", s, ok)
	}
	for _, bad := range []string{"", "42", `{"seq":1}`, `{"seq":"a","ts":1}`, `{"seq":1,"ts":2`} {
		if _, ok := ParseSeqPayload([]byte(bad)); ok {
			t.Errorf("%q parsed as a sequenced payload", bad)
		}
	}
}

func TestSeqTrackerCountsLossDuplicatesAndReordering(t *testing.T) {
	var tr SeqTracker
	for _, n := range []uint64{1, 2, 4, 3, 3, 7} {
		tr.Observe(SeqInfo{Seq: n, Src: "a"})
	}
	tr.Observe(SeqInfo{Seq: 1, Src: "b"})
	got := tr.Summary()
	want := SeqSummary{Received: 7, Lost: 2, Duplicated: 1, OutOfOrder: 1} // 5 and 6 lost
	if got != want {
		t.Fatalf("summary %+v, want %+v", got, want)
	}
}

// A subscriber that joins a running publisher at seq 9 has lost nothing:
// 1 to 8 were sent before it was there (review G1).
func TestSeqTrackerCountsFromTheFirstNumberReceived(t *testing.T) {
	var tr SeqTracker
	for _, n := range []uint64{9, 10, 12, 8} { // 11 lost; 8 late but received
		tr.Observe(SeqInfo{Seq: n, Src: "a"})
	}
	for _, n := range []uint64{100, 101} {
		tr.Observe(SeqInfo{Seq: n, Src: "b"})
	}
	got := tr.Summary()
	want := SeqSummary{Received: 6, Lost: 1, OutOfOrder: 1, BeforeFirst: 7 + 99}
	if got != want {
		t.Fatalf("summary %+v, want %+v", got, want)
	}
}

func TestFiltersOverlap(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"ov/#", "ov/x", true}, {"a/#", "a", true}, {"a/+/c", "a/b/+", true}, {"a/b", "a/b", true},
		{"a", "a/b", false}, {"a/+", "b/+", false}, {"a/+/c", "a/b", false}, {"#", "x/y/z", true},
	} {
		if got := FiltersOverlap(tc.a, tc.b); got != tc.want {
			t.Errorf("FiltersOverlap(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSeqGapCountsWhatEachPublisherLostAcrossAnOutage(t *testing.T) {
	var tr SeqTracker
	obs := func(src string, seqs ...uint64) {
		for _, s := range seqs {
			tr.Observe(SeqInfo{Seq: s, Src: src})
		}
	}
	obs("a", 1, 2, 3)
	obs("b", 10, 11)
	g := tr.MarkGap()
	obs("a", 7, 8) // 4, 5, 6 sent while the subscriber was away
	obs("c", 1)    // a publisher that started during the outage lost nothing across it
	lost := tr.GapLost(g)
	if len(lost) != 1 || lost["a"] != 3 {
		t.Errorf("lost across the gap %v, want a: 3 (b not heard since)", lost)
	}
	obs("a", 5) // a late arrival is not lost
	if lost := tr.GapLost(g); lost["a"] != 2 {
		t.Errorf("after a late arrival %v, want a: 2", lost)
	}
	if s := tr.Summary(); s.Lost != 2 {
		t.Errorf("summary lost %d, want 2", s.Lost)
	}
	if tr.GapLost(5) != nil {
		t.Error("an unknown gap")
	}
}
