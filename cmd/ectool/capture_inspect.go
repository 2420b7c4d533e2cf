package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/capture"
	"github.com/ecdata/ectool/capture/inspect"
	"github.com/ecdata/ectool/diag/exitcode"
	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/mqtt"
)

// CaptureInspectOptions are the inputs of `ectool capture inspect`.
type CaptureInspectOptions struct {
	App *App

	Inputs        []string
	Ports         []uint16
	Clients       []string
	Topics        []string
	Window        timeWindowFlags
	Messages      bool
	Payload       bool
	AssumeVersion string

	// Filled in by complete.
	Inspect inspect.Options
	// open opens the inputs afresh; src is the first opening (complete
	// opens them to check them before any work; standard input can only
	// be opened once).
	open func() (*capture.Merger, error)
	src  *capture.Merger
}

// NewCmdCaptureInspect builds `ectool capture inspect`.
func NewCmdCaptureInspect(app *App) *cobra.Command {
	return newCmdCaptureInspect(app, captureInspectRun)
}

func newCmdCaptureInspect(app *App, runF func(context.Context, *CaptureInspectOptions) error) *cobra.Command {
	opts := &CaptureInspectOptions{App: app}
	cmd := &cobra.Command{
		Use:   "inspect (FILE | DIR | -)...",
		Short: "Explain the MQTT conversation in a capture: connections, topics, QoS, and what went wrong",
		Long: `Inspect reads pcap and pcapng captures, gzip-compressed or not (Ethernet, Linux cooked
SLL and SLL2, raw IP, loopback), a ring directory written by 'ectool capture', a lab
directory (its ring, <lab dir>/capture), a directory of captures, or standard input (-).
Everything is read as 'capture ls' and 'capture export' read it, and merged by time.
A truncated final record (a capture stopped mid-write) is reported and skipped;
checksums are never checked (offloaded).

It reassembles TCP (bounded memory; streams joined mid-way resynchronise), decodes
MQTT 3.1, 3.1.1 and 5 (every packet type, properties, reason codes), MQTT over
WebSocket, and TLS metadata: server name, versions offered and chosen, ALPN, alerts,
handshake time, bytes each way and how the connection ended. Decrypting TLS is out of
scope: to see the MQTT inside, capture with the client's key log (SSLKEYLOGFILE) and
open it in Wireshark.

Ports 1883 and 8883 (--ports) are decoded, plus any port where a CONNECT or a WebSocket
upgrade to MQTT is recognised. A capture that names its listeners (the lab's ring does,
in its pcapng comment) needs no --ports: its MQTT, WebSocket and TLS listeners are
decoded as what they are. Without a CONNECT in the capture, the version is inferred
(or --assume-version).

The diagnosis: per connection (client id, version, keep-alive, clean session, Will,
how it ended), per topic (publishes, QoS, retained, bytes, rate), QoS 1/2 flows
(acknowledged, open, ack latency p50/p99, DUP retransmissions), TCP retransmissions
and zero windows. Passwords never appear in any output.

Checks: inspect.input, inspect.decode, inspect.connect, inspect.reconnects,
inspect.keepalive, inspect.qos, inspect.subscribe, inspect.size, inspect.tls,
inspect.tcp (see docs/checks.md). --messages lists every control packet (JSON Lines
with -o json, ending with {"report": ...}).

--since/--until take an RFC 3339 time or a duration counted back from the newest
packet in the data (not from the clock: a copied ring is read days later), and keep
[since, until): the packets 'capture export' would write for the same window.

Exit 0 when nothing failed, 1 when a check failed, 2 on bad flags or an input that is
missing or neither pcap nor pcapng, 3 when an input cannot be read (permission, I/O).`,
		Example: `  ectool capture inspect gateway.pcapng
  ectool capture inspect /var/lib/ectool/capture --since 2h -o json | jq '.checks[] | select(.status != "ok")'
  ectool capture inspect night.pcap --client gw-0042 --messages
  ectool capture inspect ring/ -t 'ec-data/+/meter1/#' --messages -o json --payload
  tcpdump -i eth0 -w - port 1883 | ectool capture inspect -`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.complete(args); err != nil {
				return err
			}
			return runF(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	addPortsFlag(cmd, &opts.Ports, []uint16{1883, 8883}, "TCP ports to decode, comma separated (plus any port where a CONNECT is recognised)")
	fs.StringArrayVar(&opts.Clients, "client", nil, "only this client id's connections (repeatable)")
	fs.StringArrayVarP(&opts.Topics, "topic", "t", nil, "only topics matching this MQTT filter, wildcards allowed (repeatable)")
	addTimeWindowFlags(cmd, &opts.Window)
	fs.BoolVar(&opts.Messages, "messages", false, "list every control packet (JSON Lines with -o json)")
	fs.BoolVar(&opts.Payload, "payload", false, "with --messages: whole payloads instead of a 64-byte preview")
	fs.StringVar(&opts.AssumeVersion, "assume-version", "", "MQTT version of connections whose CONNECT is not in the capture: 3.1, 3.1.1 or 5 (default: inferred)")
	completeValues(cmd, "assume-version", "3.1", "3.1.1", "5")
	return cmd
}

// complete checks flags and inputs (exit 2, or 3 for an unreadable input)
// before anything is decoded.
func (opts *CaptureInspectOptions) complete(args []string) error {
	if len(args) == 0 {
		return usageError("give a capture: a pcap or pcapng file, a ring directory, or - for standard input")
	}
	stdin := 0
	for _, a := range args {
		if a == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return usageError("standard input (-) can be read once")
	}
	if err := opts.Window.parse(); err != nil {
		return err
	}
	if stdin > 0 && opts.Window.relative() {
		return usageError("--since/--until as a duration count back from the newest packet, which standard input cannot show before it ends: give an RFC 3339 time")
	}
	for _, t := range opts.Topics {
		if err := mqtt.ValidateFilter(t); err != nil {
			return usageError("-t/--topic: %v", err)
		}
	}
	if opts.Payload && !opts.Messages {
		return usageError("--payload goes with --messages (it shows whole payloads in the packet list)")
	}
	switch opts.AssumeVersion {
	case "", "3.1", "3.1.1", "5", "5.0":
	default:
		return usageError("--assume-version %q: want 3.1, 3.1.1 or 5", opts.AssumeVersion)
	}
	opts.Inputs = args
	opts.open = func() (*capture.Merger, error) { return openInputs(opts.App, args) }
	// Open now, so a missing or foreign file is exit 2 before any work.
	src, err := opts.open()
	if err != nil {
		return err
	}
	opts.src = src
	opts.Inspect = inspect.Options{Ports: opts.Ports, AssumeVersion: opts.AssumeVersion, Clients: opts.Clients, Topics: opts.Topics}
	return nil
}

// openInputs opens every input through package capture's reader, the one
// ls, status and export use (torn records are handled there), and merges
// them by time: files, ring directories (a lab directory's ring too) and
// standard input.
func openInputs(app *App, args []string) (*capture.Merger, error) {
	m := capture.NewMerger()
	fail := func(err error) (*capture.Merger, error) {
		m.Close()
		return nil, err
	}
	for _, a := range args {
		if a == "-" {
			rd, err := capture.NewReader(app.IO.In)
			if err != nil {
				return fail(inputError("standard input", err))
			}
			m.AddReader("standard input", rd)
			continue
		}
		if st, err := os.Stat(a); err == nil && st.IsDir() {
			r, err := capture.OpenRing(a)
			if err != nil {
				return fail(inputError(a, err))
			}
			if len(r.Files) == 0 {
				return fail(&ExitError{Code: ExitUsage, Message: fmt.Sprintf("%s holds no capture file (.pcap, .pcapng, .cap, or a ring written by ectool capture or the lab)", a),
					Hint: "give the ring directory (ectool capture --dir), a lab directory, or capture files"})
			}
			m.AddRing(r)
			continue
		}
		if err := m.AddFile(a); err != nil {
			return fail(inputError(a, err))
		}
	}
	return m, nil
}

// inputError says what is wrong with an input in a technician's words:
// the input-file rule of every command, and the inspect package's own
// verdict on a file that is not a capture (a usage error).
func inputError(name string, err error) error {
	if _, kinded := exitcode.KindOf(err); kinded {
		return exitErrorOf(err)
	}
	return inputFileError("", name, err)
}

func captureInspectRun(ctx context.Context, opts *CaptureInspectOptions) error {
	app := opts.App
	if ctx == nil {
		ctx = context.Background()
	}
	o := opts.Inspect
	src := opts.src
	if src == nil {
		var err error
		if src, err = opts.open(); err != nil {
			return err
		}
	}
	var newest time.Time
	if opts.Window.relative() {
		// Durations count back from the newest packet, found as capture
		// export finds it: a first pass over the same merge. Read errors
		// show in the second pass.
		newest, _ = capture.Newest(src)
		src.Close()
		var err error
		if src, err = opts.open(); err != nil {
			return err
		}
	}
	o.Window = opts.Window.window().Resolve(newest)
	defer src.Close()
	out := app.newStream()
	defer out.Close()
	if opts.Messages {
		w := messageWriter{app: app, w: out, payload: opts.Payload}
		o.OnMessage = w.write
	}
	if app.IO.ErrTTY && !app.JSON() {
		app.Infof("reading %s...", strings.Join(opts.Inputs, " "))
	}
	res, err := inspect.Inspect(ctx, src, o)
	if err != nil && !errors.Is(err, context.Canceled) {
		return cannotRun("", "writing the packet list: %v", err)
	}
	rep := report.New("capture inspect", strings.Join(opts.Inputs, " "), app.Now)
	res.Report(rep, opts.Ports)
	rep.Finish()
	if err := renderInspect(app, out, rep, res, opts); err != nil {
		return cannotRun("", "writing output: %v", err)
	}
	if errors.Is(err, context.Canceled) {
		app.Warnf("interrupted: the diagnosis covers the packets read so far")
	}
	for _, p := range res.Input.Problems {
		if p.IOError {
			// The report is out; the exit code says part could not be read.
			app.Warnf("%s could not be read: %s", p.Input, p.Error)
			return reported(ExitCannotRun)
		}
	}
	return reported(rep.ExitCode(false))
}
