package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// seamRun runs one command, built by its constructor, in-process with fake
// streams (stdin from the string, stdout and stderr captured), the way
// cli/cli tests every command: flags, the run function the constructor was
// given (the real one, or a recorder of the options it got) and the one
// error mapping (App.handleError), without building a binary. "-o json"
// among args sets the App's output, the root's persistent flag.
func seamRun(t *testing.T, build func(*App) *cobra.Command, stdin string, args ...string) (out, errOut string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	app := &App{IO: &Streams{In: strings.NewReader(stdin), Out: &o, ErrOut: &e}, Output: "text", Now: time.Now,
		Getenv: func(string) string { return "" }}
	var rest []string
	for i := 0; i < len(args); i++ {
		if args[i] == "-o" && i+1 < len(args) {
			app.Output = args[i+1]
			i++
			continue
		}
		rest = append(rest, args[i])
	}
	cmd := build(app)
	cmd.SetArgs(rest)
	cmd.SetIn(app.IO.In)
	cmd.SetOut(&o)
	cmd.SetErr(&e)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = app.handleError(cmd.ExecuteContext(ctx))
	return o.String(), e.String(), code
}

// recordOptions is a runF that keeps the options it was called with.
func recordOptions[O any](got **O) func(context.Context, *O) error {
	return func(_ context.Context, o *O) error {
		*got = o
		return nil
	}
}
