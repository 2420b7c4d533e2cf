package main

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/lab/tour"
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
it one by one, show each command line and its report, and explain in a few
words what it shows: retained telemetry, a publish/subscribe round trip with
sequence numbers, the broker check ladder, TLS trust, a wrong password, the
ACL refusing a topic, the gateway's Last Will, the lab's own capture ring and
capture inspect, the RS-485 bus (a collision, a gateway, the wrong baud rate,
--auto-detect, --id-register), a meter read with its profile and one whose
word order contradicts its manual, and a modem with the wrong APN.

Each command runs with -o json and the tour judges its report, never its
text. Some steps are meant to fail (a wrong password, an untrusted CA): a
step behaves as expected when the command shows what it should. The tour
ends with a summary and exits 0 when every step behaved as expected, 1
otherwise. With -o json the walk-through goes to stderr and a report with
one check per step (tour.<step>) to stdout. No root needed.`,
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
		var tb *tour.TestBinaryError
		if exe, err = tour.Executable(); errors.As(err, &tb) {
			return cannotRun("tests run the tour with labTourOptions.Executable set to a built ectool", "%v", err)
		} else if err != nil {
			return cannotRun("run the tour from an installed ectool binary", "%v", err)
		}
	}
	site, err := startLab(ctx, cfg)
	if err != nil {
		return err
	}
	defer site.Stop()

	n := newTourNarrator(app)
	n.intro(&site.Endpoints)
	res, err := tour.Run(ctx, tour.Options{Site: site, Executable: exe, Timeout: opts.Timeout, Narrator: n, Now: app.Now})
	if err != nil {
		return err
	}
	n.summary(res)
	r := res.Report
	if !app.JSON() {
		// The walk-through showed every command and what the tour found:
		// the closing report lists the verdicts only.
		for i := range r.Checks {
			r.Checks[i].Evidence = nil
		}
	}
	if err := app.renderReport(r); err != nil {
		return err
	}
	if res.Interrupted {
		app.Warnf("the tour was interrupted: not every step ran")
		return reported(ExitProblem)
	}
	return reported(r.ExitCode(false))
}
