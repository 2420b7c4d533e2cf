package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ecdata/ectool/capture"
)

// timeWindowFlags: --since and --until, a window over captured packets,
// for every command that reads captures (capture export, capture inspect).
// Each takes an RFC 3339 time or a duration counted back from the newest
// packet in the data, never from the wall clock: a copied ring is analysed
// days later. Parsing, checking and resolving are package capture's
// (capture.Window), so every command clips the same packets.
type timeWindowFlags struct {
	Since string
	Until string

	win capture.Window
}

// addTimeWindowFlags adds --since and --until.
func addTimeWindowFlags(cmd *cobra.Command, f *timeWindowFlags) {
	addGroup(cmd, "time-window", func(fs *pflag.FlagSet) {
		fs.StringVar(&f.Since, "since", "", "start of the window: an RFC 3339 time, or a duration (30s, 15m, 2h, 1d) before the newest packet in the data")
		fs.StringVar(&f.Until, "until", "", "end of the window (not included): an RFC 3339 time, or a duration before the newest packet in the data")
	})
}

// parse checks both bounds (a usage error names the flag).
func (f *timeWindowFlags) parse() error {
	var err error
	if f.win.Since, err = capture.ParseBound(f.Since); err != nil {
		return usageError("--since %v", err)
	}
	if f.win.Until, err = capture.ParseBound(f.Until); err != nil {
		return usageError("--until %v", err)
	}
	if err := f.win.Check(); err != nil {
		return usageError("%v", err)
	}
	return nil
}

// relative reports whether a bound needs the newest packet's time.
func (f *timeWindowFlags) relative() bool { return f.win.Relative() }

// window is the parsed window (parse first).
func (f *timeWindowFlags) window() capture.Window { return f.win }
