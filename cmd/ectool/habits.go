package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Flags from other tools' habits. A technician arrives with mosquitto's
// and mbpoll's flags in their fingers; ectool answers an unknown flag with
// the ectool form in words (exit 2). This lives in the flag-error path
// only: registering those flags, even hidden, would give one name two
// meanings (-b is the broker on mqtt, the baud rate in mbpoll).

// habit is one flag of another tool.
type habit struct {
	tool  string // "mosquitto" or "mbpoll"
	short string // its shorthand letter ("" for none)
	long  string // its long name ("" for none)
	value bool   // it takes a value
	// secret: the value is never said back (mosquitto's -P password).
	secret bool
	// needs is an ectool flag the words name: the habit answers only on a
	// command that has it ("" for any command of the tool's family).
	needs string
	// say gives the ectool form ("--baud 19200"), or a whole sentence
	// when it starts with "!".
	say func(h habitUse) string
}

// habitUse is a habit as typed: its value and the rest of the line.
type habitUse struct {
	cmd   *cobra.Command
	given string // as typed: "-b 19200"
	value string // "" when missing
	args  []string
}

// or is value, or def when the value is missing.
func (u habitUse) or(def string) string {
	if u.value == "" {
		return def
	}
	return u.value
}

// family says whose habits a command meets: mosquitto's where a broker is
// given, mbpoll's where a bus is.
func family(cmd *cobra.Command) string {
	switch {
	case cmd.Flags().Lookup("broker") != nil:
		return "mosquitto"
	case cmd.Flags().Lookup("baud") != nil:
		return "mbpoll"
	}
	return ""
}

// habitError words an unknown flag that is another tool's habit; nil when
// it is not one.
func habitError(cmd *cobra.Command, args []string, err error) *ExitError {
	var ne *pflag.NotExistError
	tool := family(cmd)
	if tool == "" || !errors.As(err, &ne) {
		return nil
	}
	name, cluster := ne.GetSpecifiedName(), ne.GetSpecifiedShortnames()
	for _, h := range habits {
		if h.tool != tool || (h.needs != "" && cmd.Flags().Lookup(h.needs) == nil) {
			continue
		}
		var u habitUse
		switch {
		case cluster != "" && h.short == name:
			u = shortUse(args, cluster, name, h.value)
		case cluster == "" && h.long == name:
			u = longUse(args, name, h.value)
		default:
			continue
		}
		u.cmd, u.args = cmd, args
		if h.secret {
			u.given, _, _ = strings.Cut(u.given, " ")
		}
		form := h.say(u)
		// "the form (why)" reads "is the form here (why)".
		head, why, _ := strings.Cut(form, " (")
		if why != "" {
			why = " (" + why
		}
		msg := fmt.Sprintf("%s's %s is %s here%s", tool, u.given, head, why)
		if strings.HasPrefix(form, "!") {
			msg = fmt.Sprintf("%s's %s: %s", tool, u.given, form[1:])
		}
		return &ExitError{Code: ExitUsage, Message: msg,
			Hint: fmt.Sprintf("ectool names its settings its own way: run '%s --help' for its flags", cmd.CommandPath())}
	}
	return nil
}

// shortUse finds -X in args (alone or ending a cluster such as -vX, or
// with its value attached: -b19200) and its value.
func shortUse(args []string, cluster, letter string, takesValue bool) habitUse {
	u := habitUse{given: "-" + letter}
	if !takesValue {
		return u
	}
	if i := strings.Index(cluster, letter); i >= 0 && i+1 < len(cluster) {
		u.value = strings.TrimPrefix(cluster[i+1:], "=")
	} else {
		u.value = valueAfter(args, "-"+cluster)
	}
	if u.value != "" {
		u.given += " " + u.value
	}
	return u
}

// longUse finds --name or --name=value in args and its value.
func longUse(args []string, name string, takesValue bool) habitUse {
	u := habitUse{given: "--" + name}
	if !takesValue {
		return u
	}
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			u.value = v
			break
		}
	}
	if u.value == "" {
		u.value = valueAfter(args, "--"+name)
	}
	if u.value != "" {
		u.given += " " + u.value
	}
	return u
}

// valueAfter is the argument after the first token, if it is not a flag.
func valueAfter(args []string, token string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		if a == token && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			return args[i+1]
		}
	}
	return ""
}

// flagUse finds a habit flag's value elsewhere on the line (mbpoll's -t
// beside -r): the value after -X or --long, or attached to -X.
func flagUse(args []string, short string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		if a == "-"+short && i+1 < len(args) {
			return args[i+1]
		}
		if strings.HasPrefix(a, "-"+short) && len(a) > 2 && !strings.HasPrefix(a, "--") {
			return strings.TrimPrefix(a[2:], "=")
		}
	}
	return ""
}

func hasFlag(args []string, token string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == token {
			return true
		}
	}
	return false
}

// seconds is a number of seconds (mosquitto's -k 60, mbpoll's -o 0.5) as
// an ectool duration ("60s", "500ms"); "" when v is not a number.
func seconds(v string) string {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 || f > 1e6 {
		return ""
	}
	d := time.Duration(f * float64(time.Second)).Round(time.Millisecond)
	if d >= time.Second && d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second) // 60s, as typed, not 1m0s
	}
	return d.String()
}

// numericOutputError is the error of -o NUMBER where the command has a
// --timeout: on a bus command, mbpoll's timeout in seconds; else nil.
func numericOutputError(cmd *cobra.Command, v string) *ExitError {
	d := seconds(v)
	if d == "" || cmd.Flags().Lookup("timeout") == nil {
		return nil
	}
	if family(cmd) != "mbpoll" {
		return &ExitError{Code: ExitUsage, Message: fmt.Sprintf("-o/--output must be text or json, not %q", v),
			Hint: fmt.Sprintf("-o is the output format; a timeout is --timeout %s", d)}
	}
	return &ExitError{Code: ExitUsage,
		Message: fmt.Sprintf("mbpoll's -o %s is --timeout %s here (ectool's -o/--output is the output format: text or json)", v, d),
		Hint:    fmt.Sprintf("run '%s --help' for what --timeout bounds", cmd.CommandPath())}
}

// mosquittoHost catches mosquitto's -h HOST on an mqtt command before
// cobra reads -h as help (exit 0, and the broker never asked): -h followed
// by a word that is no flag, or the host attached (-h=HOST, -hHOST). -h
// alone stays help, and so does -h combined with ectool's own one-letter
// switches (-hv).
func mosquittoHost(root *cobra.Command, args []string) *ExitError {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil || family(cmd) != "mosquitto" || !strings.HasPrefix(cmd.CommandPath(), "ectool mqtt ") {
		return nil // probe net -h stays help: its targets are words too
	}
	for i := 0; i < len(args); i++ {
		if args[i] == "--" {
			return nil
		}
		if i > 0 && takesValue(cmd, args[i-1]) {
			continue // -m -h is a message
		}
		host := attachedHost(cmd, args[i])
		if args[i] == "-h" && i+1 < len(args) {
			host = args[i+1]
		}
		if host == "" || strings.HasPrefix(host, "-") {
			continue
		}
		port := flagUse(args, "p")
		if port == "" || strings.HasPrefix(port, "-") {
			port = "1883"
		}
		return &ExitError{Code: ExitUsage,
			Message: fmt.Sprintf("mosquitto's -h host is -b mqtt://%s:%s here (ectool's -h is help)", host, port),
			Hint:    "give the broker as a URL: mqtt://HOST:1883, mqtts://HOST:8883 for TLS, ws:// or wss:// for WebSocket (or set ECTOOL_MQTT_BROKER)"}
	}
	return nil
}

// attachedHost is the host of -h=HOST or -hHOST, "" for any other token
// and for -h followed by cmd's own one-letter switches (-hv: help, verbose).
func attachedHost(cmd *cobra.Command, token string) string {
	rest, ok := strings.CutPrefix(token, "-h")
	if !ok || rest == "" || strings.HasPrefix(token, "--") {
		return ""
	}
	if host, ok := strings.CutPrefix(rest, "="); ok {
		return host
	}
	for _, c := range rest {
		f := cmd.Flags().ShorthandLookup(string(c))
		if f == nil {
			f = cmd.InheritedFlags().ShorthandLookup(string(c))
		}
		if f == nil || f.NoOptDefVal == "" {
			return rest
		}
	}
	return ""
}

// takesValue reports whether token is a flag of cmd that takes the next
// argument as its value.
func takesValue(cmd *cobra.Command, token string) bool {
	var f *pflag.Flag
	switch {
	case strings.HasPrefix(token, "--") && !strings.Contains(token, "="):
		f = cmd.Flags().Lookup(token[2:])
		if f == nil {
			f = cmd.InheritedFlags().Lookup(token[2:])
		}
	case len(token) == 2 && token[0] == '-':
		f = cmd.Flags().ShorthandLookup(token[1:])
		if f == nil {
			f = cmd.InheritedFlags().ShorthandLookup(token[1:])
		}
	}
	return f != nil && f.NoOptDefVal == ""
}

// bareSeconds words a duration flag given a bare number of seconds
// (mosquitto's --keepalive 60, a timeout typed as mbpoll takes it): the
// unit it lacks, nil for any other error.
func bareSeconds(err error) *ExitError {
	var ie *pflag.InvalidValueError
	if !errors.As(err, &ie) || ie.GetFlag() == nil || ie.GetFlag().Value.Type() != "duration" {
		return nil
	}
	v := strings.TrimSpace(ie.GetValue())
	d := seconds(v)
	if d == "" {
		return nil
	}
	f := ie.GetFlag()
	name := "--" + f.Name
	if f.Shorthand != "" {
		name = "-" + f.Shorthand + "/" + name
	}
	return &ExitError{Code: ExitUsage,
		Message: fmt.Sprintf("%s %s has no unit: give %s for %s seconds (or ms, m, h)", name, v, d, v)}
}
