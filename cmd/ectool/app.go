package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

// Exit codes fixed by CONVENTIONS.md.
const (
	ExitOK        = 0 // ran; nothing wrong found
	ExitProblem   = 1 // ran; a problem was found
	ExitUsage     = 2 // bad flag, argument or input file
	ExitCannotRun = 3 // permission, port missing or busy, I/O, unsupported OS
)

// Streams are the process's standard streams, injected so tests can read
// what a person would see.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutTTY and ErrTTY say whether stdout / stderr are terminals; InTTY
	// whether stdin is one (a person who can answer a question).
	OutTTY bool
	ErrTTY bool
	InTTY  bool
}

// DefaultStreams are os.Stdin/Stdout/Stderr.
func DefaultStreams() *Streams {
	return &Streams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		OutTTY: isatty.IsTerminal(os.Stdout.Fd()),
		ErrTTY: isatty.IsTerminal(os.Stderr.Fd()),
		InTTY:  isatty.IsTerminal(os.Stdin.Fd()),
	}
}

// App carries what every command shares: streams, global flags and the clock.
type App struct {
	IO      *Streams
	Output  string // "text" or "json"
	NoColor bool
	Verbose bool
	Now     func() time.Time
	Getenv  func(string) string
}

// JSON reports whether -o json was asked for.
func (a *App) JSON() bool { return a.Output == "json" }

// Color reports whether styled output may be used on stdout.
func (a *App) Color() bool {
	return a.IO.OutTTY && !a.NoColor && a.Getenv("NO_COLOR") == ""
}

// errColor reports whether styled output may be used on stderr.
func (a *App) errColor() bool {
	return a.IO.ErrTTY && !a.NoColor && a.Getenv("NO_COLOR") == ""
}

// Infof talks to the person on stderr.
func (a *App) Infof(format string, args ...any) {
	a.say("", format, args...)
}

// Warnf prints a warning on stderr ("! " glyph on a TTY, "warning: " when piped).
func (a *App) Warnf(format string, args ...any) {
	if a.errColor() {
		a.say(styleWarn.Render("!")+" ", format, args...)
		return
	}
	a.say("warning: ", format, args...)
}

// Debugf prints only with -v.
func (a *App) Debugf(format string, args ...any) {
	if a.Verbose {
		a.say("debug: ", format, args...)
	}
}

func (a *App) say(prefix, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	fmt.Fprint(a.IO.ErrOut, prefix+msg)
}

// ExitError ends a command with an exit code and a message for the person.
// Message says what failed and why; Hint says what to do next.
type ExitError struct {
	Code    int
	Message string
	Hint    string
	Err     error
	// Reported is set when the result was already rendered (a report with a
	// failed check): only the exit code is left to apply.
	Reported bool
	// OnStdout is set when, under -o json, stdout already tells this error
	// (a report with the failed step, a stream's closing error line): the
	// words still go to stderr, but no second JSON document to stdout.
	OnStdout bool
}

func (e *ExitError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("exit %d", e.Code)
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError is exit 2: a bad flag, argument or input file.
func usageError(format string, args ...any) *ExitError {
	return &ExitError{Code: ExitUsage, Message: fmt.Sprintf(format, args...)}
}

// problem is exit 1: ectool ran and found something wrong.
func problem(hint, format string, args ...any) *ExitError {
	return &ExitError{Code: ExitProblem, Message: fmt.Sprintf(format, args...), Hint: hint}
}

// cannotRun is exit 3: permission, missing or busy port, I/O, unsupported OS.
func cannotRun(hint, format string, args ...any) *ExitError {
	return &ExitError{Code: ExitCannotRun, Message: fmt.Sprintf(format, args...), Hint: hint}
}

// reported is the exit code of a result already rendered on stdout.
func reported(code int) error {
	if code == 0 {
		return nil
	}
	return &ExitError{Code: code, Reported: true}
}

// Main runs ectool with args and returns the exit code.
func Main(ctx context.Context, args []string, io *Streams) int {
	app := &App{IO: io, Output: "text", Now: time.Now, Getenv: os.Getenv}
	root := NewRootCmd(app)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && !app.JSON() && jsonAsked(root, args) {
		// A flag error stops parsing before a later -o json is read, and a
		// bad -o value never sets it: the caller still parses stdout.
		app.Output = "json"
	}
	return app.handleError(err)
}

// handleError prints err for a person and returns its exit code.
func (a *App) handleError(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if !errors.As(err, &ee) {
		// cobra's own errors: unknown command, bad flag, wrong arg count.
		ee = &ExitError{Code: ExitUsage, Message: err.Error(), Hint: "run 'ectool --help' (or the command with --help) for usage"}
	}
	if ee.Reported {
		return ee.Code
	}
	if a.JSON() && !ee.OnStdout {
		writeErrorJSON(a.IO.Out, ee)
	}
	glyph := "error: "
	if a.errColor() {
		glyph = styleFail.Render("✗") + " "
	}
	fmt.Fprintf(a.IO.ErrOut, "%s%s\n", glyph, ee.Error())
	if ee.Hint != "" {
		fmt.Fprintf(a.IO.ErrOut, "  next: %s\n", ee.Hint)
	}
	return ee.Code
}

// NewRootCmd builds the whole command tree.
func NewRootCmd(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:   "ectool",
		Short: "Field toolkit for IoT energy-monitoring sites: Modbus buses, modems and MQTT",
		Long: `ectool finds what breaks between a meter and the cloud: Modbus devices on an
RS-485 bus, the gateway's network path and the MQTT broker it publishes to.

Stdout is data, stderr is talk. Every command takes -o json; with it, a
failure without a report of its own (a usage error included) is one
{"error":{"message","hint","exit_code"}} document on stdout.
Exit codes: 0 nothing wrong found, 1 a problem found, 2 usage error,
3 could not run (permission, busy port, I/O).

No hardware at hand? 'ectool lab tour' starts a simulated site and walks
through it.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			switch app.Output {
			case "text", "json":
			default:
				return usageError("-o/--output must be text or json, not %q", app.Output)
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&app.Output, "output", "o", "text", "output format: text or json")
	pf.BoolVar(&app.NoColor, "no-color", false, "no colours or styles (also NO_COLOR)")
	pf.BoolVarP(&app.Verbose, "verbose", "v", false, "say more on stderr")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// One line naming the flag (no second "next:" line: the flag is the next step).
		return &ExitError{Code: ExitUsage, Message: flagErrorWords(err)}
	})

	root.AddCommand(NewCmdVersion(app))
	root.AddCommand(NewCmdDocs(app, root))
	for _, add := range commandGroups {
		root.AddCommand(add(app))
	}
	if app.IO != nil {
		// Before InitDefaultCompletionCmd: it captures the output writer.
		root.SetIn(app.IO.In)
		root.SetOut(app.IO.Out)
		root.SetErr(app.IO.ErrOut)
	}
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	rejectUnknownSubcommands(root)
	return root
}

// rejectUnknownSubcommands makes 'ectool mqtt typo' a usage error (exit 2)
// instead of cobra's help with exit 0, which would let a mistyped command
// pass in CI. A group called alone still prints its help.
func rejectUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		rejectUnknownSubcommands(sub)
	}
	if !c.HasSubCommands() || c == c.Root() {
		return
	}
	if c.Runnable() {
		if c.Args == nil {
			c.Args = cobra.NoArgs
		}
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return &ExitError{Code: ExitUsage,
				Message: fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath()),
				Hint:    fmt.Sprintf("run '%s --help' for its commands", cmd.CommandPath())}
		}
		return cmd.Help()
	}
}

// commandGroups are the command groups registered by their own files'
// init functions (mqtt.go, lab.go, scan.go, ...), so adding a group does not
// touch this file.
var commandGroups []func(*App) *cobra.Command

func registerGroup(f func(*App) *cobra.Command) { commandGroups = append(commandGroups, f) }

var invalidFlagValue = regexp.MustCompile(`^invalid argument "(.*)" for "(?:-(\w), )?--([\w-]+)" flag: (.*)$`)

// flagErrorWords rewrites pflag's parse errors ("strconv.ParseInt: parsing
// "x": invalid syntax") into words that name the flag and what it takes.
func flagErrorWords(err error) string {
	m := invalidFlagValue.FindStringSubmatch(err.Error())
	if m == nil {
		return err.Error()
	}
	value, short, long, why := m[1], m[2], m[3], m[4]
	name := "--" + long
	if short != "" {
		name = "-" + short + "/--" + long
	}
	want := ""
	switch {
	case strings.Contains(why, "time: "):
		want = "a duration such as 500ms, 5s or 2m"
	case strings.Contains(why, "ParseBool"):
		want = "true or false"
	case strings.Contains(why, "ParseFloat"):
		want = "a number"
	case strings.Contains(why, "value out of range"):
		want = "a smaller number"
	case strings.Contains(why, "ParseInt"), strings.Contains(why, "ParseUint"):
		want = "a whole number"
	default:
		return fmt.Sprintf("%s: %q is not valid: %s", name, value, why)
	}
	return fmt.Sprintf("%s: %q is not valid: give %s", name, value, want)
}
