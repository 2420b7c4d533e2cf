package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/mqtt"
)

// watchFlags are the flags of `mqtt check --every`: the ladder repeated to
// watch an intermittent link.
type watchFlags struct {
	Every           time.Duration
	Rounds          int
	Duration        time.Duration
	MinAvailability float64
}

func addWatchFlags(cmd *cobra.Command, f *watchFlags) {
	fs := cmd.Flags()
	fs.Var(wordedDuration{&f.Every, "30s or 5m"}, "every", "repeat the link ladder (DNS to the QoS round trips) every D, such as 30s, and report availability (mqtt.availability)")
	fs.IntVar(&f.Rounds, "rounds", 0, "with --every: stop after N rounds (default: until --duration or Ctrl-C)")
	fs.Var(wordedDuration{&f.Duration, "30m or 8h"}, "duration", "with --every: start no round after D, such as 8h (default: until --rounds or Ctrl-C)")
	fs.Float64Var(&f.MinAvailability, "min-availability", 100, "with --every: percentage of rounds that must pass all the way, below which the watch fails")
}

// complete checks the watch flags (exit 2); o is the ladder they repeat.
func (f *watchFlags) complete(cmd *cobra.Command, o *MQTTCheckOptions) error {
	fs := cmd.Flags()
	if !fs.Changed("every") {
		for _, name := range []string{"rounds", "duration", "min-availability"} {
			if fs.Changed(name) {
				return usageError("--%s only applies to a watch: add --every 30s (a round every 30 s)", name)
			}
		}
		return nil
	}
	switch {
	case f.Every <= 0:
		return usageError("--every %s: want a positive duration such as 30s", f.Every)
	case fs.Changed("rounds") && fs.Changed("duration"):
		return usageError("--rounds and --duration both end a watch: give one of them (or neither, and stop with Ctrl-C)")
	case fs.Changed("rounds") && f.Rounds < 1:
		return usageError("--rounds %d: want 1 or more rounds", f.Rounds)
	case fs.Changed("duration") && f.Duration <= 0:
		return usageError("--duration %s: want a positive duration such as 8h", f.Duration)
	case f.MinAvailability < 0 || f.MinAvailability > 100:
		return usageError("--min-availability %g: want a percentage from 0 to 100", f.MinAvailability)
	case o.DenyTopic != "":
		return usageError("--deny-topic tests the broker's ACL once, not the link: run mqtt check without --every for it")
	}
	return nil
}

// mqttWatchRun runs `mqtt check --every`: one line (or JSON Lines record)
// per round as it ends, then the report with mqtt.availability.
func mqttWatchRun(ctx context.Context, opts *MQTTCheckOptions) error {
	app := opts.App
	w := opts.watch
	if app.IO.ErrTTY && !app.JSON() {
		app.Infof("watching %s: a round every %s (each step up to %s); Ctrl-C ends with the summary", opts.Check.Broker, w.Every, opts.Timeout)
	}
	out := app.newStream()
	defer out.Close()
	r := mqtt.Watch(ctx, mqtt.WatchOptions{Check: opts.Check, Every: w.Every, Rounds: w.Rounds, Duration: w.Duration,
		MinAvailability: w.MinAvailability, OnRound: func(wr mqtt.WatchRound) { writeWatchRound(app, out, wr) }})
	if opts.Strict {
		strictReport(r)
	}
	if app.JSON() {
		_ = out.Record(r)
	}
	if err := out.Close(); err != nil {
		return writeErr(err)
	}
	if !app.JSON() {
		if err := app.renderReport(dropFailureList(r)); err != nil {
			return err
		}
	}
	if r.Checks[0].Status == report.Skipped {
		// The report on stdout says so (its check is skipped); no second
		// JSON document after it.
		e := problem("let at least one round end (a round takes a few seconds)", "interrupted before the first round ended: nothing to judge")
		e.OnStdout = true
		return e
	}
	return reported(r.ExitCode(opts.Strict))
}

// watchRoundRecord is one round in JSON Lines.
type watchRoundRecord struct {
	Round      int      `json:"round"`
	Time       string   `json:"time"`
	OK         bool     `json:"ok"`
	DurationMS float64  `json:"duration_ms"`
	RTTms      *float64 `json:"rtt_ms,omitempty"`
	Layer      string   `json:"layer,omitempty"`
	Check      string   `json:"check,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	Hint       string   `json:"hint,omitempty"`
}

// writeWatchRound writes a round as it ends: a line of text in local time,
// or a record in UTC.
func writeWatchRound(app *App, out *stream, w mqtt.WatchRound) {
	if app.JSON() {
		rec := watchRoundRecord{Round: w.N, Time: report.FormatTime(w.Start), OK: w.OK, DurationMS: report.Millis(w.Took)}
		if w.HasRTT {
			rtt := w.RTTms
			rec.RTTms = &rtt
		}
		if !w.OK {
			rec.Layer, rec.Check, rec.Reason, rec.Hint = string(w.Layer), w.Check, w.Reason, w.Hint
		}
		_ = out.Record(rec)
		return
	}
	line := fmt.Sprintf("round %d  %s  ", w.N, w.Start.Local().Format("2006-01-02 15:04:05 MST"))
	switch {
	case !w.OK:
		line += fmt.Sprintf("FAIL at %s (%s): %s", w.Layer.Words(), w.Check, w.Reason)
	case w.HasRTT:
		line += fmt.Sprintf("ok    round trip %.2f ms", w.RTTms)
	default:
		line += "ok"
	}
	_ = out.Line(line)
}

// dropFailureList takes the list of failed rounds out of a text report:
// the text form printed them as FAIL lines while they happened (the JSON
// report keeps it).
func dropFailureList(r *report.Report) *report.Report {
	for _, c := range r.Checks {
		delete(c.Evidence, "failures")
	}
	return r
}
