package capture

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Bound is one end of a time window: an absolute time, or a duration
// counted back from the newest packet in the data (never from the wall
// clock: a copied ring is analysed days later). The zero Bound is open.
type Bound struct {
	At   time.Time
	Back time.Duration
	Set  bool
	// Text is what the person wrote, for messages.
	Text string
}

// ParseBound reads an RFC 3339 time (2026-12-02T03:00:00Z) or a duration
// (30s, 10m, 2h, or whole days: 1d).
func ParseBound(s string) (Bound, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Bound{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return Bound{At: t, Set: true, Text: s}, nil
	}
	d, err := parseBack(s)
	if err != nil {
		return Bound{}, fmt.Errorf("%q: want an RFC 3339 time (2026-12-02T03:00:00Z) or a duration back from the newest packet (30s, 15m, 2h, 1d)", s)
	}
	if d < 0 {
		return Bound{}, fmt.Errorf("%q: a duration counts back from the newest packet and must not be negative", s)
	}
	return Bound{Back: d, Set: true, Text: s}, nil
}

// parseBack is time.ParseDuration plus whole days ("2d").
func parseBack(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 365*100 {
			return 0, fmt.Errorf("bad day count %q", days)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// Resolve is the bound's time given the newest packet's.
func (b Bound) Resolve(newest time.Time) time.Time {
	if !b.Set {
		return time.Time{}
	}
	if b.At.IsZero() {
		return newest.Add(-b.Back)
	}
	return b.At
}

// Window keeps packets with Since ≤ time < Until (editcap's -A/-B).
type Window struct {
	Since, Until Bound
}

// Relative reports whether an end counts back from the newest packet (the
// data must be read once to find it).
func (w Window) Relative() bool {
	return w.Since.Set && w.Since.At.IsZero() || w.Until.Set && w.Until.At.IsZero()
}

// Open reports whether neither end is set.
func (w Window) Open() bool { return !w.Since.Set && !w.Until.Set }

// Check refuses a window whose ends are both absolute and in the wrong order.
func (w Window) Check() error {
	if w.Since.Set && w.Until.Set && !w.Since.At.IsZero() && !w.Until.At.IsZero() && !w.Since.At.Before(w.Until.At) {
		return fmt.Errorf("--since %s is not before --until %s", w.Since.Text, w.Until.Text)
	}
	if w.Since.Set && w.Until.Set && w.Since.At.IsZero() && w.Until.At.IsZero() && w.Since.Back <= w.Until.Back {
		return fmt.Errorf("--since %s starts after --until %s ends (both count back from the newest packet)", w.Since.Text, w.Until.Text)
	}
	return nil
}

// Resolved is a window turned into times ([From, To), zero = open).
type Resolved struct {
	From, To time.Time
}

// Resolve fixes the window against the newest packet's time.
func (w Window) Resolve(newest time.Time) Resolved {
	return Resolved{From: w.Since.Resolve(newest), To: w.Until.Resolve(newest)}
}

// Contains reports whether t is inside.
func (r Resolved) Contains(t time.Time) bool {
	if !r.From.IsZero() && t.Before(r.From) {
		return false
	}
	if !r.To.IsZero() && !t.Before(r.To) {
		return false
	}
	return true
}

// Newest reads m to its end and returns its newest packet's time (zero
// when it holds none): the time a window's durations count back from, for
// export and inspect alike. A read error does not stop it; the first one
// is returned with the newest time of what could be read.
func Newest(m *Merger) (time.Time, error) {
	var newest time.Time
	var first error
	for {
		p, err := m.Next()
		switch {
		case err == io.EOF:
			return newest, first
		case err != nil:
			if first == nil {
				first = err
			}
		case p.Timestamp.After(newest):
			newest = p.Timestamp
		}
	}
}
