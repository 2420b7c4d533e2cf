package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/diag/exitcode"
	"github.com/ecdata/ectool/lab"
	"github.com/ecdata/ectool/lab/broker"
)

// labFlags are the settings of the simulated site shared by `lab` and
// `lab tour`.
type labFlags struct {
	Site      string
	Dir       string
	PortBase  int
	Interval  time.Duration
	Meters    []string
	NoWS      bool
	Bus       labBusFlags
	Modem     labModemFlags
	NoCapture bool
}

func addLabFlags(cmd *cobra.Command, f *labFlags) {
	fs := cmd.Flags()
	fs.StringVar(&f.Site, "site", "lab", "site name, a topic level of every telemetry topic (ec-data/SITE/METER/telemetry)")
	fs.StringVar(&f.Dir, "dir", "", "directory for the lab's files: CA, password files (default: a private temp dir, removed on exit)")
	fs.IntVar(&f.PortBase, "port-base", 0, "fixed ports: mqtt on BASE, mqtts on BASE+1, ws on BASE+2, mqtts with client certificates on BASE+3 (default: free ports)")
	fs.DurationVar(&f.Interval, "interval", 2*time.Second, "how often the simulated gateway publishes every meter")
	fs.StringSliceVar(&f.Meters, "meters", []string{"main", "pv", "hvac"}, "meter names, comma separated")
	fs.BoolVar(&f.NoWS, "no-websocket", false, "do not start the broker's ws:// listener")
	fs.BoolVar(&f.NoCapture, "no-capture", false, "do not record the broker's traffic into DIR/capture")
	addLabBusFlags(cmd, &f.Bus)
	addLabModemFlags(cmd, &f.Modem)
}

// config validates the flags (exit 2 before any I/O) and builds the lab
// configuration.
func (f *labFlags) config() (lab.Config, error) {
	cfg := lab.Config{
		Site:     f.Site,
		Dir:      f.Dir,
		PortBase: f.PortBase,
		Broker:   lab.BrokerConfig{NoWebSocket: f.NoWS},
		Gateway:  lab.GatewayConfig{Interval: f.Interval, Meters: f.Meters},
		Bus:      f.Bus.config(),
		Modem:    f.Modem.config(),
		Capture:  lab.CaptureConfig{Disabled: f.NoCapture},
	}
	if err := lab.Validate(cfg); err != nil {
		var fe *lab.FieldError
		if errors.As(err, &fe) {
			return cfg, usageError("--%s: %s", fe.Field, fe.Problem)
		}
		return cfg, usageError("%v", err)
	}
	return cfg, nil
}

// startLab starts the site. A port another program has is the lab's own
// typed error (exit 3, with the way out); anything else that stops it is
// the machine's (exit 3 too).
func startLab(ctx context.Context, cfg lab.Config) (*lab.Site, error) {
	site, err := lab.Start(ctx, cfg)
	if err == nil {
		return site, nil
	}
	hint := exitcode.HintOf(err)
	if hint == "" {
		hint = "check that the lab directory is writable and that loopback (127.0.0.1) is up"
	}
	return nil, exitAs(err, exitcode.KindCannotRun, err.Error(), hint)
}

type labOptions struct {
	app      *App
	flags    labFlags
	Duration time.Duration
}

// NewCmdLab is `ectool lab`: start the simulated site and print its endpoints.
func NewCmdLab(app *App) *cobra.Command {
	opts := &labOptions{app: app}
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run a simulated site on loopback: an MQTT broker, a gateway publishing meter telemetry, an RS-485 bus and a cellular modem",
		Long: `Run a simulated energy-monitoring site on this machine, for learning ectool
and testing against something real without hardware. No root needed.

It starts:
  - an MQTT broker (MQTT 5 and 3.1.1) on 127.0.0.1 with a plain listener
    (mqtt://), a TLS listener (mqtts://, certificate from a CA generated at
    start: ca.pem in the lab directory), a WebSocket listener (ws://) and a
    TLS listener that requires a client certificate (client.pem and
    client-key.pem in the lab directory);
    users with passwords and an ACL:
      gateway  publish/subscribe only under ec-data/SITE/#
      tech     ectool/# (read and write), ec-data/# (read only)
      admin    everything
    and nobody may use denied/#.
  - a gateway that publishes each meter's reading to
    ec-data/SITE/METER/telemetry (JSON, QoS 1, retained) every --interval,
    with "online" / a Last Will "offline" on ec-data/SITE/gateway/status.

The endpoints (URLs, CA file, users, passwords and password files: this is a
lab) go to stdout, as JSON with -o json. The lab runs until Ctrl-C, SIGTERM or
--duration.

'ectool lab tour' starts a lab and walks through ectool's commands against it.
` + labBusHelp() + labModemHelp(),
		Example: `  ectool lab
  ectool lab --site plant7 --port-base 18830 --duration 10m
  ectool lab -o json > lab.json &`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return labRun(cmd.Context(), opts)
		},
	}
	addLabFlags(cmd, &opts.flags)
	cmd.Flags().DurationVar(&opts.Duration, "duration", 0, "stop after this long (default: run until Ctrl-C or SIGTERM)")
	cmd.AddCommand(NewCmdLabTour(app))
	return cmd
}

func labRun(ctx context.Context, opts *labOptions) error {
	app := opts.app
	cfg, err := opts.flags.config()
	if err != nil {
		return err
	}
	if opts.Duration < 0 {
		return usageError("--duration must not be negative")
	}
	site, err := startLab(ctx, cfg)
	if err != nil {
		return err
	}
	defer site.Stop()

	if app.JSON() {
		if err := app.printJSON(site.Endpoints); err != nil {
			return err
		}
	} else {
		writeEndpointsText(app.IO.Out, &site.Endpoints)
	}
	until := "Ctrl-C or SIGTERM"
	if opts.Duration > 0 {
		until = fmt.Sprintf("%s (--duration) or Ctrl-C", opts.Duration)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Duration)
		defer cancel()
	}
	app.Infof("lab %q running until %s", cfg.Site, until)
	<-ctx.Done()
	published := 0
	if site.Gateway != nil {
		published = site.Gateway.Published()
		if err := site.Gateway.Err(); err != nil {
			app.Warnf("the simulated gateway stopped publishing: %v", err)
		}
	}
	if err := site.Stop(); err != nil {
		app.Warnf("%v", err)
	}
	app.Infof("lab stopped; the gateway published %d readings", published)
	return nil
}

// writeEndpointsText prints the endpoints for a person, with commands to
// copy.
func writeEndpointsText(w io.Writer, ep *lab.Endpoints) {
	fmt.Fprintf(w, "site %s   (files in %s)\n", ep.Site, ep.Dir)
	if b := ep.Broker; b != nil {
		fmt.Fprintln(w, "\nbroker (MQTT 5 and 3.1.1)")
		fmt.Fprintf(w, "  %-6s %s\n", "mqtt", b.MQTT)
		fmt.Fprintf(w, "  %-6s %s   trust with --ca %s\n", "mqtts", b.MQTTS, b.CAFile)
		if b.WS != "" {
			fmt.Fprintf(w, "  %-6s %s\n", "ws", b.WS)
		}
		if b.MTLS != "" {
			fmt.Fprintf(w, "  %-6s %s   client certificate required: --cert %s --key %s\n", "mtls", b.MTLS, b.ClientCertFile, b.ClientKeyFile)
		}
		fmt.Fprintln(w, "\nusers (a lab: the passwords are shown)")
		for _, u := range b.Users {
			var acl []string
			for _, r := range u.Rules {
				acl = append(acl, string(r.Access)+" "+r.Filter)
			}
			fmt.Fprintf(w, "  %-8s password %s   --password-file %s\n", u.Name, u.Password, u.PasswordFile)
			fmt.Fprintf(w, "  %-8s may: %s; nobody may use %s\n", "", strings.Join(acl, ", "), broker.DeniedFilter)
		}
	}
	if g := ep.Gateway; g != nil {
		fmt.Fprintln(w, "\ngateway")
		fmt.Fprintf(w, "  client %s (user %s) publishes every %s, QoS %d, retained:\n", g.ClientID, g.Username, time.Duration(g.IntervalMS)*time.Millisecond, g.QoS)
		for _, t := range g.Topics {
			fmt.Fprintf(w, "    %s\n", t)
		}
		fmt.Fprintf(w, "  status %s: \"online\", Last Will \"offline\"\n", g.StatusTopic)
	}
	writeBusEndpointsText(w, ep)
	writeModemEndpointsText(w, ep)
	if c := ep.Capture; c != nil {
		fmt.Fprintf(w, "\ncapture\n  %s\n", c)
		if c.Error == "" {
			fmt.Fprintf(w, "  ectool capture status --dir %s   (and ls, export --since 5m -w lab.pcapng)\n", c.Dir)
		}
	}
	// COMPONENTS: print the endpoints of components added later here.
	if b := ep.Broker; b != nil {
		tech := b.User("tech")
		fmt.Fprintln(w, "\ntry")
		if ep.Gateway != nil {
			fmt.Fprintf(w, "  ectool mqtt sub -b %s -u tech --password-file %s -t '%s' --retained-only --count %d\n",
				b.MQTT, tech.PasswordFile, ep.Gateway.TelemetryFilter, len(ep.Gateway.Topics))
		}
		fmt.Fprintf(w, "  ectool mqtt check -b %s --ca %s -u tech --password-file %s --deny-topic %s\n",
			b.MQTTS, b.CAFile, tech.PasswordFile, b.DeniedTopic)
		fmt.Fprintln(w, "  ectool lab tour")
	}
}
