package tour

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/lab"
)

// Narrator hears what the tour does while it does it, in order, from the
// goroutine that runs Run: cmd/ectool prints it as the walk-through.
type Narrator interface {
	// Step: step n of total begins.
	Step(n, total int, s Step)
	// Command: a command starts (c.Background: it runs while the step
	// goes on).
	Command(c *Command)
	// Output: a command has finished; its output is in c.
	Output(c *Command)
	// Note: the tour itself did something ("cuts the gateway off").
	Note(text string)
	// Verdict: how the step went, as its check says (the evidence without
	// the command lines), and what it shows when it went as expected.
	Verdict(s Step, c report.Check)
}

// Options say what to tour and how.
type Options struct {
	// Site is the running lab the steps work against.
	Site *lab.Site
	// Executable is the ectool binary the steps run (see Executable).
	Executable string
	// Timeout bounds each step, every command it runs included.
	Timeout time.Duration
	// Narrator hears the walk-through (nil: nobody).
	Narrator Narrator
	// Steps to run (nil: Steps()).
	Steps []Step
	// Now is the clock of the report (nil: time.Now).
	Now func() time.Time

	// prepare adjusts each command before it starts (tests: run it as
	// another user).
	prepare func(*exec.Cmd)
}

// Result is a finished tour.
type Result struct {
	// Report has one check per step; details "lab" (the endpoints) and
	// "steps" (the counts).
	Report *report.Report
	// AsExpected, NotAsExpected and Skipped count the steps.
	AsExpected, NotAsExpected, Skipped int
	// Interrupted is set when ctx ended before every step ran.
	Interrupted bool
}

// ErrNoSite is returned by Run without a lab.
var ErrNoSite = errors.New("tour: no running lab")

// Run runs the steps one after another against the lab and judges each.
func Run(ctx context.Context, o Options) (*Result, error) {
	switch {
	case o.Site == nil:
		return nil, ErrNoSite
	case o.Executable == "":
		return nil, errors.New("tour: no ectool binary to run")
	case o.Timeout <= 0:
		return nil, errors.New("tour: the step timeout must be positive")
	}
	if o.Steps == nil {
		o.Steps = Steps()
	}
	if o.Narrator == nil {
		o.Narrator = silent{}
	}
	ep := &o.Site.Endpoints
	target := ""
	if ep.Broker != nil {
		target = ep.Broker.MQTT
	}
	r := report.New("lab tour", target, o.Now)
	tr := &Tour{Site: o.Site, EP: ep, Scratch: o.Site.Config.Dir, o: o}
	for i, st := range o.Steps {
		if ctx.Err() != nil {
			r.Skip(st.ID, st.Title, "the tour was interrupted")
			continue
		}
		o.Narrator.Step(i+1, len(o.Steps), st)
		r.Run(st.ID, st.Title, func(c *report.Check) { tr.runStep(ctx, st, c) })
		o.Narrator.Verdict(st, withoutCommands(r.Checks[len(r.Checks)-1]))
	}
	r.Finish()
	res := &Result{Report: r, Interrupted: ctx.Err() != nil}
	for _, c := range r.Checks {
		switch c.Status {
		case report.Failed:
			res.NotAsExpected++
		case report.Skipped:
			res.Skipped++
		default:
			res.AsExpected++
		}
	}
	r.SetDetail("lab", o.Site.Endpoints)
	r.SetDetail("steps", map[string]int{"total": len(r.Checks), "as_expected": res.AsExpected,
		"not_as_expected": res.NotAsExpected, "skipped": res.Skipped})
	return res, nil
}

// runStep runs one step within the step timeout and fills its check.
func (tr *Tour) runStep(ctx context.Context, st Step, c *report.Check) {
	tr.commands = nil
	sctx, cancel := context.WithTimeout(ctx, tr.o.Timeout)
	v := st.Run(sctx, tr)
	cancel()
	for _, bg := range tr.background {
		bg.Stop()
	}
	tr.background = nil
	if ctx.Err() != nil {
		v = Verdict{Skip: "the tour was interrupted"}
	}
	c.Evidence = map[string]any{"commands": tr.evidence()}
	for k, val := range v.Evidence {
		c.Evidence[k] = val
	}
	switch {
	case v.Skip != "":
		c.Status, c.SkippedReason = report.Skipped, v.Skip
	case v.Problem != "":
		c.Status, c.Hint = report.Failed, v.Problem
		if v.Hint != "" {
			c.Hint += ": " + v.Hint
		}
	}
}

// withoutCommands is c without the command lines in its evidence (the
// walk-through showed them).
func withoutCommands(c report.Check) report.Check {
	ev := map[string]any{}
	for k, v := range c.Evidence {
		if k != "commands" {
			ev[k] = v
		}
	}
	c.Evidence = ev
	return c
}

// TestBinaryError says the tour would run a Go test binary: inside `go
// test`, os.Executable is the test binary, and running it with a step's
// arguments would run the whole suite again from each step.
type TestBinaryError struct{ Name string }

func (e *TestBinaryError) Error() string {
	return fmt.Sprintf("the tour would run %s, a Go test binary, not ectool", e.Name)
}

// Executable is the ectool binary running now, for Options.Executable. It
// refuses a Go test binary (*TestBinaryError).
func Executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot find the ectool binary to run: %w", err)
	}
	if base := strings.TrimSuffix(filepath.Base(exe), ".exe"); strings.HasSuffix(base, ".test") {
		return "", &TestBinaryError{Name: base}
	}
	return exe, nil
}

// silent is the Narrator of a tour nobody watches.
type silent struct{}

func (silent) Step(int, int, Step)        {}
func (silent) Command(*Command)           {}
func (silent) Output(*Command)            {}
func (silent) Note(string)                {}
func (silent) Verdict(Step, report.Check) {}
