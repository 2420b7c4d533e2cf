package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/lab"
)

type labTourOptions struct {
	app   *App
	flags labFlags
	// Timeout bounds each step (every ectool command it runs).
	Timeout time.Duration
	// Executable is the ectool binary the steps run (default: this one).
	Executable string
}

// NewCmdLabTour is `ectool lab tour`: start a lab, run real ectool commands
// against it and explain each result.
func NewCmdLabTour(app *App) *cobra.Command {
	opts := &labTourOptions{app: app}
	cmd := &cobra.Command{
		Use:   "tour",
		Short: "Start a lab and walk through ectool's commands against it, explaining each result",
		Long: `Start a simulated site (see 'ectool lab'), run real ectool commands against
it one by one, show each command line and its output, and explain in a few
words what it shows: retained telemetry, a publish/subscribe round trip with
sequence numbers, the broker check ladder, TLS trust, a wrong password, the
ACL refusing a topic, the gateway's Last Will, the RS-485 bus, and the lab's
recording of its broker read back with 'capture status', 'export' and 'inspect'.

Some steps are meant to fail (a wrong password, an untrusted CA): a step
behaves as expected when the command shows what it should. The tour ends
with a summary and exits 0 when every step behaved as expected, 1 otherwise.
With -o json the walk-through goes to stderr and a report with one check per
step (tour.<step>) to stdout. No root needed.`,
		Example: `  ectool lab tour
  ectool lab tour -o json > tour.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return labTourRun(cmd.Context(), opts)
		},
	}
	addLabFlags(cmd, &opts.flags)
	opts.flags.Interval = time.Second
	cmd.Flags().Lookup("interval").DefValue = "1s"
	addTimeoutFlag(cmd, &opts.Timeout, 60*time.Second, "longest wait for each step of the tour")
	return cmd
}

func labTourRun(ctx context.Context, opts *labTourOptions) error {
	app := opts.app
	cfg, err := opts.flags.config()
	if err != nil {
		return err
	}
	if opts.Timeout <= 0 {
		return usageError("--timeout must be positive")
	}
	exe := opts.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return cannotRun("run the tour from an installed ectool binary", "cannot find the ectool binary to run: %v", err)
		}
		// Inside `go test` the executable is the test binary: running it
		// with a step's arguments would run the whole test suite again, and
		// again, from each step.
		if base := strings.TrimSuffix(filepath.Base(exe), ".exe"); strings.HasSuffix(base, ".test") {
			return cannotRun("tests run the tour with labTourOptions.Executable set to a built ectool",
				"the tour would run %s, a Go test binary, not ectool", base)
		}
	}
	site, err := startLab(ctx, cfg)
	if err != nil {
		return err
	}
	defer site.Stop()

	out := app.IO.Out
	color := app.Color()
	if app.JSON() {
		out, color = app.IO.ErrOut, app.errColor()
	}
	t := &tour{
		exe: exe, site: site, ep: &site.Endpoints, out: out, color: color,
		timeout: opts.Timeout, scratch: site.Config.Dir,
	}
	r := report.New("lab tour", site.Endpoints.Broker.MQTT, app.Now)
	t.intro()
	for i, st := range tourSteps {
		if ctx.Err() != nil {
			r.Skip(st.ID, st.Title, "the tour was interrupted")
			continue
		}
		t.heading(i+1, len(tourSteps), st.Title)
		r.Run(st.ID, st.Title, func(c *report.Check) {
			t.commands = nil
			sctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			res := st.Run(sctx, t)
			cancel()
			if ctx.Err() != nil {
				res = stepResult{Skip: "the tour was interrupted"}
			}
			c.Evidence = map[string]any{"commands": t.commands}
			for k, v := range res.Evidence {
				c.Evidence[k] = v
			}
			switch {
			case res.Skip != "":
				c.Status, c.SkippedReason = report.Skipped, res.Skip
			case res.Problem != "":
				c.Status, c.Hint = report.Failed, res.Problem
				if res.Hint != "" {
					c.Hint += ": " + res.Hint
				}
			}
			t.verdict(c.Status, st.Explain, c.Hint, res.Skip)
		})
	}
	r.Finish()
	r.SetDetail("lab", site.Endpoints)
	var ok, failed, skipped int
	for _, c := range r.Checks {
		switch c.Status {
		case report.Failed:
			failed++
		case report.Skipped:
			skipped++
		default:
			ok++
		}
	}
	r.SetDetail("steps", map[string]int{"total": len(r.Checks), "as_expected": ok, "not_as_expected": failed, "skipped": skipped})
	summary := fmt.Sprintf("%d of %d steps behaved as expected", ok, len(r.Checks))
	if skipped > 0 {
		summary += fmt.Sprintf(", %d skipped", skipped)
	}
	fmt.Fprintf(out, "\n%s.\n\n", summary)
	if !app.JSON() {
		// The walk-through above showed every command and its output: the
		// closing report lists the verdicts only.
		for i := range r.Checks {
			r.Checks[i].Evidence = nil
		}
	}
	if err := app.renderReport(r); err != nil {
		return err
	}
	if ctx.Err() != nil {
		app.Warnf("the tour was interrupted: not every step ran")
		return reported(ExitProblem)
	}
	return reported(r.ExitCode(false))
}

// tourStep is one step of the tour. Adding a step is adding one entry to
// tourSteps (lab_tour_steps.go).
type tourStep struct {
	ID    string // check ID, tour.<step>, listed in docs/checks.md
	Title string
	// Explain is what the step shows, said when it behaved as expected.
	Explain string
	// Run runs the step's commands through t and judges what they showed.
	Run func(ctx context.Context, t *tour) stepResult
}

// stepResult is a step's verdict: Problem (and Hint) when the commands did
// not show what they should, Skip when the step could not apply.
type stepResult struct {
	Problem  string
	Hint     string
	Skip     string
	Evidence map[string]any
}

// tour runs ectool commands against the lab and narrates them.
type tour struct {
	exe      string
	site     *lab.Site
	ep       *lab.Endpoints
	out      io.Writer
	color    bool
	timeout  time.Duration
	scratch  string
	commands []commandEvidence
	mu       sync.Mutex
}

// commandEvidence is one command a step ran, as the report shows it.
type commandEvidence struct {
	Command  string `json:"command"`
	ExitCode int    `json:"exit_code"`
}

// ran is a finished ectool command.
type ran struct {
	Args     []string
	ExitCode int // -1 when it could not be started or was cut off
	Stdout   string
	Stderr   string
	Combined string
	Err      error

	background bool
}

func (r *ran) String() string { return commandLine(r.Args) }

// login returns the flags that log in as user with its password file.
func (t *tour) login(user string) []string {
	u := t.ep.Broker.User(user)
	return []string{"-u", u.Name, "--password-file", u.PasswordFile}
}

// ectool runs the ectool binary with args, showing the command line and
// its output, and records it as evidence.
func (t *tour) ectool(ctx context.Context, args ...string) *ran {
	fmt.Fprintf(t.out, "$ %s\n", commandLine(args))
	r := t.start(ctx, args...)
	r.wait()
	t.show(r.ran)
	return r.ran
}

// background starts ectool with args while the step goes on, announcing it
// as a shell would ("$ ectool ... &"). Show its output with
// t.show(r.wait()) once it is done.
func (t *tour) background(ctx context.Context, args ...string) *running {
	fmt.Fprintf(t.out, "$ %s &\n", commandLine(args))
	r := t.start(ctx, args...)
	r.ran.background = true
	return r
}

// running is an ectool command started in the background.
type running struct {
	ran  *ran
	cmd  *exec.Cmd
	done chan struct{}
	buf  *lockedBuffer
	outb *bytes.Buffer
	errb *bytes.Buffer
}

func (r *running) wait() *ran {
	<-r.done
	return r.ran
}

// start runs ectool without showing anything.
func (t *tour) start(ctx context.Context, args ...string) *running {
	cmd := exec.CommandContext(ctx, t.exe, args...)
	cmd.Env = tourEnv()
	cmd.WaitDelay = 2 * time.Second
	combined := &lockedBuffer{}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = io.MultiWriter(&stdout, combined)
	cmd.Stderr = io.MultiWriter(&stderr, combined)
	r := &running{ran: &ran{Args: args, ExitCode: -1}, cmd: cmd, done: make(chan struct{}), buf: combined, outb: &stdout, errb: &stderr}
	t.mu.Lock()
	t.commands = append(t.commands, commandEvidence{Command: commandLine(args), ExitCode: -1})
	idx := len(t.commands) - 1
	t.mu.Unlock()
	finish := func(err error) {
		r.ran.Err = err
		if cmd.ProcessState != nil {
			r.ran.ExitCode = cmd.ProcessState.ExitCode()
		}
		if ctx.Err() != nil {
			r.ran.ExitCode = -1
			r.ran.Err = fmt.Errorf("cut off after %s (--timeout)", t.timeout)
		}
		r.ran.Stdout, r.ran.Stderr, r.ran.Combined = stdout.String(), stderr.String(), combined.String()
		t.mu.Lock()
		t.commands[idx].ExitCode = r.ran.ExitCode
		t.mu.Unlock()
		close(r.done)
	}
	if err := cmd.Start(); err != nil {
		finish(err)
		return r
	}
	go func() { finish(cmd.Wait()) }()
	return r
}

// tourEnv is this process's environment without the variables that would
// change what the steps' commands do.
func tourEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ECTOOL_MQTT_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// What show prints of a command's output: the first tourHeadLines and the
// last tourTailLines lines (the summary is at the end), each cut at
// tourLineWidth columns.
const (
	tourHeadLines = 8
	tourTailLines = 12
	tourLineWidth = 150
)

// show prints a finished command's output (the head and the tail of it)
// and its exit code.
func (t *tour) show(r *ran) {
	if r.background {
		fmt.Fprintf(t.out, "[the background %s]\n", strings.Join(r.Args[:min(2, len(r.Args))], " "))
	}
	var lines []string
	if r.Combined != "" {
		lines = strings.Split(strings.TrimRight(r.Combined, "\n"), "\n")
	}
	for i := 0; i < len(lines); i++ {
		if len(lines) > tourHeadLines+tourTailLines+1 && i == tourHeadLines {
			skipped := len(lines) - tourHeadLines - tourTailLines
			fmt.Fprintf(t.out, "  │ … %d more lines …\n", skipped)
			i += skipped - 1
			continue
		}
		l := lines[i]
		if w := []rune(l); len(w) > tourLineWidth {
			l = string(w[:tourLineWidth-1]) + "…"
		}
		fmt.Fprintf(t.out, "  │ %s\n", l)
	}
	switch {
	case r.ExitCode >= 0:
		fmt.Fprintf(t.out, "  (exit %d)\n", r.ExitCode)
	case r.Err != nil:
		fmt.Fprintf(t.out, "  (did not finish: %v)\n", r.Err)
	}
}

func (t *tour) intro() {
	ep := t.ep
	title := "ectool lab tour"
	if t.color {
		title = styleTitle.Render(title)
	}
	fmt.Fprintf(t.out, "%s: a simulated site %q on this machine\n", title, ep.Site)
	fmt.Fprintf(t.out, "  broker  %s, %s (CA %s)\n", ep.Broker.MQTT, ep.Broker.MQTTS, ep.Broker.CAFile)
	if ep.Gateway != nil {
		fmt.Fprintf(t.out, "  gateway publishes %d meters to %s every %s\n", len(ep.Gateway.Topics), ep.Gateway.TelemetryFilter, time.Duration(ep.Gateway.IntervalMS)*time.Millisecond)
	}
	fmt.Fprintln(t.out, "Each step runs a real ectool command against it, then says what it shows.")
}

func (t *tour) heading(n, total int, title string) {
	h := fmt.Sprintf("[%d/%d] %s", n, total, title)
	if t.color {
		h = styleTitle.Render(h)
	}
	fmt.Fprintf(t.out, "\n%s\n", h)
}

func (t *tour) verdict(s report.Status, explain, hint, skip string) {
	switch s {
	case report.OK:
		g := "✓"
		if t.color {
			g = styleOK.Render(g)
		}
		fmt.Fprintf(t.out, "%s %s\n", g, wrap(explain, 2))
	case report.Skipped:
		fmt.Fprintf(t.out, "- skipped: %s\n", skip)
	default:
		g := "✗ not as expected:"
		if t.color {
			g = styleFail.Render(g)
		}
		fmt.Fprintf(t.out, "%s %s\n", g, hint)
	}
}

// wrap folds text at about 78 columns, indenting continuation lines.
func wrap(text string, indent int) string {
	var b strings.Builder
	col := indent
	for i, w := range strings.Fields(text) {
		if i > 0 {
			if col+1+len(w) > 78 {
				b.WriteString("\n" + strings.Repeat(" ", indent))
				col = indent
			} else {
				b.WriteByte(' ')
				col++
			}
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}

// commandLine renders args as a command a person can paste into a shell.
func commandLine(args []string) string {
	parts := []string{"ectool"}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeScratch writes a file for a step into the lab directory (mode 0600).
func (t *tour) writeScratch(name, content string) (string, error) {
	p := filepath.Join(t.scratch, name)
	_ = os.Remove(p)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		return "", err
	}
	return p, nil
}

// waitSubscribed waits until the lab broker has a subscriber for topic.
func (t *tour) waitSubscribed(ctx context.Context, topic string, r *running) error {
	for t.site.Broker.Subscribers(topic) == 0 {
		select {
		case <-ctx.Done():
			return errors.New("the subscriber did not subscribe in time")
		case <-r.done:
			return errors.New("the subscriber ended before subscribing")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// lockedBuffer is a bytes.Buffer two writers may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
