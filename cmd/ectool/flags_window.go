package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// timeWindowFlags: --since and --until, a window over captured packets.
// Each takes an RFC 3339 time or a duration counted back from the newest
// packet in the data, never from the wall clock: a copied ring is
// analysed days later.
//
// NOTE for the merge: issue 9 (capture export) adds the same constructor;
// this file holds inspect's copy so the two can be reconciled into one.
type timeWindowFlags struct {
	Since string
	Until string

	since, until windowBound
}

// windowBound is one parsed end of a window.
type windowBound struct {
	set  bool
	at   time.Time     // an absolute time
	back time.Duration // or a duration before the newest packet
	abs  bool
}

// addTimeWindowFlags adds --since and --until.
func addTimeWindowFlags(cmd *cobra.Command, f *timeWindowFlags) {
	fs := cmd.Flags()
	fs.StringVar(&f.Since, "since", "", "start of the window: an RFC 3339 time, or a duration (30s, 15m, 2h, 1d) before the newest packet in the data")
	fs.StringVar(&f.Until, "until", "", "end of the window: an RFC 3339 time, or a duration before the newest packet in the data")
}

// parse checks both bounds (a usage error names the flag).
func (f *timeWindowFlags) parse() error {
	var err error
	if f.since, err = parseWindowBound("--since", f.Since); err != nil {
		return err
	}
	if f.until, err = parseWindowBound("--until", f.Until); err != nil {
		return err
	}
	if f.since.abs && f.until.abs && f.until.at.Before(f.since.at) {
		return usageError("--until %s is before --since %s", f.Until, f.Since)
	}
	if f.since.set && f.until.set && !f.since.abs && !f.until.abs && f.until.back > f.since.back {
		return usageError("--until %s ends before --since %s starts (both count back from the newest packet)", f.Until, f.Since)
	}
	return nil
}

// relative reports whether a bound needs the newest packet's time.
func (f *timeWindowFlags) relative() bool {
	return (f.since.set && !f.since.abs) || (f.until.set && !f.until.abs)
}

// resolve turns the bounds into times, counting durations back from newest.
func (f *timeWindowFlags) resolve(newest time.Time) (since, until time.Time) {
	pick := func(b windowBound) time.Time {
		switch {
		case !b.set:
			return time.Time{}
		case b.abs:
			return b.at
		}
		return newest.Add(-b.back)
	}
	return pick(f.since), pick(f.until)
}

func parseWindowBound(flag, v string) (windowBound, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return windowBound{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339} {
		if t, err := time.Parse(layout, v); err == nil {
			return windowBound{set: true, abs: true, at: t}, nil
		}
	}
	d, err := parseBackDuration(v)
	if err != nil || d < 0 {
		return windowBound{}, usageError("%s %q: give an RFC 3339 time (2026-12-02T03:00:00Z) or a duration before the newest packet (30s, 15m, 2h, 1d)", flag, v)
	}
	return windowBound{set: true, back: d}, nil
}

// parseBackDuration is time.ParseDuration plus whole days ("2d").
func parseBackDuration(v string) (time.Duration, error) {
	if strings.HasSuffix(v, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(v, "d"))
		if err != nil {
			return 0, fmt.Errorf("bad day count")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}
