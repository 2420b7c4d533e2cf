package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/capture"
	"github.com/ecdata/ectool/diag/exitcode"
	"github.com/ecdata/ectool/diag/report"
)

// openRingDir opens a ring directory named with --dir: missing is a usage
// error (an input named on the command line), unreadable is exit 3.
func openRingDir(dir string) (*capture.Ring, error) {
	if dir == "" {
		return nil, usageError("--dir: name the ring directory")
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, usageError("--dir %s: no such directory", dir)
	}
	r, err := capture.OpenRing(dir)
	if err != nil {
		return nil, cannotRun("check that this user may read "+dir+" (captures are 0700: use the capture's user or root)", "%v", err)
	}
	return r, nil
}

// CaptureLsOptions are the inputs of `ectool capture ls`.
type CaptureLsOptions struct {
	App *App
	Dir string
}

// NewCmdCaptureLs builds `ectool capture ls`.
func NewCmdCaptureLs(app *App) *cobra.Command {
	opts := &CaptureLsOptions{App: app}
	cmd := &cobra.Command{
		Use:   "ls --dir DIR",
		Short: "List a capture ring's files: sequence, first and last packet, packets, bytes, torn records",
		Long: `ls reads every file of the ring in DIR in sequence order and lists its first and
last packet time, packets, bytes and any torn final record (a power cut or a
kill in the middle of a write: the whole records before it are kept). A file
that starts before the previous one ended is flagged (the clock was set back).`,
		Example: `  ectool capture ls --dir /var/lib/ectool/capture
  ectool capture ls --dir ring -o json | jq '.details.files[] | select(.torn)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return captureLsRun(opts) },
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "ring directory")
	return cmd
}

func captureLsRun(opts *CaptureLsOptions) error {
	app := opts.App
	r, err := openRingDir(opts.Dir)
	if err != nil {
		return err
	}
	sums := r.Summarize()
	first, last, packets := capture.Span(sums)
	if app.JSON() {
		rep := report.New("capture ls", opts.Dir, app.Now)
		rep.SetDetail("dir", opts.Dir)
		rep.SetDetail("files", sums)
		rep.SetDetail("packets", packets)
		if packets > 0 {
			rep.SetDetail("first", report.FormatTime(first))
			rep.SetDetail("last", report.FormatTime(last))
		}
		rep.Finish()
		return app.printJSON(rep)
	}
	tw := tabwriter.NewWriter(app.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tFILE\tFIRST\tLAST\tPACKETS\tBYTES\tNOTE")
	for _, s := range sums {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%s\n", s.Seq, s.Name, shortTime(s.First), shortTime(s.Last), s.Packets, s.Size, fileNote(s))
	}
	tw.Flush()
	if packets > 0 {
		fmt.Fprintf(app.IO.Out, "%d files, %d packets from %s to %s\n", len(sums), packets, textTime(first), textTime(last))
	} else {
		fmt.Fprintf(app.IO.Out, "%d files, no packets\n", len(sums))
	}
	return nil
}

func shortTime(t time.Time) string { return textTime(t) }

func fileNote(s capture.FileSummary) string {
	var notes []string
	if s.Torn != nil {
		notes = append(notes, s.Torn.String())
	}
	if s.ClockStep {
		notes = append(notes, "starts before the previous file ends (clock step)")
	}
	if s.Error != "" {
		notes = append(notes, s.Error)
	}
	return strings.Join(notes, "; ")
}

// CaptureStatusOptions are the inputs of `ectool capture status`.
type CaptureStatusOptions struct {
	App *App
	Dir string
}

// NewCmdCaptureStatus builds `ectool capture status`.
func NewCmdCaptureStatus(app *App) *cobra.Command {
	opts := &CaptureStatusOptions{App: app}
	cmd := &cobra.Command{
		Use:   "status --dir DIR",
		Short: "Check a capture ring: a live writer, a fresh status, kernel drops, disk room",
		Long: `status checks the ring in DIR:
  capture.running  a live process holds the lock on DIR/.lock
  capture.fresh    DIR/status.json is at most 3 x the writer's --flush old (on this
                   boot's clock, so a clock step never makes a live ring look stale)
  capture.drops    kernel drops over the span the ring holds: warning above 0,
                   failed above 1 %
  capture.disk     the ring is within files x file-size and one more file fits

Exit 1 when no live capture writes the ring, its status is stale, or drops
are over 1 %; 2 when DIR is missing.`,
		Example: `  ectool capture status --dir /var/lib/ectool/capture
  ectool capture status --dir ring -o json | jq .first_failure`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return captureStatusRun(opts) },
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "ring directory")
	return cmd
}

func captureStatusRun(opts *CaptureStatusOptions) error {
	app := opts.App
	r, err := openRingDir(opts.Dir)
	if err != nil {
		return err
	}
	rep := report.New("capture status", opts.Dir, app.Now)
	capture.CheckRing(r, app.Now()).Report(rep)
	rep.Finish()
	if err := app.renderReport(rep); err != nil {
		return err
	}
	return reported(rep.ExitCode(false))
}

// CaptureExportOptions are the inputs of `ectool capture export`.
type CaptureExportOptions struct {
	App    *App
	Dir    string
	Write  string
	Window timeWindowFlags
}

// NewCmdCaptureExport builds `ectool capture export`.
func NewCmdCaptureExport(app *App) *cobra.Command {
	opts := &CaptureExportOptions{App: app}
	cmd := &cobra.Command{
		Use:   "export --dir DIR -w FILE [--since T] [--until T]",
		Short: "Merge a capture ring by time into one file, clipped to a window",
		Long: `export merges every file of the ring in DIR by packet time (like mergecap) and
writes the packets of the window [--since, --until) to -w FILE (like editcap
-A/-B): pcapng, or classic pcap when FILE ends in .pcap. A duration counts back
from the newest packet in the ring, not from now: a copied ring is analysed
days later. Torn final records are reported and skipped.

Exit 1 when the window holds no packet (the message names the span the ring
holds); 2 on a bad window, a missing DIR, or a .pcap FILE for a window that
holds two link types (write pcapng); 3 when FILE cannot be written.`,
		Example: `  ectool capture export --dir /var/lib/ectool/capture --since 30m -w incident.pcapng
  ectool capture export --dir ring --since 2026-12-02T02:55:00Z --until 2026-12-02T03:10:00Z -w night.pcapng`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Write == "" {
				return usageError("-w/--write: name the file to write (incident.pcapng)")
			}
			if err := opts.Window.parse(); err != nil {
				return err
			}
			return captureExportRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "ring directory")
	addWriteFlag(cmd, &opts.Write, "file to write (pcapng; classic pcap when it ends in .pcap)")
	addTimeWindowFlags(cmd, &opts.Window)
	return cmd
}

func captureExportRun(opts *CaptureExportOptions) error {
	app := opts.App
	r, err := openRingDir(opts.Dir)
	if err != nil {
		return err
	}
	format := capture.FormatPcapng
	if strings.HasSuffix(strings.ToLower(opts.Write), ".pcap") {
		format = capture.FormatPcap
	}
	res, err := capture.Export(r, opts.Window.window(), opts.Write, format)
	switch {
	case errors.Is(err, capture.ErrEmptyWindow):
		span := "no packets at all"
		if res.RingPackets > 0 {
			span = fmt.Sprintf("%d packets from %s to %s", res.RingPackets, report.FormatTime(res.RingFirst), report.FormatTime(res.RingLast))
		}
		return exitAs(err, exitcode.KindProblem, fmt.Sprintf("no packet in the window %s: the ring holds %s", windowText(res), span),
			"choose a window inside what the ring holds (ectool capture ls --dir "+opts.Dir+")")
	case errors.Is(err, capture.ErrMixedLinkTypes):
		return usageError("-w %s: %v (a .pcapng name)", opts.Write, err)
	case err != nil:
		return exitAs(err, exitcode.KindCannotRun, fmt.Sprintf("export to %s: %v", opts.Write, err),
			"check that "+filepath.Dir(opts.Write)+" is writable and has room")
	}
	rep := report.New("capture export", opts.Dir, app.Now)
	rep.SetDetail("export", res)
	rep.Finish()
	if app.JSON() {
		return app.printJSON(rep)
	}
	fmt.Fprintf(app.IO.Out, "wrote %d packets (%s to %s) from %d files to %s\n", res.Packets,
		textTime(res.First), textTime(res.Last), res.Files, res.Path)
	for _, t := range res.Torn {
		app.Warnf("%s: %s", filepath.Base(t.File), t.Torn.String())
	}
	return nil
}

func windowText(res *capture.ExportResult) string {
	from, to := "the start", "the end"
	if !res.From.IsZero() {
		from = report.FormatTime(res.From)
	}
	if !res.To.IsZero() {
		to = report.FormatTime(res.To)
	}
	return "[" + from + ", " + to + ")"
}
