package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Main runs ectool with args and returns the exit code.
func Main(ctx context.Context, args []string, io *Streams) int {
	app := &App{IO: io, Output: "text", Now: time.Now, Getenv: os.Getenv}
	root := newRootCmd(app, args)
	root.SetArgs(args)
	var err error
	if e := mosquittoHost(root, args); e != nil {
		err = e
	} else {
		err = rewordRootError(root, root.ExecuteContext(ctx))
	}
	if err != nil && !app.JSON() && jsonAsked(root, args) {
		// A flag error stops parsing before a later -o json is read, and a
		// bad -o value never sets it: the caller still parses stdout.
		app.Output = "json"
	}
	return app.handleError(err)
}

// handleError prints err for a person (and, under -o json, as one error
// document on stdout unless stdout already tells it) and returns its exit
// code.
func (a *App) handleError(err error) int {
	ee := exitErrorOf(err)
	if ee == nil {
		return ExitOK
	}
	if ee.Reported {
		return ee.Code
	}
	if a.JSON() && !ee.OnStdout {
		writeErrorJSON(a.IO.Out, ee)
	}
	glyph := "error: "
	if a.errColor() {
		glyph = a.errStyles().fail.Render("✗") + " "
	}
	fmt.Fprintf(a.IO.ErrOut, "%s%s\n", glyph, ee.Error())
	if ee.Hint != "" {
		fmt.Fprintf(a.IO.ErrOut, "  next: %s\n", ee.Hint)
	}
	return ee.Code
}

// NewRootCmd builds the whole command tree.
func NewRootCmd(app *App) *cobra.Command { return newRootCmd(app, nil) }

// newRootCmd builds the tree for a run with args: a flag error reads the
// whole line (another tool's habit names its value: mbpoll's -b 19200).
func newRootCmd(app *App, args []string) *cobra.Command {
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
				if e := numericOutputError(cmd, app.Output); e != nil {
					return e
				}
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
		// 'mqtt chek -b URL': the command is what is wrong, not -b.
		if a := c.Flags().Args(); len(a) > 0 && commandLike(a[0]) &&
			(c.Annotations[groupOnly] != "" || suggestsCommand(c, a[0])) {
			return unknownCommand(c, a[0])
		}
		if e := habitError(c, args, err); e != nil {
			return e
		}
		if e := bareSeconds(err); e != nil {
			return e
		}
		// One line naming the flag (no second "next:" line: the flag is the next step).
		return &ExitError{Code: ExitUsage, Message: flagErrorWords(err)}
	})

	// Every command group of ectool: a new group is one line here.
	root.AddCommand(
		NewCmdMQTT(app),
		NewCmdScan(app),
		NewCmdModbus(app),
		NewCmdProbe(app),
		NewCmdCapture(app),
		NewCmdLab(app),
		NewCmdVersion(app),
		NewCmdDocs(app, root),
	)
	if app.IO != nil {
		// Before InitDefaultCompletionCmd: it captures the output writer.
		root.SetIn(app.IO.In)
		root.SetOut(app.IO.Out)
		root.SetErr(app.IO.ErrOut)
	}
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	rejectUnknownSubcommands(root)
	wordArgs(root)
	addCompletions(root)
	return root
}

// groupOnly marks a group that runs nothing of its own (mqtt, probe,
// modbus): called alone it prints its help.
const groupOnly = "ectool_group_only"

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
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[groupOnly] = "true"
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownCommand(cmd, args[0])
		}
		return cmd.Help()
	}
}

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
