package mqtt

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// Sequenced payloads (`ectool mqtt pub --seq`) let a receiver find loss,
// duplicates and reordering and measure latency. The payload is one JSON
// object:
//
//	{"seq":42,"ts":1764230400123456789,"src":"ectool-1a2b3c4d","data":"..."}
//
// seq counts from 1 per publisher, ts is the send time in Unix nanoseconds,
// src tells publishers apart (their client id) and data, optional, is the
// message given with -m.

// SeqInfo is what a sequenced payload carries.
type SeqInfo struct {
	Seq  uint64    `json:"seq"`
	Sent time.Time `json:"-"`
	Src  string    `json:"src,omitempty"`
	Data string    `json:"data,omitempty"`
}

// AppendSeqPayload appends the sequenced payload for seq to dst.
func AppendSeqPayload(dst []byte, src string, seq uint64, sent time.Time, data string) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, sent.UnixNano(), 10)
	if src != "" {
		dst = append(dst, `,"src":`...)
		dst = strconv.AppendQuote(dst, src)
	}
	if data != "" {
		b, _ := json.Marshal(data)
		dst = append(dst, `,"data":`...)
		dst = append(dst, b...)
	}
	return append(dst, '}')
}

var seqPrefix = []byte(`{"seq":`)

// ParseSeqPayload reads a sequenced payload; ok is false for any other.
func ParseSeqPayload(p []byte) (SeqInfo, bool) {
	if !bytes.HasPrefix(p, seqPrefix) {
		return SeqInfo{}, false
	}
	var v struct {
		Seq  *uint64 `json:"seq"`
		TS   *int64  `json:"ts"`
		Src  string  `json:"src"`
		Data string  `json:"data"`
	}
	if err := json.Unmarshal(p, &v); err != nil || v.Seq == nil || v.TS == nil {
		return SeqInfo{}, false
	}
	return SeqInfo{Seq: *v.Seq, Sent: time.Unix(0, *v.TS), Src: v.Src, Data: v.Data}, true
}

// SeqSummary counts what a receiver saw of sequenced messages.
type SeqSummary struct {
	Received   int `json:"received"`
	Lost       int `json:"lost"`
	Duplicated int `json:"duplicated"`
	OutOfOrder int `json:"out_of_order"`
	// BeforeFirst counts the numbers below the first one received from
	// each publisher: published before this subscriber joined (or lost
	// right at the start, which a receiver cannot tell apart). They are
	// not counted as lost.
	BeforeFirst int `json:"before_first"`
}

// SeqTracker follows the sequence numbers of every publisher (src). A
// publisher's messages are expected from the lowest number received up to
// the highest; the ones missing in between are lost. A subscriber that joins
// a running publisher does not count what was sent before it joined.
type SeqTracker struct {
	srcs map[string]*seqState
	sum  SeqSummary
	gaps []seqGap
}

// seqGap is an outage of the subscriber: each publisher's highest number
// before it, and its first number after.
type seqGap struct {
	before map[string]uint64
	after  map[string]uint64
}

type seqState struct {
	seen map[uint64]bool
	min  uint64
	max  uint64
}

// Verdict is how one sequenced message fits its publisher's sequence.
type Verdict int

// The verdicts Observe returns.
const (
	InOrder Verdict = iota
	Duplicate
	OutOfOrder
)

// Observe records one message.
func (t *SeqTracker) Observe(s SeqInfo) Verdict {
	if t.srcs == nil {
		t.srcs = map[string]*seqState{}
	}
	st := t.srcs[s.Src]
	if st == nil {
		st = &seqState{seen: map[uint64]bool{}, min: s.Seq}
		t.srcs[s.Src] = st
	}
	t.sum.Received++
	for _, g := range t.gaps {
		if _, known := g.before[s.Src]; known {
			if _, back := g.after[s.Src]; !back {
				g.after[s.Src] = s.Seq
			}
		}
	}
	switch {
	case st.seen[s.Seq]:
		t.sum.Duplicated++
		return Duplicate
	case s.Seq < st.max:
		st.seen[s.Seq] = true
		st.min = min(st.min, s.Seq)
		t.sum.OutOfOrder++
		return OutOfOrder
	}
	st.seen[s.Seq] = true
	st.max = s.Seq
	return InOrder
}

// Summary is the count so far; Lost counts the numbers missing between each
// publisher's lowest and highest received, BeforeFirst those below its
// lowest.
func (t *SeqTracker) Summary() SeqSummary {
	s := t.sum
	s.Lost, s.BeforeFirst = 0, 0
	for _, st := range t.srcs {
		lo, got := max(st.min, 1), len(st.seen) // pub --seq counts from 1
		if st.seen[0] {
			got--
		}
		if st.max >= lo {
			s.Lost += int(st.max-lo+1) - got
		}
		s.BeforeFirst += int(lo) - 1
	}
	return s
}

// MarkGap starts an outage of the subscriber: the numbers each publisher
// sends from now until its first message after the outage are counted by
// GapLost. It returns the gap's index.
func (t *SeqTracker) MarkGap() int {
	g := seqGap{before: map[string]uint64{}, after: map[string]uint64{}}
	for src, st := range t.srcs {
		g.before[src] = st.max
	}
	t.gaps = append(t.gaps, g)
	return len(t.gaps) - 1
}

// GapLost counts, per publisher, the numbers missing between its highest
// before gap i and its first after it (a publisher not heard again since
// is not counted: nothing tells how far it got).
func (t *SeqTracker) GapLost(i int) map[string]int {
	if i < 0 || i >= len(t.gaps) {
		return nil
	}
	g := t.gaps[i]
	lost := map[string]int{}
	for src, first := range g.after {
		st := t.srcs[src]
		n := 0
		for q := g.before[src] + 1; q < first; q++ {
			if !st.seen[q] {
				n++
			}
		}
		if n > 0 {
			lost[src] = n
		}
	}
	return lost
}
