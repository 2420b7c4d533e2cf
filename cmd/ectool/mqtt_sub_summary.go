package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/mqtt"
)

// tellOutage says on stderr, as it happens, that the connection was lost
// and that it is back.
func tellOutage(app *App, g mqtt.Outage) {
	if g.End.IsZero() {
		app.Warnf("connection to the broker lost at %s (%s); reconnecting (--no-reconnect ends the run here instead)", localClock(g.Start), g.Reason)
		return
	}
	app.Infof("reconnected and subscribed again after %s without a subscription (%d attempt(s))", outageTook(g), g.Attempts)
}

// localClock is a time of day for a person: local time with its zone.
func localClock(t time.Time) string { return t.Local().Format("15:04:05 MST") }

// outageTook is how long an outage lasted (so far, when it is still open).
func outageTook(g mqtt.Outage) time.Duration {
	end := g.End
	if end.IsZero() {
		end = time.Now()
	}
	return end.Sub(g.Start).Round(time.Millisecond)
}

// outageRecord is one outage in the JSON summary.
type outageRecord struct {
	Start           string         `json:"start"`
	End             string         `json:"end,omitempty"`
	DurationMS      float64        `json:"duration_ms"`
	Reconnected     bool           `json:"reconnected"`
	Reason          string         `json:"reason"`
	Attempts        int            `json:"attempts"`
	LastError       string         `json:"last_error,omitempty"`
	Lost            *int           `json:"lost,omitempty"`
	LostByPublisher map[string]int `json:"lost_by_publisher,omitempty"`
}

func outageRecords(res *mqtt.SubscribeResult, expectSeq bool) []outageRecord {
	recs := []outageRecord{}
	for _, g := range res.Outages {
		r := outageRecord{Start: report.FormatTime(g.Start), DurationMS: report.Millis(outageTook(g)), Reconnected: !g.End.IsZero(),
			Reason: g.Reason, Attempts: g.Attempts, LastError: g.LastError}
		if r.Reconnected {
			r.End = report.FormatTime(g.End)
		}
		if expectSeq {
			lost := g.Lost
			r.Lost, r.LostByPublisher = &lost, g.LostByPublisher
		}
		recs = append(recs, r)
	}
	return recs
}

// writeSubSummary ends a run with its counts: with --expect-seq the
// sequence counts (a summary line on stdout, the data asked for), else
// what arrived (on stderr: stdout holds only messages); and the outages.
// With -o json it is a last {"summary":...} record.
func writeSubSummary(app *App, out *stream, expectSeq bool, res *mqtt.SubscribeResult) {
	sum := res.Summary
	if app.JSON() {
		m := map[string]any{"received": res.Received, "outages": outageRecords(res, expectSeq)}
		if expectSeq {
			m["received"], m["lost"], m["duplicated"], m["out_of_order"], m["before_first"] = sum.Received, sum.Lost, sum.Duplicated, sum.OutOfOrder, sum.BeforeFirst
		}
		_ = out.Record(map[string]any{"summary": m})
		return
	}
	outages := outageWords(res, expectSeq)
	if !expectSeq {
		app.Infof("summary: received %d message(s)%s", res.Received, outages)
		return
	}
	before := ""
	if sum.BeforeFirst > 0 {
		before = fmt.Sprintf(" (%d numbered before the first received: sent before this subscriber joined, not counted)", sum.BeforeFirst)
	}
	_ = out.Line(fmt.Sprintf("summary: received %d, lost %d, duplicated %d, out of order %d%s%s", sum.Received, sum.Lost, sum.Duplicated, sum.OutOfOrder, before, outages))
}

// outageWords lists the outages for the text summary: ", 1 outage: ...".
func outageWords(res *mqtt.SubscribeResult, expectSeq bool) string {
	if len(res.Outages) == 0 {
		return ""
	}
	parts := make([]string, 0, len(res.Outages))
	for _, g := range res.Outages {
		p := fmt.Sprintf("at %s for %s (%s", localClock(g.Start), outageTook(g), g.Reason)
		if g.End.IsZero() {
			p += "; not back at the end"
		}
		if expectSeq {
			p += fmt.Sprintf("; %d lost across it%s", g.Lost, byPublisher(g.LostByPublisher))
		}
		parts = append(parts, p+")")
	}
	return fmt.Sprintf("; %d outage(s): %s", len(res.Outages), strings.Join(parts, ", "))
}

// byPublisher is " from pub-a 3, pub-b 2" when the loss comes from more
// than one publisher (or a named one).
func byPublisher(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	srcs := make([]string, 0, len(m))
	for s := range m {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	parts := make([]string, 0, len(srcs))
	for _, s := range srcs {
		name := s
		if name == "" {
			name = "(unnamed publisher)"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, m[s]))
	}
	return ": " + strings.Join(parts, ", ")
}
