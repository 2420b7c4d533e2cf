package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// Positional arguments and command names in words. Cobra says "accepts 1
// arg(s), received 0" and suggests a command only at the root; a
// technician reads what is missing, with an example, and the command they
// meant wherever they mistyped it. One pass over the tree (wordArgs) wraps
// every command's argument check, so no command carries its own copy.

// argNouns say what a placeholder of a Use line stands for.
var argNouns = map[string]string{
	"TARGET": "the bus: rtu:///dev/ttyUSB0 (or a device path, or COM12), tcp://host:502 or rtuovertcp://host:port",
}

// synonyms are names a technician may type for a command (mosquitto's
// tools, the verbs in full): cobra suggests the command for them.
var synonyms = map[string][]string{
	"ectool mqtt":     {"mosquitto_pub", "mosquitto_sub", "mosquitto"},
	"ectool modbus":   {"mbpoll", "modpoll"},
	"ectool mqtt pub": {"publish", "mosquitto_pub"},
	"ectool mqtt sub": {"subscribe", "mosquitto_sub"},
}

// wordArgs sets suggestions on every command (cobra's default offers none
// below the root) and wraps every argument check with words.
func wordArgs(c *cobra.Command) {
	for _, sub := range c.Commands() {
		wordArgs(sub)
	}
	c.SuggestionsMinimumDistance = 2
	c.SuggestFor = append(c.SuggestFor, synonyms[c.CommandPath()]...)
	if c == c.Root() || c.Args == nil {
		return
	}
	check := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 && suggestsCommand(cmd, args[0]) {
			return unknownCommand(cmd, args[0])
		}
		if err := check(cmd, args); err != nil {
			return argsError(cmd, args, err)
		}
		return nil
	}
}

// commandLike reports whether arg could be a mistyped command name rather
// than a target: no path, URL, host or COM port.
func commandLike(arg string) bool {
	return arg != "" && !strings.ContainsAny(arg, `/\:.`) && !comName.MatchString(arg)
}

var comName = regexp.MustCompile(`(?i)^com\d+$`)

// suggestsCommand reports whether arg reads like a mistyped subcommand of
// cmd ('scan snif', 'lab tuor').
func suggestsCommand(cmd *cobra.Command, arg string) bool {
	return cmd.HasSubCommands() && commandLike(arg) && len(cmd.SuggestionsFor(arg)) > 0
}

// unknownCommand is the usage error of a command name cmd does not have,
// naming the one(s) it is close to.
func unknownCommand(cmd *cobra.Command, arg string) *ExitError {
	msg := fmt.Sprintf("unknown command %q for %q", arg, cmd.CommandPath())
	if s := cmd.SuggestionsFor(arg); len(s) > 0 {
		for i := range s {
			s[i] = "'" + cmd.CommandPath() + " " + s[i] + "'"
		}
		msg += ": did you mean " + strings.Join(s, " or ") + "?"
	}
	return &ExitError{Code: ExitUsage, Message: msg,
		Hint: fmt.Sprintf("run '%s --help' for its commands", cmd.CommandPath())}
}

var cobraCount = regexp.MustCompile(`(?:accepts|at least|between) (\d+)(?: and \d+)? arg\(s\), (?:only )?received (\d+)`)

// argsError words the error of cmd's argument check.
func argsError(cmd *cobra.Command, args []string, err error) *ExitError {
	noun := placeholder(cmd)
	hint := exampleHint(cmd)
	missing := len(args) == 0
	if m := cobraCount.FindStringSubmatch(err.Error()); m != nil {
		want, _ := strconv.Atoi(m[1])
		got, _ := strconv.Atoi(m[2])
		missing = got < want
	}
	switch {
	case missing && noun != "":
		msg := fmt.Sprintf("%s needs a %s", cmd.CommandPath(), noun)
		if what := argNouns[noun]; what != "" {
			msg += ", " + what
		}
		return &ExitError{Code: ExitUsage, Message: msg, Hint: hint}
	case len(args) > 0 && noun == "" && cmd.HasSubCommands():
		return unknownCommand(cmd, args[0])
	case len(args) > 0 && noun == "":
		return &ExitError{Code: ExitUsage, Hint: hint,
			Message: fmt.Sprintf("%s takes no arguments, got %s (quote a value with spaces in it)", cmd.CommandPath(), quoteAll(args))}
	case len(args) > 0:
		return &ExitError{Code: ExitUsage, Hint: hint,
			Message: fmt.Sprintf("%s takes one %s, got %d arguments: %s", cmd.CommandPath(), noun, len(args), quoteAll(args))}
	}
	return &ExitError{Code: ExitUsage, Message: err.Error(), Hint: hint, Err: err}
}

// placeholder is the first positional placeholder of cmd's Use line
// ("scan TARGET" → TARGET), "" when it names none.
func placeholder(cmd *cobra.Command) string {
	f := strings.Fields(cmd.Use)
	if len(f) < 2 || strings.HasPrefix(f[1], "-") {
		return ""
	}
	p := strings.Trim(f[1], "[]().")
	if p == "" || strings.ToUpper(p) != p {
		return ""
	}
	return p
}

// exampleHint is the first line of cmd's examples, else its help.
func exampleHint(cmd *cobra.Command) string {
	for _, line := range strings.Split(cmd.Example, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return "for example: " + line
		}
	}
	return fmt.Sprintf("run '%s --help' for usage", cmd.CommandPath())
}

func quoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	return strings.Join(q, " ")
}

var cobraUnknownAtRoot = regexp.MustCompile(`^unknown command "(.*)" for "([^"]*)"`)

// rewordRootError gives cobra's own unknown-command error at the root
// (several lines, "Did you mean this?") the words of unknownCommand.
func rewordRootError(root *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	if m := cobraUnknownAtRoot.FindStringSubmatch(err.Error()); m != nil && m[2] == root.CommandPath() {
		return unknownCommand(root, m[1])
	}
	return err
}
