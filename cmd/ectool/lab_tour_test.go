package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/ecdata/ectool/internal/testenv"
)

func TestWrapWordsNeverCutsAWord(t *testing.T) {
	for _, tc := range []struct {
		text                 string
		width, first, indent int
		want                 []string
	}{
		{"the broker refused the login", 14, 0, 2, []string{"the broker", "refused the", "login"}},
		{"a /very/long/path/that/does/not/fit here", 12, 4, 4, []string{"a", "/very/long/path/that/does/not/fit", "here"}},
		{"", 20, 0, 0, []string{""}},
		{"one", 80, 70, 2, []string{"one"}},
	} {
		got := wrapWords(tc.text, tc.width, tc.first, tc.indent)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("wrapWords(%q, %d, %d, %d) = %q, want %q", tc.text, tc.width, tc.first, tc.indent, got, tc.want)
		}
	}
}

func TestLabTourWrapsHintsAtTheTerminalWidth(t *testing.T) {
	f := testenv.Require(t, "false")
	var out, errOut bytes.Buffer
	env := map[string]string{"COLUMNS": "60"}
	app := &App{IO: &Streams{Out: &out, ErrOut: &errOut}, Output: "text", Now: time.Now, Getenv: func(k string) string { return env[k] }}
	opts := &labTourOptions{app: app, Timeout: 20 * time.Second, Executable: f,
		flags: labFlags{Site: "lab", Interval: time.Second, Meters: []string{"main"}}}
	if code := app.handleError(labTourRun(t.Context(), opts)); code != ExitProblem {
		t.Fatalf("exit %d, want 1\n%s", code, errOut.String())
	}
	walk, _, _ := strings.Cut(out.String(), "steps behaved as expected")
	for _, l := range strings.Split(walk, "\n") {
		// A line may pass the width only when it is one word (a path).
		if lipgloss.Width(l) > 60 && strings.Contains(strings.TrimLeft(strings.TrimPrefix(strings.TrimSpace(l), "$"), " │"), " ") {
			t.Errorf("line of %d columns at COLUMNS=60: %q", lipgloss.Width(l), l)
		}
	}
	// The hint is all there, folded over lines, never cut with "…".
	words := strings.Join(strings.Fields(walk), " ")
	for _, want := range []string{"✗ not as expected: ectool mqtt sub exited 1, want 0: it should receive one retained reading per meter",
		"✗ not as expected: ectool capture status exited 1, want 0: the lab records its broker while it runs"} {
		if !strings.Contains(words, want) {
			t.Errorf("the walk-through lacks the whole hint %q:\n%s", want, walk)
		}
	}
	if strings.Contains(walk, "…") && !strings.Contains(walk, "more lines …") {
		t.Errorf("the walk-through cuts a line:\n%s", walk)
	}
}
