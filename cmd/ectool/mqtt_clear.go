package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/mqtt"
)

// MQTTClearOptions are the inputs of `ectool mqtt clear-retained`.
type MQTTClearOptions struct {
	App     *App
	conn    mqttConnFlags
	Topics  []string
	Timeout time.Duration
	DryRun  bool

	// Clear is what the flags say, filled in by complete.
	Clear mqtt.ClearOptions
}

// NewCmdMQTTClearRetained builds `ectool mqtt clear-retained`.
func NewCmdMQTTClearRetained(app *App) *cobra.Command {
	return newCmdMQTTClearRetained(app, mqttClearRun)
}

func newCmdMQTTClearRetained(app *App, runF func(context.Context, *MQTTClearOptions) error) *cobra.Command {
	opts := &MQTTClearOptions{App: app}
	cmd := &cobra.Command{
		Use:   "clear-retained -t FILTER...",
		Short: "Remove the retained messages under topic filters, listing what was cleared",
		Long: `Subscribe to the filters, collect the retained messages the broker holds
(until none has arrived for 0.5s), and publish an empty retained message to each
topic, which makes the broker forget it. Lists every topic cleared, and every
topic the broker refused to clear (exit 1); a refusal does not stop the rest.`,
		Example: `  ectool mqtt clear-retained -b mqtt://localhost -t 'ectool/check/#'
  ectool mqtt clear-retained -b mqtt://localhost -t 'ec-data/site1/#' --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.complete(); err != nil {
				return err
			}
			return runF(cmd.Context(), opts)
		},
	}
	addMQTTConnFlags(cmd, &opts.conn)
	addTimeoutFlag(cmd, &opts.Timeout, 10*time.Second, "time allowed for each step: DNS, TCP, TLS, CONNECT, SUBSCRIBE, collecting, clearing")
	fs := cmd.Flags()
	fs.StringArrayVarP(&opts.Topics, "topic", "t", nil, "topic filter whose retained messages to clear (repeatable)")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "list the retained messages, clear nothing")
	return cmd
}

// complete checks every flag before any network I/O and fills opts.Clear.
func (opts *MQTTClearOptions) complete() error {
	o, err := opts.conn.options(opts.App)
	if err != nil {
		return err
	}
	if opts.Timeout <= 0 {
		return usageError("--timeout %s: want a positive duration such as 10s", opts.Timeout)
	}
	o.ConnectTimeout = opts.Timeout
	if len(opts.Topics) == 0 {
		return usageError("-t/--topic is required (a topic filter such as ectool/check/#)")
	}
	for _, f := range opts.Topics {
		if err := mqtt.ValidateFilter(f); err != nil {
			return usageError("-t/--topic: %v", err)
		}
	}
	opts.Clear = mqtt.ClearOptions{Options: o, Filters: opts.Topics, DryRun: opts.DryRun}
	return nil
}

func mqttClearRun(ctx context.Context, opts *MQTTClearOptions) error {
	app := opts.App
	o := opts.Clear
	rep := report.New("mqtt clear-retained", o.Broker, app.Now)
	res, err := mqtt.ClearRetained(ctx, o)
	if res.StillArriving {
		app.Warnf("retained messages kept arriving for %s: clearing those seen so far", opts.Timeout)
	}
	if res.CloseWarning != "" {
		app.Warnf("%s", res.CloseWarning)
	}
	if errors.Is(err, context.Canceled) && res.Subscribed && !res.Collected {
		return problem("", "interrupted before clearing")
	}
	res.Report(rep, err)
	rep.Finish()
	var werr error
	if app.JSON() {
		werr = app.printJSON(rep)
	} else {
		writeCleared(app, res, err)
	}
	if err != nil {
		e := mqttFailure(err, !res.Connected, mqtt.StepConnect)
		e.OnStdout = app.JSON() // the report tells it
		return e
	}
	return werr
}

// writeCleared lists, for a person, what was found and cleared (or would
// be, with --dry-run) and what the broker would not clear.
func writeCleared(app *App, res *mqtt.ClearResult, err error) {
	w := app.IO.Out
	filters := strings.Join(res.Filters, ", ")
	switch {
	case !res.Collected:
	case res.DryRun:
		for _, t := range res.Found {
			fmt.Fprintf(w, "retained %s (%d bytes)\n", t.Topic, t.Bytes)
		}
		fmt.Fprintf(w, "%d retained message(s) under %s; nothing cleared (--dry-run)\n", len(res.Found), filters)
	default:
		for _, t := range res.Cleared {
			fmt.Fprintf(w, "cleared %s (%d bytes)\n", t.Topic, t.Bytes)
		}
		for _, t := range res.NotCleared {
			fmt.Fprintf(w, "NOT cleared %s (%d bytes): %s\n", t.Topic, t.Bytes, t.Error)
		}
		if err != nil {
			fmt.Fprintf(w, "found %d retained message(s) under %s: %d cleared, %d not\n", len(res.Found), filters, len(res.Cleared), len(res.NotCleared))
		} else {
			fmt.Fprintf(w, "cleared %d retained message(s) under %s\n", len(res.Cleared), filters)
		}
	}
}
