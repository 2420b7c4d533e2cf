package tour

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/ecdata/ectool/diag/report"
)

// Step is one step of the tour.
type Step struct {
	// ID is the check ID, tour.<step>, listed in docs/checks.md.
	ID    string
	Title string
	// Explain is what the step shows, said when it behaved as expected.
	Explain string
	// Run runs the step's commands through tr and judges what they said
	// in JSON.
	Run func(ctx context.Context, tr *Tour) Verdict
}

// Verdict is how a step went: as expected when Problem and Skip are
// empty.
type Verdict struct {
	// Problem says what the commands showed that they should not have (or
	// did not show); Hint, when set, what they should have shown.
	Problem string
	Hint    string
	// Skip says why the step could not apply (its lab component is off).
	Skip string
	// Evidence is what the step found in the commands' JSON, for the
	// report and the walk-through.
	Evidence map[string]any
}

// The statuses a step wants of a command's checks, short for the tables.
const (
	ok     = report.OK
	failed = report.Failed
	warned = report.Warning
	skips  = report.Skipped
)

// problem is a Verdict with a Problem worded from format.
func problem(format string, args ...any) Verdict {
	return Verdict{Problem: fmt.Sprintf(format, args...)}
}

// skip is a Verdict that skips the step.
func skip(format string, args ...any) Verdict { return Verdict{Skip: fmt.Sprintf(format, args...)} }

// with adds evidence to v and returns it.
func (v Verdict) with(kv ...any) Verdict {
	if v.Evidence == nil {
		v.Evidence = map[string]any{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Evidence[fmt.Sprint(kv[i])] = kv[i+1]
	}
	return v
}

// failed reports whether v is a problem.
func (v Verdict) failed() bool { return v.Problem != "" }

// wantExit is a Problem when c did not exit with one of codes.
func wantExit(c *Command, codes ...int) Verdict {
	for _, code := range codes {
		if c.ExitCode == code {
			return Verdict{}
		}
	}
	if c.ExitCode < 0 && c.Err != nil {
		if c.cmd != nil && c.cmd.Process == nil {
			return problem("could not run %s: %v", commandName(c), c.Err)
		}
		return problem("%s: %v", commandName(c), c.Err)
	}
	want := make([]string, len(codes))
	for i, code := range codes {
		want[i] = fmt.Sprint(code)
	}
	v := problem("%s exited %d, want %s", commandName(c), c.ExitCode, strings.Join(want, " or "))
	if e := c.Error(); e != nil {
		v.Problem += " (it said: " + e.Message + ")"
	}
	return v
}

// wantReport judges a command by its exit code and the status of some of
// its report's checks, and returns the report when it is as expected.
func wantReport(c *Command, code int, checks map[string]report.Status) (*Doc, Verdict) {
	if v := wantExit(c, code); v.failed() {
		return nil, v
	}
	d, err := c.Report()
	if err != nil {
		return nil, problem("%s: %v", commandName(c), err)
	}
	if v := wantChecks(d, checks); v.failed() {
		return nil, v
	}
	return d, Verdict{}
}

// wantChecks is a Problem when a check of d does not have its status.
func wantChecks(d *Doc, checks map[string]report.Status) Verdict {
	ids := make([]string, 0, len(checks))
	for id := range checks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		got := report.Status("absent")
		if c := d.Check(id); c != nil {
			got = c.Status
		}
		if got != checks[id] {
			return problem("%s is %s in the %s report, want %s", id, got, d.Command, checks[id])
		}
	}
	return Verdict{}
}

// commandName is "ectool mqtt sub" for a command line.
func commandName(c *Command) string {
	words := []string{"ectool"}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "-") || strings.Contains(a, "://") || strings.Contains(a, "/") || len(words) == 3 {
			break
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}
