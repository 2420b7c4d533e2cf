package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/ecdata/ectool/diag/report"
)

// renderReport prints a finished report: JSON with -o json, a styled report
// on a TTY, plain text when piped. The text form ends with one line naming
// the first failure and the next step.
func (a *App) renderReport(r *report.Report) error {
	if a.JSON() {
		return a.printJSON(r)
	}
	var st *styles // nil: plain text
	if a.Color() {
		st = a.outStyles()
	}
	w := a.IO.Out
	head := fmt.Sprintf("ectool %s", r.Command)
	if r.Target != "" {
		head += " " + r.Target
	}
	if st != nil {
		head = st.title.Render(head)
	}
	fmt.Fprintln(w, head)
	multi := targetCount(r) > 1
	prev := ""
	for _, c := range r.Checks {
		if multi && c.Target != prev {
			t := "target " + c.Target
			if st != nil {
				t = st.title.Render(t)
			}
			fmt.Fprintln(w, t)
			prev = c.Target
		}
		fmt.Fprintln(w, checkLine(c, st))
		if a.IO.OutTTY {
			// A terminal gets key: value lines at its width, not one line
			// of pairs a reader has to take apart.
			for _, l := range evidenceLines(c.Evidence, tourWidth(a, w, true), "      ") {
				if st != nil {
					l = st.dim.Render(l)
				}
				fmt.Fprintln(w, l)
			}
		} else if ev := evidenceLine(c.Evidence); ev != "" {
			fmt.Fprintf(w, "      %s\n", ev)
		}
		if c.Hint != "" && (c.Status == report.Failed || c.Status == report.Warning) {
			if a.IO.OutTTY {
				for _, l := range evidenceLines(map[string]any{"hint": c.Hint}, tourWidth(a, w, true), "      ") {
					fmt.Fprintln(w, l)
				}
			} else {
				fmt.Fprintf(w, "      hint: %s\n", c.Hint)
			}
		}
	}
	fmt.Fprintln(w, summaryLine(r, st))
	return nil
}

// targetCount is the number of targets a report's checks name (probe net
// runs its ladder once per target).
func targetCount(r *report.Report) int {
	seen := map[string]bool{}
	for _, c := range r.Checks {
		if c.Target != "" {
			seen[c.Target] = true
		}
	}
	return len(seen)
}

// statusGlyph is a check's status: a coloured glyph with styles, a
// bracketed word without (st nil).
func statusGlyph(s report.Status, st *styles) string {
	if st == nil {
		switch s {
		case report.OK:
			return "[ ok ]"
		case report.Warning:
			return "[warn]"
		case report.Failed:
			return "[FAIL]"
		default:
			return "[skip]"
		}
	}
	switch s {
	case report.OK:
		return st.ok.Render(" ✓ ")
	case report.Warning:
		return st.warn.Render(" ! ")
	case report.Failed:
		return st.fail.Render(" ✗ ")
	default:
		return st.skip.Render(" - ")
	}
}

func checkLine(c report.Check, st *styles) string {
	line := fmt.Sprintf("%s %-22s %s", statusGlyph(c.Status, st), c.ID, c.Title)
	if c.Status == report.Skipped && c.SkippedReason != "" {
		line += " (skipped: " + c.SkippedReason + ")"
		if st != nil {
			line = st.skip.Render(line)
		}
	}
	return line
}

// evidenceLine renders evidence as sorted key=value pairs on one line
// (piped text: one line per check for grep).
func evidenceLine(ev map[string]any) string {
	if len(ev) == 0 {
		return ""
	}
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%s", k, compactValue(ev[k])))
	}
	return strings.Join(parts, " ")
}

func compactValue(v any) string {
	switch x := v.(type) {
	case string:
		if t, ok := textTimeString(x); ok {
			x = t
		}
		if strings.ContainsAny(x, " \t") {
			return fmt.Sprintf("%q", x)
		}
		return x
	case float64:
		return fmt.Sprintf("%g", x)
	case nil:
		return "-"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func summaryLine(r *report.Report, st *styles) string {
	if r.FirstFailure != nil {
		s := fmt.Sprintf("FAILED at %s", r.FirstFailure.ID)
		if r.FirstFailure.Target != "" && targetCount(r) > 1 {
			s += " (" + r.FirstFailure.Target + ")"
		}
		if r.FirstFailure.Hint != "" {
			s += ": next, " + r.FirstFailure.Hint
		}
		if st != nil {
			return st.fail.Render("✗ ") + s
		}
		return s
	}
	n := 0
	for _, c := range r.Checks {
		if c.Status == report.Warning {
			n++
		}
	}
	if n > 0 {
		s := fmt.Sprintf("OK with %d warning(s): nothing failed", n)
		if st != nil {
			return st.warn.Render("! ") + s
		}
		return s
	}
	if st != nil {
		return st.ok.Render("✓ ") + "OK: every check passed"
	}
	return "OK: every check passed"
}
