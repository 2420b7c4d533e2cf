// Package report is the one report model every ectool command emits: a list
// of checks with stable IDs, each with a status, the evidence it measured and
// a hint for the technician, plus command-specific details.
//
// It is a leaf package: it imports nothing else of ectool, so probes, the
// diagnostic ladder and the renderers in cmd/ectool can all share it.
//
// Start with New, add checks with Add (or Run), and finish with Finish; the
// ExitCode of a finished report is the process exit code the conventions fix.
package report

import (
	"encoding/json"
	"sync"
	"time"
)

// Schema is the value of the "schema" field of every report.
const Schema = "ectool.report/v1"

// Status is the outcome of one check.
type Status string

// The four statuses a check can have.
const (
	OK      Status = "ok"
	Warning Status = "warning"
	Failed  Status = "failed"
	Skipped Status = "skipped"
)

// Check is one step of a diagnosis: what was tested, what was measured and,
// when it did not go well, what the technician should do next.
type Check struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Target names what the check was run against when one report covers
	// several targets (probe net host1 host2); empty otherwise.
	Target        string         `json:"target,omitempty"`
	Status        Status         `json:"status"`
	Evidence      map[string]any `json:"evidence,omitempty"`
	DurationMS    float64        `json:"duration_ms"`
	Hint          string         `json:"hint,omitempty"`
	SkippedReason string         `json:"skipped_reason,omitempty"`
}

// FirstFailure names the first failed check and its hint (and, in a
// report covering several targets, the target it failed for).
type FirstFailure struct {
	ID     string `json:"id"`
	Target string `json:"target,omitempty"`
	Hint   string `json:"hint"`
}

// Report is the document one command run produces.
type Report struct {
	Schema       string         `json:"schema"`
	Command      string         `json:"command"`
	Target       string         `json:"target"`
	StartedAt    time.Time      `json:"started_at"`
	DurationMS   float64        `json:"duration_ms"`
	Checks       []Check        `json:"checks"`
	FirstFailure *FirstFailure  `json:"first_failure"`
	Details      map[string]any `json:"details,omitempty"`

	mu    sync.Mutex
	clock func() time.Time
}

// New starts a report for command against target. The clock may be nil
// (time.Now is used); tests inject one to get stable durations.
func New(command, target string, clock func() time.Time) *Report {
	if clock == nil {
		clock = time.Now
	}
	return &Report{
		Schema:    Schema,
		Command:   command,
		Target:    target,
		StartedAt: clock().UTC(),
		Checks:    []Check{},
		Details:   map[string]any{},
		clock:     clock,
	}
}

// Add appends a finished check.
func (r *Report) Add(c Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.Status == "" {
		c.Status = OK
	}
	r.Checks = append(r.Checks, c)
}

// Run times fn and records the check it fills in. fn sets Status, Evidence
// and Hint on the check it is given; ID and Title are set from the arguments.
// It returns the check's final status.
func (r *Report) Run(id, title string, fn func(c *Check)) Status {
	c := Check{ID: id, Title: title, Status: OK}
	start := r.clock()
	fn(&c)
	c.DurationMS = Millis(r.clock().Sub(start))
	r.Add(c)
	return c.Status
}

// Skip records a check that was not run, with the reason (usually the failed
// check it depends on).
func (r *Report) Skip(id, title, reason string) {
	r.Add(Check{ID: id, Title: title, Status: Skipped, SkippedReason: reason})
}

// Failed reports whether a check with this ID failed.
func (r *Report) Failed(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Status == Failed
		}
	}
	return false
}

// SetDetail stores command-specific data under details.key.
func (r *Report) SetDetail(key string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Details[key] = v
}

// Finish sets the duration and the first failure. Call it once, last.
func (r *Report) Finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.DurationMS = Millis(r.clock().Sub(r.StartedAt))
	r.FirstFailure = nil
	for _, c := range r.Checks {
		if c.Status == Failed {
			r.FirstFailure = &FirstFailure{ID: c.ID, Target: c.Target, Hint: c.Hint}
			break
		}
	}
}

// HasWarnings reports whether any check ended in a warning.
func (r *Report) HasWarnings() bool {
	for _, c := range r.Checks {
		if c.Status == Warning {
			return true
		}
	}
	return false
}

// ExitCode is 1 when a check failed (or, with strict, when one warned), else 0.
func (r *Report) ExitCode(strict bool) int {
	for _, c := range r.Checks {
		if c.Status == Failed || (strict && c.Status == Warning) {
			return 1
		}
	}
	return 0
}

// MarshalJSON renders the report with RFC 3339 UTC times at millisecond
// precision or better.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain struct {
		Schema       string         `json:"schema"`
		Command      string         `json:"command"`
		Target       string         `json:"target"`
		StartedAt    string         `json:"started_at"`
		DurationMS   float64        `json:"duration_ms"`
		Checks       []Check        `json:"checks"`
		FirstFailure *FirstFailure  `json:"first_failure"`
		Details      map[string]any `json:"details,omitempty"`
	}
	checks := r.Checks
	if checks == nil {
		checks = []Check{}
	}
	return json.Marshal(plain{
		Schema: r.Schema, Command: r.Command, Target: r.Target,
		StartedAt:  FormatTime(r.StartedAt),
		DurationMS: r.DurationMS, Checks: checks, FirstFailure: r.FirstFailure,
		Details: r.Details,
	})
}

// TimeLayout is RFC 3339 with a fixed sub-second precision (microseconds),
// so lines sort as text and widths stay stable.
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// FormatTime renders t as RFC 3339 UTC with sub-second precision.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Millis converts a duration to milliseconds with microsecond resolution.
func Millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
