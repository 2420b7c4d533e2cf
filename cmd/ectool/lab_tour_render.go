package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/term"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/lab"
	"github.com/ecdata/ectool/lab/tour"
)

// tourNarrator prints the walk-through of `lab tour` as it happens: each
// step's heading, each command line and its report (rendered from the JSON
// the tour judged), and each verdict, wrapped at the terminal's width.
type tourNarrator struct {
	app   *App
	out   io.Writer
	color bool
	st    *styles // out's styles
	width int
}

// What Output prints of a command: the first tourHeadLines and the last
// tourTailLines lines (the verdict is at the end).
const (
	tourHeadLines = 8
	tourTailLines = 12
)

func newTourNarrator(app *App) *tourNarrator {
	out, color, tty, st := app.IO.Out, app.Color(), app.IO.OutTTY, app.outStyles()
	if app.JSON() {
		out, color, tty, st = app.IO.ErrOut, app.errColor(), app.IO.ErrTTY, app.errStyles()
	}
	return &tourNarrator{app: app, out: out, color: color, st: st, width: tourWidth(app, out, tty)}
}

// tourWidth is the width the walk-through wraps at: $COLUMNS, else the
// terminal's, else 80 (a pipe, a log).
func tourWidth(app *App, out io.Writer, tty bool) int {
	if n, err := strconv.Atoi(app.Getenv("COLUMNS")); err == nil && n > 0 {
		return max(n, 40)
	}
	if f, isFile := out.(*os.File); isFile && tty {
		if w, _, err := term.GetSize(f.Fd()); err == nil && w > 0 {
			return max(w, 40)
		}
	}
	return 80
}

func (n *tourNarrator) styled(s string, style lipgloss.Style) string {
	if n.color {
		return style.Render(s)
	}
	return s
}

// say prints text wrapped at the width: the first line after prefix, the
// others after cont.
func (n *tourNarrator) say(prefix, text, cont string) {
	lines := wrapWords(text, n.width, lipgloss.Width(prefix), lipgloss.Width(cont))
	for i, l := range lines {
		if i == 0 {
			fmt.Fprintf(n.out, "%s%s\n", prefix, l)
			continue
		}
		fmt.Fprintf(n.out, "%s%s\n", cont, l)
	}
}

func (n *tourNarrator) intro(ep *lab.Endpoints) {
	n.say(n.styled("ectool lab tour", n.st.title)+": ", fmt.Sprintf("a simulated site %q on this machine", ep.Site), "  ")
	const cont = "          "
	if b := ep.Broker; b != nil {
		n.say("  broker  ", fmt.Sprintf("%s, %s (CA %s)", b.MQTT, b.MQTTS, b.CAFile), cont)
	}
	if g := ep.Gateway; g != nil {
		n.say("  gateway ", fmt.Sprintf("publishes %d meters to %s every %s", len(g.Topics), g.TelemetryFilter, time.Duration(g.IntervalMS)*time.Millisecond), cont)
	}
	if b := ep.Bus; b != nil {
		n.say("  bus     ", fmt.Sprintf("%s, scenario %s (%s)", b.RTUOverTCP, b.Scenario, b.Settings), cont)
	}
	if m := ep.Modem; m != nil {
		n.say("  modem   ", fmt.Sprintf("%s, scenario %s", m.TCP, m.Scenario), cont)
	}
	n.say("", "Each step runs a real ectool command against it with -o json, judges its report and shows it as text, then says what it shows.", "")
}

func (n *tourNarrator) Step(i, total int, s tour.Step) {
	prefix := fmt.Sprintf("[%d/%d] ", i, total)
	fmt.Fprintln(n.out)
	for j, l := range wrapWords(s.Title, n.width, len(prefix), len(prefix)) {
		if j == 0 {
			l = prefix + l
		} else {
			l = strings.Repeat(" ", len(prefix)) + l
		}
		fmt.Fprintln(n.out, n.styled(l, n.st.title))
	}
}

func (n *tourNarrator) Command(c *tour.Command) {
	line := "$ " + c.Line()
	if c.Background {
		line += " &"
	}
	n.say("", line, "    ")
}

func (n *tourNarrator) Note(text string) { n.say("(", text+")", " ") }

// Output prints what a finished command printed: its report as text,
// stream records one a line, its talk on stderr; the head and the tail of
// it, each line wrapped, then its exit code.
func (n *tourNarrator) Output(c *tour.Command) {
	if c.Background {
		fmt.Fprintf(n.out, "[the background %s]\n", strings.Join(c.Args[:min(2, len(c.Args))], " "))
	}
	lines := n.outputLines(c)
	for i := 0; i < len(lines); i++ {
		if len(lines) > tourHeadLines+tourTailLines+1 && i == tourHeadLines {
			skipped := len(lines) - tourHeadLines - tourTailLines
			fmt.Fprintf(n.out, "  │ … %d more lines …\n", skipped)
			i += skipped - 1
			continue
		}
		l := lines[i]
		if lipgloss.Width(l)+4 <= n.width {
			fmt.Fprintf(n.out, "  │ %s\n", l) // as printed, alignment kept
			continue
		}
		lead := len(l) - len(strings.TrimLeft(l, " "))
		n.say("  │ "+l[:lead], l[lead:], "  │ "+l[:lead]+"  ")
	}
	switch {
	case c.ExitCode >= 0:
		fmt.Fprintf(n.out, "  (exit %d)\n", c.ExitCode)
	case c.Err != nil:
		n.say("  (did not finish: ", c.Err.Error()+")", "    ")
	}
}

// outputLines renders a command's stdout from its JSON, then its stderr.
func (n *tourNarrator) outputLines(c *tour.Command) []string {
	var lines []string
	recs := c.Records()
	if len(recs) == 0 && strings.TrimSpace(c.Stdout) != "" {
		lines = append(lines, splitLines(c.Stdout)...)
	}
	for _, raw := range recs {
		lines = append(lines, n.recordLines(raw)...)
	}
	return append(lines, splitLines(c.Stderr)...)
}

// recordLines renders one JSON document of a command's stdout.
func (n *tourNarrator) recordLines(raw json.RawMessage) []string {
	var probe struct {
		Schema  string          `json:"schema"`
		Topic   *string         `json:"topic"`
		Payload json.RawMessage `json:"payload"`
		Error   *struct {
			Message string `json:"message"`
			Hint    string `json:"hint"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return []string{string(raw)}
	}
	var b bytes.Buffer
	switch {
	case probe.Schema == report.Schema:
		var r report.Report
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber() // 33556480, not 3.355648e+07
		if dec.Decode(&r) == nil {
			plain := &App{IO: &Streams{Out: &b}, Output: "text", NoColor: true, Getenv: n.app.Getenv}
			if plain.renderReport(&r) == nil {
				return splitLines(b.String())
			}
		}
	case probe.Schema == lab.Schema:
		var ep lab.Endpoints
		if json.Unmarshal(raw, &ep) == nil {
			writeEndpointsText(&b, &ep)
			return splitLines(b.String())
		}
	case probe.Error != nil:
		out := []string{"error: " + probe.Error.Message}
		if probe.Error.Hint != "" {
			out = append(out, "  next: "+probe.Error.Hint)
		}
		return out
	case probe.Topic != nil:
		var payload string
		if json.Unmarshal(probe.Payload, &payload) != nil {
			payload = string(probe.Payload)
		}
		return []string{*probe.Topic + " " + payload}
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil {
		return []string{evidenceWords(m)}
	}
	return []string{string(raw)}
}

func (n *tourNarrator) Verdict(s tour.Step, c report.Check) {
	switch c.Status {
	case report.OK, report.Warning:
		n.say(n.styled("✓", n.st.ok)+" ", s.Explain, "  ")
		n.evidence(c.Evidence)
	case report.Skipped:
		n.say("- skipped: ", c.SkippedReason, "  ")
	default:
		n.say(n.styled("✗ not as expected:", n.st.fail)+" ", c.Hint, "  ")
		n.evidence(c.Evidence)
	}
}

// evidence prints what the tour found, one "key: value" a line.
func (n *tourNarrator) evidence(ev map[string]any) {
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		n.say("  "+strings.ReplaceAll(k, "_", " ")+": ", evidenceValue(ev[k]), "      ")
	}
}

func (n *tourNarrator) summary(res *tour.Result) {
	s := fmt.Sprintf("%d of %d steps behaved as expected", res.AsExpected, len(res.Report.Checks))
	if res.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped", res.Skipped)
	}
	fmt.Fprintf(n.out, "\n%s.\n\n", s)
}

// evidenceValue words one evidence value: lists joined, maps as "key:
// value" pairs, never a JSON blob.
func evidenceValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []string:
		return strings.Join(x, ", ")
	case map[string]string:
		m := map[string]any{}
		for k, s := range x {
			m[k] = s
		}
		return evidenceWords(m)
	case map[string]any:
		return evidenceWords(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = evidenceValue(e)
		}
		return strings.Join(parts, ", ")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var back any
	if json.Unmarshal(b, &back) == nil {
		if _, isList := back.([]any); isList {
			return evidenceValue(back)
		}
	}
	return strings.Trim(string(b), `"`)
}

// evidenceWords words a map as sorted "key: value" pairs.
func evidenceWords(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + evidenceValue(m[k])
	}
	return strings.Join(parts, "; ")
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// wrapWords folds text into lines of at most width columns: the first line
// after first columns already used, the others after indent. Words are
// never cut: one longer than a line gets a line of its own.
func wrapWords(text string, width, first, indent int) []string {
	var lines []string
	var b strings.Builder
	col, room := 0, max(width-first, 10)
	for _, w := range strings.Fields(text) {
		wl := utf8.RuneCountInString(w)
		if col > 0 && col+1+wl > room {
			lines = append(lines, b.String())
			b.Reset()
			col, room = 0, max(width-indent, 10)
		}
		if col > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += wl
	}
	return append(lines, b.String())
}
