package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/capture"
	"github.com/ecdata/ectool/diag/exitcode"
	"github.com/ecdata/ectool/diag/report"
)

// CaptureOptions are the inputs of `ectool capture`.
type CaptureOptions struct {
	App *App

	Ifaces       []string
	Dir          string
	Ports        []uint16
	Hosts        []string
	Filter       string
	FileSize     int64
	Files        int
	FileDuration time.Duration
	Snaplen      int
	Format       string
	Flush        time.Duration
	Fsync        time.Duration
	Buffer       int64
	RunAs        string
	WaitIface    bool

	// Live is what the flags say, filled in before run.
	Live capture.LiveOptions
}

// NewCmdCapture builds `ectool capture` and its subcommands.
func NewCmdCapture(app *App) *cobra.Command {
	return newCmdCapture(app, captureRun)
}

func newCmdCapture(app *App, runF func(context.Context, *CaptureOptions) error) *cobra.Command {
	opts := &CaptureOptions{App: app}
	cmd := &cobra.Command{
		Use:   "capture --iface IF --dir DIR",
		Short: "Keep an always-on, bounded ring of MQTT traffic on disk (pcapng), and read it back",
		Long: `Capture records the traffic of one or more interfaces into a ring of pcapng
files in DIR, until Ctrl-C or SIGTERM: at most --files files of at most
--file-size each, the oldest deleted before a new one opens, so the ring never
holds more than files x file-size (plus one --snaplen). Files are named
<prefix>_<seq>_<UTC time>.pcapng and ordered by sequence; a restart continues
the sequence. Packets reach the file every --flush and the disk (fsync) every
--fsync and at each rotation. DIR is created 0700; files are 0600.

By default only MQTT's ports are kept (--ports 1883,8883); --host narrows that
to some addresses. --filter EXPR is taken as written, without the default
ports (give --ports as well to keep them); all parts given are joined with
"and". --filter takes host, port, tcp, udp, ip, ip6, src/dst, and/or/not and
parentheses (compiled without libpcap: "portrange" and the like are refused).

--iface any records every interface as LINUX_SLL2. A missing interface is an
error unless --wait-iface (for a modem that appears after boot); an interface
that vanishes is reopened when it returns.

Capturing needs CAP_NET_RAW: run as root, give the binary the capability
(setcap cap_net_raw+ep), or start as root with --run-as USER, which keeps only
CAP_NET_RAW. scripts/systemd/ectool-capture.service runs it as a service.

'capture status' checks a running ring, 'capture ls' lists its files,
'capture export' cuts a window out of it and 'capture inspect' explains the
MQTT in it. Their DIR may also be a lab directory (its ring, DIR/capture) or
a directory of captures copied off a gateway.

Exit 0 at the normal end; 2 on bad flags or a filter ectool cannot compile;
3 without CAP_NET_RAW, with a missing interface, an unwritable DIR, a ring
another capture writes, or on an OS other than Linux.`,
		Example: `  ectool capture --iface eth0 --dir /var/lib/ectool/capture
  ectool capture --iface wwan0 --iface eth0 --dir ring --ports 1883,8883 --file-size 4MiB --files 32
  ectool capture --iface any --dir ring --filter 'host 10.0.0.5 and not port 8883'
  sudo ectool capture --iface eth0 --dir /srv/ring --run-as ectool --wait-iface`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The default ports are the default filter: --filter alone is
			// taken as written; --ports given explicitly always applies.
			if opts.Filter != "" && !cmd.Flags().Changed("ports") {
				opts.Ports = nil
			}
			if err := opts.complete(); err != nil {
				return err
			}
			return runF(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&opts.Ifaces, "iface", nil, "network interface (repeat for several; any = all, as LINUX_SLL2)")
	fs.StringVar(&opts.Dir, "dir", "", "ring directory (created 0700 when missing)")
	addPortsFlag(cmd, &opts.Ports, []uint16{1883, 8883}, "TCP/UDP ports to keep, comma separated (the MQTT ports; not applied to --filter unless given)")
	fs.StringArrayVar(&opts.Hosts, "host", nil, "keep only traffic to or from this address (repeat for several)")
	fs.StringVar(&opts.Filter, "filter", "", "capture filter: host, port, tcp, udp, ip, ip6, src/dst, and/or/not, parentheses")
	opts.FileSize, opts.Files, opts.Buffer = 8<<20, 16, 4<<20
	fs.Var(byteSize{&opts.FileSize}, "file-size", "most bytes per file (KiB, MiB, GiB)")
	fs.Var(wholeNumber{&opts.Files, "a number of files such as 16"}, "files", "most files kept: the oldest goes before a new one opens")
	fs.Var(wordedDuration{&opts.FileDuration, "10m or 1h (0 for none)"}, "file-duration", "start a new file for the first packet this long after the current one opened (0: by size only)")
	opts.Snaplen = capture.DefaultSnaplen
	fs.Var(wholeNumber{&opts.Snaplen, "a number of bytes such as 262144"}, "snaplen", "bytes kept of each packet")
	fs.StringVar(&opts.Format, "pcap-format", "pcapng", "file format: pcapng (one interface block each) or pcap (one link type only)")
	opts.Flush, opts.Fsync = time.Second, 30*time.Second
	fs.Var(wordedDuration{&opts.Flush, "1s"}, "flush", "write buffered packets to the file (and rewrite status.json) this often")
	fs.Var(wordedDuration{&opts.Fsync, "30s"}, "fsync", "make the file durable (fsync) this often, and at every rotation")
	fs.Var(byteSize{&opts.Buffer}, "buffer", "kernel receive buffer per interface (KiB, MiB)")
	fs.StringVar(&opts.RunAs, "run-as", "", "started as root: switch to this user, keeping only CAP_NET_RAW")
	fs.BoolVar(&opts.WaitIface, "wait-iface", false, "wait for a missing interface instead of failing (modems appear after boot)")
	cmd.AddCommand(NewCmdCaptureLs(app), NewCmdCaptureStatus(app), NewCmdCaptureExport(app), NewCmdCaptureInspect(app))
	return cmd
}

// complete validates the flags (exit 2, before any I/O but the link-type
// lookup --pcap-format pcap needs).
func (opts *CaptureOptions) complete() error {
	if len(opts.Ifaces) == 0 {
		return usageError("--iface: name at least one interface (eth0, wwan0, lo, or any)")
	}
	if opts.Dir == "" {
		return usageError("--dir: name the ring directory (created 0700 when missing)")
	}
	if opts.Snaplen < 64 || opts.Snaplen > capture.DefaultSnaplen {
		return usageError("--snaplen %d: want 64 to %d bytes", opts.Snaplen, capture.DefaultSnaplen)
	}
	if opts.Flush <= 0 || opts.Fsync <= 0 {
		return usageError("--flush and --fsync want positive durations such as 1s and 30s")
	}
	if opts.Buffer < 0 || opts.Buffer > 1<<30 {
		return usageError("--buffer %s: want up to 1GiB", formatSize(opts.Buffer))
	}
	if _, err := capture.ParseFilter(opts.Filter); err != nil {
		return usageError("%v", err)
	}
	expr := capture.BuildFilter(opts.Ports, opts.Hosts, opts.Filter)
	if _, err := capture.ParseFilter(expr); err != nil {
		return usageError("%v", err)
	}
	ring := capture.RingOptions{Dir: opts.Dir, Format: opts.Format, FileSize: opts.FileSize, Files: opts.Files,
		FileDuration: opts.FileDuration, Flush: opts.Flush, Fsync: opts.Fsync, Clock: opts.App.Now}
	probe := ring
	for _, name := range opts.Ifaces {
		probe.Interfaces = append(probe.Interfaces, capture.IfaceSpec{Name: name, LinkType: capture.LinkEthernet, Snaplen: uint32(opts.Snaplen), Filter: expr})
	}
	if err := probe.Validate(); err != nil {
		return usageError("%v", err)
	}
	if opts.Format == capture.FormatPcap && len(opts.Ifaces) > 1 {
		if err := sameLinkType(opts.Ifaces); err != nil {
			return err
		}
	}
	opts.Live = capture.LiveOptions{Ifaces: opts.Ifaces, Filter: expr, Snaplen: uint32(opts.Snaplen), Buffer: int(opts.Buffer),
		WaitIface: opts.WaitIface, Ring: ring}
	return nil
}

// sameLinkType refuses --pcap-format pcap over interfaces that record
// different link types (exit 2).
func sameLinkType(ifaces []string) error {
	first, err := capture.LinkTypeOf(ifaces[0])
	if err != nil {
		return nil // the capture itself says what is wrong with it
	}
	for _, name := range ifaces[1:] {
		lt, err := capture.LinkTypeOf(name)
		if err == nil && lt != first {
			return usageError("--pcap-format pcap holds one link type, but %s is %s and %s is %s: use pcapng", ifaces[0], capture.LinkTypeName(first), name, capture.LinkTypeName(lt))
		}
	}
	return nil
}

func captureRun(ctx context.Context, opts *CaptureOptions) error {
	app := opts.App
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.RunAs != "" {
		if err := capture.RunAs(opts.RunAs); err != nil {
			return captureFailure(err)
		}
	}
	o := opts.Live
	o.Warn = func(s string) { app.Warnf("%s", s) }
	o.Ready = func() {
		if app.IO.ErrTTY && !app.JSON() {
			app.Infof("capturing on %s into %s (Ctrl-C to stop)", strings.Join(o.Ifaces, ", "), o.Ring.Dir)
		}
	}
	res, err := capture.Live(ctx, o)
	if err != nil && res == nil {
		return captureFailure(err)
	}
	rep := report.New("capture", strings.Join(o.Ifaces, ","), app.Now)
	rep.Add(runDropsCheck(res))
	rep.SetDetail("capture", res)
	rep.Finish()
	if !app.JSON() {
		writeCaptureSummary(app, res)
	}
	if rerr := app.renderReport(rep); rerr != nil {
		return rerr
	}
	if err != nil {
		return captureFailure(err)
	}
	return reported(rep.ExitCode(false))
}

// runDropsCheck is capture.drops for this run: a warning at most, since
// the capture itself ran as asked.
func runDropsCheck(res *capture.LiveResult) report.Check {
	c := report.Check{ID: capture.CheckDrops, Title: "the kernel dropped no packet during this capture", Status: report.OK,
		Evidence: map[string]any{"kernel_dropped": res.DropsText(), "packets": res.Packets, "disk_drops": res.DiskDrops}}
	switch d := res.DropsText(); {
	case d == "unavailable":
		c.Status, c.Hint = report.Warning, "the kernel's drop counters are unavailable here (SOL_PACKET options refused, e.g. under qemu-user)"
	case d != "0":
		c.Status, c.Hint = report.Warning, "the kernel dropped packets: raise --buffer or narrow --filter"
	case res.DiskDrops > 0:
		c.Status, c.Hint = report.Warning, "packets were lost to a full disk: free space or lower --files/--file-size"
	}
	return c
}

func writeCaptureSummary(app *App, res *capture.LiveResult) {
	w := app.IO.Out
	fmt.Fprintf(w, "captured %d packets (%d bytes) into %s in %s: %d file(s), kernel drops %s\n",
		res.Packets, res.Bytes, res.Dir, res.Duration.Round(time.Millisecond), len(res.Files), res.DropsText())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IFACE\tLINK\tPACKETS\tBYTES\tKERNEL RECEIVED\tKERNEL DROPPED\tREOPENED")
	for _, in := range res.Interfaces {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%d\n", in.Name, in.LinkType, in.Packets, in.Bytes, counter(in.KernelReceived), counter(in.KernelDropped), in.Reopened)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func counter(p *uint64) string {
	if p == nil {
		return "unavailable"
	}
	return fmt.Sprint(*p)
}

// captureFailure is how an error ends a capture: an interrupt is its
// normal end; the capture package's typed errors say their kind and next
// step (no CAP_NET_RAW, a missing interface, a held ring: exit 3; a
// filter it cannot compile: exit 2); anything else is an I/O failure.
func captureFailure(err error) error {
	switch _, kinded := exitcode.KindOf(err); {
	case errors.Is(err, context.Canceled):
		return nil
	case kinded:
		return exitErrorOf(err)
	}
	return cannotRun("", "capture: %v", err)
}
