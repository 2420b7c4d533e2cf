package main

import (
	"context"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/mqtt"
	"github.com/ecdata/ectool/probe/netpath"
)

// ProbeNetOptions are the inputs of `ectool probe net`.
type ProbeNetOptions struct {
	App *App

	conn    mqttConnFlags // -b, TLS and credential flags
	Targets []string
	Ifaces  []string
	DNS     []string
	Count   int
	Timeout time.Duration
	TLS     bool
	MQTT    bool
	Pins    []string

	// Probe is what the flags say, filled in before run.
	Probe netpath.Options
}

// NewCmdProbeNet builds `ectool probe net`.
func NewCmdProbeNet(app *App) *cobra.Command {
	return newCmdProbeNet(app, probeNetRun)
}

func newCmdProbeNet(app *App, runF func(context.Context, *ProbeNetOptions) error) *cobra.Command {
	opts := &ProbeNetOptions{App: app}
	cmd := &cobra.Command{
		Use:   "net [TARGET...]",
		Short: "Prove the network path to a broker or server layer by layer: interface, DNS, ICMP, TCP, path MTU, TLS, MQTT",
		Long: `Probe net walks the layers between this machine and each TARGET, in order, and
names the first that breaks:

  net.iface   the interface exists, is up, has an address and a route to the target
  net.dns     each resolver separately (bound to --iface), A and AAAA asked apart:
              NXDOMAIN, SERVFAIL, REFUSED and silence told apart
  net.icmp    --count echoes 200 ms apart: loss and latency, over a ping socket or
              a raw one (the evidence says which); no reply while TCP works is a
              warning (ICMP filtered); no socket allowed: skipped, with the reason
  net.tcp     refused, timed out (a silent drop) and no route told apart
  net.pmtu    don't-fragment probes from the interface's MTU down: a black hole
              (small packets cross, large ones vanish) fails
  net.tls     version, cipher, SNI, ALPN, chain, days to expiry, hostname, client
              certificate accepted, each certificate's SPKI pin; a handshake that
              stalls while TCP works points at the path MTU
  net.mqtt    with --mqtt: CONNECT accepted (credential flags apply)

TARGET is host:port ([2001:db8::1]:8883 for IPv6) or a URL: mqtt://, mqtts://,
ws://, wss://, http://, https://. -b/--broker adds the broker; with no TARGET and
no -b, ECTOOL_MQTT_BROKER is probed. TLS runs for mqtts://, wss://, https://, the
ports 8883, 443 and 8443, and with --tls; the system roots are trusted unless
--ca. --pin sha256//BASE64 (repeatable) fails net.tls when no certificate of the
chain has one of the pins: a rotated certificate then says so instead of looking
like a dead broker.

--iface binds every probe to one interface (SO_BINDTODEVICE, Linux 5.7+ needs no
privilege), whatever the default route: probe the modem's wwan0 while the
gateway also has Ethernet. A resolver on loopback cannot be bound: for
systemd-resolved's stub (127.0.0.53) its upstream servers are asked instead
(from /run/systemd/resolve/resolv.conf), and the evidence says so.

Each step has its own deadline (--timeout, default 5s; ICMP and the path MTU
run beside TCP and TLS, so a filtered ICMP does not slow them). The whole run
is bounded by 3 x --timeout + 2s (5 x with --mqtt). A failed step skips those
that depend on it, with the reason; first_failure names the layer (and the
target, with several).

Exit 0 when nothing failed (warnings included), 1 when a layer failed, 2 on a
bad target or flag (before anything is sent), 3 when --iface names no
interface here, or on another OS than Linux.`,
		Example: `  ectool probe net mqtts://broker.example.com
  ectool probe net -b mqtts://broker.example.com --iface wwan0 --mqtt -u meter17 --password-file pw
  ectool probe net broker.example.com:8883 api.example.com:443 --dns 9.9.9.9 --dns 10.0.0.1
  ectool probe net mqtts://broker.example.com --pin sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMjE=
  ectool probe net 10.0.0.5:8883 --tls --ca site-ca.pem -o json | jq .first_failure`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Targets = args
			if err := opts.complete(); err != nil {
				return err
			}
			return runF(cmd.Context(), opts)
		},
	}
	addMQTTLoginFlags(cmd, &opts.conn)
	addPinFlag(cmd, &opts.Pins)
	addTimeoutFlag(cmd, &opts.Timeout, netpath.DefaultTimeout, "time allowed for each step (each DNS query, the echoes, the TCP connect, the TLS handshake, CONNECT); the whole run is bounded by 3 x --timeout + 2s (5 x with --mqtt)")
	fs := cmd.Flags()
	fs.StringArrayVar(&opts.Ifaces, "iface", nil, "network interface to bind every probe to (SO_BINDTODEVICE, Linux), such as wwan0: one here")
	fs.StringArrayVar(&opts.DNS, "dns", nil, "DNS server to ask (IP or IP:port; repeat for several; default: those of /etc/resolv.conf)")
	fs.IntVar(&opts.Count, "count", netpath.DefaultCount, "ICMP echoes to send, 200 ms apart")
	fs.BoolVar(&opts.TLS, "tls", false, "speak TLS to every target, whatever its port")
	fs.BoolVar(&opts.MQTT, "mqtt", false, "add net.mqtt: CONNECT to the broker (with -u/--password-file, --client-id, --mqtt-version)")
	return cmd
}

// complete validates the flags and targets (exit 2, before any I/O) and
// fills opts.Probe.
func (opts *ProbeNetOptions) complete() error {
	app := opts.App
	targets, err := opts.targets()
	if err != nil {
		return err
	}
	o := netpath.Options{Targets: targets, Count: opts.Count, Timeout: opts.Timeout, Now: app.Now}
	switch {
	case len(opts.Ifaces) > 1:
		return usageError("--iface given %d times: probe net binds to one interface (%s); run it once per interface", len(opts.Ifaces), strings.Join(opts.Ifaces, ", "))
	case len(opts.Ifaces) == 1 && strings.TrimSpace(opts.Ifaces[0]) == "":
		return usageError("--iface is empty: give an interface name such as wwan0 (ip link lists them)")
	case len(opts.Ifaces) == 1 && !netpath.BindSupported():
		return cannotRun("probe without --iface: the routing table then picks the interface", "--iface is not supported on %s: binding to an interface (SO_BINDTODEVICE) is Linux's", runtime.GOOS)
	case len(opts.Ifaces) == 1:
		o.Iface = opts.Ifaces[0]
	}
	for _, d := range opts.DNS {
		addr, err := netpath.ParseResolver(d)
		if err != nil {
			return usageError("--dns: %v", err)
		}
		o.DNS = append(o.DNS, addr)
	}
	if opts.Count < 1 || opts.Count > 100 {
		return usageError("--count %d: want 1 to 100 echoes", opts.Count)
	}
	if opts.Timeout <= 0 {
		return usageError("--timeout %s: want a positive duration such as 5s", opts.Timeout)
	}
	if o.Pins, err = netpath.ParsePins(opts.Pins); err != nil {
		return usageError("--pin: %v", err)
	}
	if err := opts.tlsAndMQTT(targets, &o); err != nil {
		return err
	}
	opts.Probe = o
	return nil
}

// targets parses the arguments, then -b (or, with neither,
// ECTOOL_MQTT_BROKER).
func (opts *ProbeNetOptions) targets() ([]netpath.Target, error) {
	raws := append([]string(nil), opts.Targets...)
	from := map[int]string{}
	broker := opts.conn.broker.Broker
	switch {
	case broker != "" || opts.conn.changed("broker"):
		from[len(raws)] = "-b/--broker"
	case len(raws) == 0:
		broker = opts.App.Getenv("ECTOOL_MQTT_BROKER")
		from[len(raws)] = "ECTOOL_MQTT_BROKER"
	}
	if _, given := from[len(raws)]; given && strings.TrimSpace(broker) != "" {
		b, err := mqtt.ParseBroker(broker)
		if err != nil {
			return nil, usageError("%s: %v", from[len(raws)], err)
		}
		raws = append(raws, b.String())
	}
	if len(raws) == 0 {
		return nil, usageError("give a TARGET (host:port, or a URL such as mqtts://broker.example.com), or -b/--broker (or set ECTOOL_MQTT_BROKER)")
	}
	var out []netpath.Target
	for i, raw := range raws {
		t, err := netpath.ParseTarget(raw, opts.TLS)
		if err != nil {
			if f, ok := from[i]; ok {
				return nil, usageError("%s: %v", f, err)
			}
			return nil, usageError("%v", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// tlsAndMQTT checks the TLS files (for every command a typo is exit 2)
// and, with --mqtt, the broker options, into o.
func (opts *ProbeNetOptions) tlsAndMQTT(targets []netpath.Target, o *netpath.Options) error {
	app := opts.App
	first := targets[0]
	// Validated as a TLS broker, so the TLS flags are checked whatever the
	// targets (a plain target with TLS flags is warned about below).
	base, err := opts.conn.optionsFor(app, mqtt.Broker{Scheme: "mqtts", Host: first.Host, Port: first.Port})
	if err != nil {
		return err
	}
	conf, err := base.TLS.Config(first.Host)
	if err != nil {
		return usageError("TLS settings: %v", err)
	}
	o.TLS, o.CAFile, o.ServerName, o.Insecure = conf, base.TLS.CAFile, base.TLS.ServerName, base.TLS.Insecure
	anyTLS, anyMQTT := false, false
	for _, t := range targets {
		anyTLS = anyTLS || t.TLS
		anyMQTT = anyMQTT || t.BrokerURL() != ""
	}
	t := opts.conn.tls
	if !anyTLS && (t.CA != "" || t.Cert != "" || t.Insecure || t.ServerName != "" || len(t.ALPN) > 0 || len(o.Pins) > 0) {
		app.Warnf("TLS flags are ignored: no target speaks TLS (use mqtts://, wss://, https://, a port among 8883, 443, 8443, or --tls)")
	}
	if !opts.MQTT {
		if opts.conn.changed("username") || opts.conn.changed("password-file") || opts.conn.changed("password") || opts.conn.changed("client-id") {
			app.Warnf("the credential flags are used by net.mqtt only: add --mqtt")
		}
		return nil
	}
	if !anyMQTT {
		return usageError("--mqtt: no target is a broker (http:// and https:// are not); give mqtt://, mqtts://, ws://, wss:// or host:port")
	}
	o.MQTT = mqttStep(base)
	return nil
}

// mqttStep is net.mqtt: mqtt.Connect over the probe's dialer (bound to
// --iface, to the address net.tcp reached), then DISCONNECT.
func mqttStep(base mqtt.Options) netpath.MQTTFunc {
	return func(ctx context.Context, url string, dial netpath.DialFunc, timeout time.Duration) netpath.MQTTOutcome {
		o := base
		o.Broker, o.Dial, o.ConnectTimeout = url, dial, timeout
		o.Will = nil
		ev := map[string]any{"version": string(o.Version)}
		if o.ClientID != "" {
			ev["client_id"] = o.ClientID
		}
		if o.Username != "" {
			ev["username"] = o.Username
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		t0 := time.Now()
		c, err := mqtt.Connect(cctx, o)
		ev["connect_ms"] = report.Millis(time.Since(t0))
		if err != nil {
			if r := mqtt.FallbackReason(err); r != "" {
				ev["fell_back"], ev["fallback_reason"] = true, r
			}
			msg, hint := mqtt.Explain(err)
			return netpath.MQTTOutcome{Evidence: ev, Failed: true, Message: msg, Hint: hint}
		}
		ca := c.ConnAck()
		ev["version"] = string(ca.Version) // what --mqtt-version auto settled on
		if ca.FallbackReason != "" {
			ev["fell_back"], ev["fallback_reason"] = true, ca.FallbackReason
		}
		ev["session_present"] = ca.SessionPresent
		if ca.AssignedClientID != "" {
			ev["assigned_client_id"] = ca.AssignedClientID
		}
		if ca.ReasonString != "" {
			ev["reason_string"] = ca.ReasonString
		}
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = c.Disconnect(dctx)
		dcancel()
		return netpath.MQTTOutcome{Evidence: ev}
	}
}

func probeNetRun(ctx context.Context, opts *ProbeNetOptions) error {
	app := opts.App
	if ctx == nil {
		ctx = context.Background()
	}
	o := opts.Probe
	names := make([]string, len(o.Targets))
	for i, t := range o.Targets {
		names[i] = t.Raw
	}
	if app.IO.ErrTTY && !app.JSON() {
		app.Infof("probing %s (each step up to %s, the whole run up to %s)...", strings.Join(names, ", "), o.Timeout, o.RunBound())
	}
	rep := report.New("probe net", strings.Join(names, " "), app.Now)
	res := netpath.Probe(ctx, o)
	res.Report(rep, o)
	rep.Finish()
	if err := app.renderReport(rep); err != nil {
		return err
	}
	if res.Err != nil {
		return reported(ExitCannotRun)
	}
	if ctx.Err() != nil {
		return problem("run the probe again to the end", "interrupted: the report above is incomplete")
	}
	return reported(rep.ExitCode(false))
}
