package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/mqtt"
	"github.com/ecdata/ectool/probe/netpath"
)

// MQTTCheckOptions are the inputs of `ectool mqtt check`.
type MQTTCheckOptions struct {
	App *App

	conn        mqttConnFlags
	Timeout     time.Duration
	Count       int
	TopicPrefix string
	DenyTopic   string
	QoS         []int
	Strict      bool
	Pins        []string
	watch       watchFlags

	// Check is what the flags say, filled in by the command before run.
	Check mqtt.CheckOptions
}

// NewCmdMQTTCheck builds `ectool mqtt check`.
func NewCmdMQTTCheck(app *App) *cobra.Command {
	return newCmdMQTTCheck(app, mqttCheckRun)
}

// newCmdMQTTCheck lets tests stop at runF to see how the flags were parsed.
func newCmdMQTTCheck(app *App, runF func(context.Context, *MQTTCheckOptions) error) *cobra.Command {
	opts := &MQTTCheckOptions{App: app}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Walk the diagnostic ladder against a broker: DNS, TCP, TLS, CONNECT, QoS round trips, retained, Will, ACL",
		Long: `Check tells, step by step, why a gateway's telemetry does or does not reach a broker:

  mqtt.dns        the broker host resolves
  mqtt.tcp        a TCP connection opens (refused, timed out and no route told apart)
  mqtt.tls        TLS version, cipher, chain, days to expiry, hostname, client certificate,
                  each certificate's SPKI pin (--pin fails it when none matches)
  mqtt.connect    CONNECT accepted (a refusal in words; MQTT 5 server limits); with
                  --mqtt-version auto, the default, 3.1.1 when the broker refuses 5 (fell_back)
  mqtt.subscribe  the test topics can be subscribed (granted QoS)
  mqtt.acl_test_prefix  the credentials may use the test prefix (a warning for the
                        default prefix, a failure for an explicit --topic-prefix)
  mqtt.qos0/1/2   --count messages per QoS come back: lost, duplicated, latency p50/p95/max
  mqtt.retained   a retained message reaches a new subscriber, then is cleared
  mqtt.will       a client cut off without DISCONNECT has its Last Will published
  mqtt.acl_deny   with --deny-topic: publishing and subscribing there are refused

A failed step skips the steps that depend on it and says so. Test topics live under
--topic-prefix (default ectool/check/<random>); a device whose ACL allows only its own
tree needs a prefix inside it. Everything the check creates is removed before it ends.
The retained and Will checks open two more connections, with the client id suffixed
-r and -w. --deny-topic receives one non-retained test message if the ACL lets it
through (that is the failure it looks for).

Exit 0 when nothing failed (warnings included, unless --strict, which reports
every warning as a failure), 1 when a step failed.

To watch an intermittent link, --every 30s repeats the link part of the ladder
(DNS, TCP, TLS, CONNECT, SUBSCRIBE, the QoS round trips; not retained, Will or
ACL) until --rounds N, --duration D or Ctrl-C, and prints one line per round
(with -o json one record per round: round, time, ok, duration_ms, rtt_ms, and
for a failed round layer, check, reason, hint). It ends with one check,
mqtt.availability: rounds, ok_rounds, availability_pct, rtt_p50_ms and
rtt_p95_ms (the median round trip of each round, over the rounds), and each
failed round with its time and the first layer that broke (dns, tcp, tls,
connect, round_trip). Exit 1 when fewer than --min-availability percent of
the rounds passed (default 100: any failed round); above it a failed round is a
warning. Ctrl-C ends the watch with the summary of the rounds that ended.`,
		Example: `  ectool mqtt check -b mqtt://192.168.1.10
  ectool mqtt check -b mqtt://192.168.1.10 --every 30s --duration 12h --qos-levels 1 --count 3 --min-availability 99.5
  ectool mqtt check -b mqtts://broker.example.com --ca ca.pem --cert dev.pem --key dev.key
  ectool mqtt check -b mqtts://broker.example.com -u meter17 --password-file pw \
      --topic-prefix ec-data/site4/meter17/check --deny-topic ec-data/site4/meter18/telemetry
  ectool mqtt check -b mqtt://10.0.0.5 -o json | jq '.checks[] | select(.status != "ok")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.complete(); err != nil {
				return err
			}
			if err := opts.watch.complete(cmd, opts); err != nil {
				return err
			}
			return runF(cmd.Context(), opts)
		},
	}
	addMQTTLoginFlags(cmd, &opts.conn)
	defaultMQTTVersion(cmd, &opts.conn, "auto")
	addWatchFlags(cmd, &opts.watch)
	addTimeoutFlag(cmd, &opts.Timeout, 5*time.Second, "time allowed for each step (a round trip gets it twice: to publish, then for the last messages); a dead broker fails within it")
	fs := cmd.Flags()
	fs.IntVar(&opts.Count, "count", 10, "messages per QoS round trip")
	fs.StringVar(&opts.TopicPrefix, "topic-prefix", "", "topic under which the test topics live (default ectool/check/<random>)")
	fs.StringVar(&opts.DenyTopic, "deny-topic", "", "a topic these credentials must NOT use (another device's): proves the per-device ACL")
	fs.IntSliceVar(&opts.QoS, "qos-levels", []int{0, 1, 2}, "QoS levels to round-trip, comma separated")
	completeValues(cmd, "qos-levels", "0", "1", "2")
	fs.BoolVar(&opts.Strict, "strict", false, "report warnings as failures (exit 1)")
	addPinFlag(cmd, &opts.Pins)
	return cmd
}

// complete validates the flags (exit 2, before any network I/O) and fills
// opts.Check.
func (opts *MQTTCheckOptions) complete() error {
	o, err := opts.conn.options(opts.App)
	if err != nil {
		return err
	}
	if opts.Timeout <= 0 {
		return usageError("--timeout %s: want a positive duration such as 5s", opts.Timeout)
	}
	if opts.Count < 1 || opts.Count > 100000 {
		return usageError("--count %d: want 1 to 100000 messages per QoS", opts.Count)
	}
	if len(opts.QoS) == 0 {
		return usageError("--qos-levels is empty: give one or more of 0, 1, 2")
	}
	var qos []byte
	seen := map[int]bool{}
	for _, q := range opts.QoS {
		if q < 0 || q > 2 {
			return usageError("--qos-levels %d: want 0, 1 or 2", q)
		}
		if !seen[q] {
			seen[q] = true
			qos = append(qos, byte(q))
		}
	}
	if p := opts.TopicPrefix; p != "" || opts.conn.changed("topic-prefix") {
		if err := mqtt.ValidateTopic(p); err != nil {
			return usageError("--topic-prefix %q: %v", p, err)
		}
		if strings.HasSuffix(p, "/") {
			return usageError("--topic-prefix %q: drop the trailing /", p)
		}
	}
	if d := opts.DenyTopic; d != "" {
		if err := mqtt.ValidateTopic(d); err != nil {
			return usageError("--deny-topic %q: %v", d, err)
		}
		if opts.TopicPrefix != "" && (d == opts.TopicPrefix || strings.HasPrefix(d, opts.TopicPrefix+"/")) {
			return usageError("--deny-topic %s lies under --topic-prefix %s, which the check must be allowed to use", d, opts.TopicPrefix)
		}
	}
	pins, err := netpath.ParsePins(opts.Pins)
	if err != nil {
		return usageError("--pin: %v", err)
	}
	if len(pins) > 0 {
		if b, _ := mqtt.ParseBroker(o.Broker); !b.TLS() {
			opts.App.Warnf("--pin is ignored: %s is not a TLS URL (use mqtts:// or wss://)", o.Broker)
		}
	}
	opts.Check = mqtt.CheckOptions{
		Pins:        pins,
		Options:     o,
		Count:       opts.Count,
		TopicPrefix: opts.TopicPrefix,
		DenyTopic:   opts.DenyTopic,
		QoS:         qos,
		Timeout:     opts.Timeout,
		Now:         opts.App.Now,
	}
	return nil
}

func mqttCheckRun(ctx context.Context, opts *MQTTCheckOptions) error {
	app := opts.App
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.watch.Every > 0 {
		return mqttWatchRun(ctx, opts)
	}
	if app.IO.ErrTTY && !app.JSON() {
		app.Infof("checking %s (each step up to %s)...", opts.Check.Broker, opts.Timeout)
	}
	r := mqtt.Check(ctx, opts.Check)
	if opts.Strict {
		strictReport(r)
	}
	if err := app.renderReport(r); err != nil {
		return err
	}
	if n := prefixSkips(r); n > 0 && !app.JSON() {
		app.Warnf("%d check(s) skipped because these credentials may not use the test prefix %v: pass --topic-prefix inside the device's allowed topic tree to run them", n, r.Details["topic_prefix"])
	}
	if ctx.Err() != nil {
		return problem("run the check again to the end", "interrupted: the report above is incomplete")
	}
	return reported(r.ExitCode(opts.Strict))
}

// strictReport turns every warning into a failure (--strict), so the
// report's first failure and closing line name the warning that decides
// the exit code instead of saying everything is fine.
func strictReport(r *report.Report) {
	changed := false
	for i := range r.Checks {
		c := &r.Checks[i]
		if c.Status != report.Warning {
			continue
		}
		c.Status = report.Failed
		if c.Evidence == nil {
			c.Evidence = map[string]any{}
		}
		c.Evidence["strict"] = "a warning, failed by --strict"
		changed = true
	}
	if changed {
		r.Finish()
	}
}

// prefixSkips counts the checks skipped because the credentials may not use
// the test prefix, which the closing "OK" line alone would hide.
func prefixSkips(r *report.Report) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == report.Skipped && strings.Contains(c.SkippedReason, mqtt.CheckACLTestPrefix) {
			n++
		}
	}
	return n
}
