package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/ecdata/ectool/diag/report"
)

var (
	styleOK    = lipgloss.NewStyle().Foreground(lipgloss.Color("2")).Bold(true)
	styleWarn  = lipgloss.NewStyle().Foreground(lipgloss.Color("3")).Bold(true)
	styleFail  = lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true)
	styleSkip  = lipgloss.NewStyle().Foreground(lipgloss.Color("8"))
	styleTitle = lipgloss.NewStyle().Bold(true)
	styleDim   = lipgloss.NewStyle().Foreground(lipgloss.Color("8"))
)

// writeJSON writes v as one JSON document (or one JSON Lines record) to w.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// renderReport prints a finished report: JSON with -o json, a styled report
// on a TTY, plain text when piped. The text form ends with one line naming
// the first failure and the next step.
func (a *App) renderReport(r *report.Report) error {
	if a.JSON() {
		return writeJSON(a.IO.Out, r)
	}
	color := a.Color()
	w := a.IO.Out
	head := fmt.Sprintf("ectool %s", r.Command)
	if r.Target != "" {
		head += " " + r.Target
	}
	if color {
		head = styleTitle.Render(head)
	}
	fmt.Fprintln(w, head)
	multi := targetCount(r) > 1
	prev := ""
	for _, c := range r.Checks {
		if multi && c.Target != prev {
			t := "target " + c.Target
			if color {
				t = styleTitle.Render(t)
			}
			fmt.Fprintln(w, t)
			prev = c.Target
		}
		fmt.Fprintln(w, checkLine(c, color))
		if ev := evidenceLine(c.Evidence); ev != "" {
			if color {
				ev = styleDim.Render(ev)
			}
			fmt.Fprintf(w, "      %s\n", ev)
		}
		if c.Hint != "" && (c.Status == report.Failed || c.Status == report.Warning) {
			fmt.Fprintf(w, "      hint: %s\n", c.Hint)
		}
	}
	fmt.Fprintln(w, summaryLine(r, color))
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

func statusGlyph(s report.Status, color bool) string {
	if !color {
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
		return styleOK.Render(" ✓ ")
	case report.Warning:
		return styleWarn.Render(" ! ")
	case report.Failed:
		return styleFail.Render(" ✗ ")
	default:
		return styleSkip.Render(" - ")
	}
}

func checkLine(c report.Check, color bool) string {
	line := fmt.Sprintf("%s %-22s %s", statusGlyph(c.Status, color), c.ID, c.Title)
	if c.Status == report.Skipped && c.SkippedReason != "" {
		line += " (skipped: " + c.SkippedReason + ")"
		if color {
			line = styleSkip.Render(line)
		}
	}
	return line
}

// evidenceLine renders evidence as sorted key=value pairs on one line.
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

func summaryLine(r *report.Report, color bool) string {
	if r.FirstFailure != nil {
		s := fmt.Sprintf("FAILED at %s", r.FirstFailure.ID)
		if r.FirstFailure.Target != "" && targetCount(r) > 1 {
			s += " (" + r.FirstFailure.Target + ")"
		}
		if r.FirstFailure.Hint != "" {
			s += ": next, " + r.FirstFailure.Hint
		}
		if color {
			return styleFail.Render("✗ ") + s
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
		if color {
			return styleWarn.Render("! ") + s
		}
		return s
	}
	if color {
		return styleOK.Render("✓ ") + "OK: every check passed"
	}
	return "OK: every check passed"
}
