package main

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/mqtt"
)

// MQTTSubOptions are the inputs of `ectool mqtt sub`.
type MQTTSubOptions struct {
	App  *App
	conn mqttConnFlags

	Topics       []string
	QoS          int
	Count        int
	Timeout      time.Duration
	RetainedOnly bool
	ExpectSeq    bool
	Format       string
	NoReconnect  bool

	format subFormat // -F compiled
	// Subscribe is what the flags say, filled in by complete.
	Subscribe mqtt.SubscribeOptions
}

// NewCmdMQTTSub builds `ectool mqtt sub`.
func NewCmdMQTTSub(app *App) *cobra.Command {
	return newCmdMQTTSub(app, mqttSubRun)
}

func newCmdMQTTSub(app *App, runF func(context.Context, *MQTTSubOptions) error) *cobra.Command {
	opts := &MQTTSubOptions{App: app}
	cmd := &cobra.Command{
		Use:   "sub -t FILTER... [--count N] [--timeout D]",
		Short: "Subscribe to topic filters and print what arrives",
		Long: `Subscribe and print each message as it arrives: "topic payload" lines, or with
-o json one JSON object per line (time, topic, qos, retain, dup, payload or
payload_base64, properties, and seq/latency_ms for 'pub --seq' payloads).

A subscription the broker refuses is a failure (exit 1), never a silent grant.
With --count N, fewer than N messages within --timeout is exit 1 and says how
many arrived (with --retained-only: fewer than N retained messages). --timeout
is the whole wait (0: until --count, or Ctrl-C); the connection steps get at
most 10s each (or --timeout, when shorter).

--expect-seq reads 'ectool mqtt pub --seq' payloads and ends with a summary:
received, lost, duplicated, out of order (a final {"summary":...} line in JSON);
exit 1 when any were lost, or when none arrived. Loss counts from the first
number received from each publisher: what was sent before this subscriber
joined is reported as before_first, not lost.

-F/--format prints each message through a template, as mosquitto_sub -F does:
-F '%I %t %p' for time, topic and payload; -F %p for the payload alone
(raw bytes, one message per line). Not with -o json (a usage error).

A lost connection (a broker restart, a link down) does not end sub: it
reconnects at once, then after 0.1s, 0.2s ... up to every 5s, within --timeout,
and subscribes again. Each outage is told on stderr as it starts and ends, and
listed in the summary (start, duration, reason, attempts; with --expect-seq
the messages lost across it, per publisher). A broker that sends us away for a
reason of ours (administrative action, session taken over, not authorised) or
refuses the new CONNECT or SUBSCRIBE ends the run, as does --timeout during an
outage (exit 1). --no-reconnect ends the run at the first loss (exit 1).
Ctrl-C ends with the summary: received (with --expect-seq lost, duplicated,
out of order) and the outages; on stdout with --expect-seq, else on stderr
({"summary":...} as the last JSON line either way).

With -o json a failure ends the stream with one {"error":{"step","message",
"hint","exit_code","received"}} line.

From mosquitto_sub: the "topic payload" lines are what its -v prints, so
there is nothing to switch on; ectool's -v is verbose (more talk on stderr)
and changes nothing on stdout.`,
		Example: `  ectool mqtt sub -b mqtt://localhost -t 'ec-data/+/+/telemetry'
  ectool mqtt sub -b mqtt://localhost -t test/load -q 1 --count 10000 --timeout 60s --expect-seq
  ectool mqtt sub -b mqtt://localhost -t 'ec-data/#' --retained-only -o json
  ectool mqtt sub -b mqtt://localhost -t 'ec-data/+/+/telemetry' -F '%I %t q%q r%r %p'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.complete(); err != nil {
				return err
			}
			return runF(cmd.Context(), opts)
		},
	}
	addMQTTConnFlags(cmd, &opts.conn)
	addTimeoutFlag(cmd, &opts.Timeout, 0, "the whole wait for messages (0: no limit); the connection steps get at most 10s each")
	fs := cmd.Flags()
	fs.StringArrayVarP(&opts.Topics, "topic", "t", nil, "topic filter to subscribe to (repeatable; + and # allowed)")
	fs.IntVarP(&opts.QoS, "qos", "q", 0, "QoS: 0, 1 or 2")
	completeValues(cmd, "qos", "0", "1", "2")
	fs.IntVar(&opts.Count, "count", 0, "stop after this many messages (0: no limit)")
	fs.BoolVar(&opts.RetainedOnly, "retained-only", false, "print only the retained messages present now, then stop")
	fs.BoolVar(&opts.ExpectSeq, "expect-seq", false, "count lost, duplicated and reordered 'pub --seq' messages; summary at the end")
	fs.StringVarP(&opts.Format, "format", "F", "", subFormatHelp)
	fs.BoolVar(&opts.NoReconnect, "no-reconnect", false, "end at the first loss of the connection (exit 1) instead of reconnecting")
	return cmd
}

// complete checks every flag before any network I/O and fills
// opts.Subscribe.
func (opts *MQTTSubOptions) complete() error {
	o, err := opts.conn.options(opts.App)
	if err != nil {
		return err
	}
	if opts.Timeout < 0 {
		return usageError("--timeout %s: want 0 (no limit) or a positive duration", opts.Timeout)
	}
	o.ConnectTimeout = mqtt.DefaultConnectTimeout
	if opts.Timeout > 0 && opts.Timeout < o.ConnectTimeout {
		o.ConnectTimeout = opts.Timeout
	}
	if len(opts.Topics) == 0 {
		return usageError("-t/--topic is required (a topic filter such as ec-data/#)")
	}
	for _, f := range opts.Topics {
		if err := mqtt.ValidateFilter(f); err != nil {
			return usageError("-t/--topic: %v", err)
		}
	}
	for i, a := range opts.Topics {
		for _, b := range opts.Topics[i+1:] {
			if mqtt.FiltersOverlap(a, b) {
				opts.App.Warnf("-t %s and -t %s overlap: a message matching both may arrive once per subscription (MQTT 5 allows it), and --expect-seq then counts the copies as duplicates", a, b)
			}
		}
	}
	qos, err := qosFlag(opts.QoS)
	if err != nil {
		return err
	}
	if opts.Count < 0 {
		return usageError("--count %d: want 0 (no limit) or more", opts.Count)
	}
	if opts.Format != "" {
		// -o json is records for a program; a template is text for a
		// person or a pipe: asking for both is a mistake to say, not guess.
		if opts.App.JSON() {
			return usageError("-F/--format prints text and -o json prints JSON records: give one (the records carry every field -F can print)")
		}
		if opts.format, err = parseSubFormat(opts.Format); err != nil {
			return err
		}
	}
	opts.Subscribe = mqtt.SubscribeOptions{Options: o, Filters: opts.Topics, QoS: qos, Count: opts.Count, Wait: opts.Timeout,
		RetainedOnly: opts.RetainedOnly, ExpectSeq: opts.ExpectSeq, Reconnect: !opts.NoReconnect}
	return nil
}

// subLine is one received message in JSON Lines output.
type subLine struct {
	Time          string           `json:"time"`
	Topic         string           `json:"topic"`
	QoS           byte             `json:"qos"`
	Retain        bool             `json:"retain"`
	Dup           bool             `json:"dup"`
	Payload       *string          `json:"payload,omitempty"`
	PayloadBase64 *string          `json:"payload_base64,omitempty"`
	Properties    *mqtt.Properties `json:"properties,omitempty"`
	Seq           *uint64          `json:"seq,omitempty"`
	LatencyMS     *float64         `json:"latency_ms,omitempty"`
	SeqVerdict    string           `json:"seq_verdict,omitempty"`
}

func mqttSubRun(ctx context.Context, opts *MQTTSubOptions) error {
	app := opts.App
	out := app.newStream()
	defer out.Close()
	o := opts.Subscribe
	o.Subscribed = func(granted []byte) { subscribed(app, o, granted) }
	o.Connected = func(ca mqtt.ConnAck) { noteVersion(app, o.Broker, ca) }
	o.Deliver = func(d mqtt.Delivery) error { return writeDelivery(app, out, d) }
	if opts.format != nil {
		o.Deliver = func(d mqtt.Delivery) error { return out.Line(opts.format.render(&d)) }
	}
	o.OnOutage = func(g mqtt.Outage) { tellOutage(app, g) }
	res, err := mqtt.Subscribe(ctx, o)
	if res.CloseWarning != "" {
		app.Warnf("%s", res.CloseWarning)
	}
	if werr := out.Err(); werr != nil {
		return writeErr(werr)
	}
	if res.Subscribed && (opts.ExpectSeq || res.Interrupted || len(res.Outages) > 0) {
		writeSubSummary(app, out, opts.ExpectSeq, res)
	}
	if err != nil {
		// The step that failed: reaching the broker, subscribing, or
		// receiving (the engine's errors name theirs).
		def := mqtt.StepReceive
		switch {
		case !res.Connected:
			def = mqtt.StepConnect
		case !res.Subscribed:
			def = mqtt.StepSubscribe
		}
		received := res.Received
		err = out.Fail(mqttFailure(err, !res.Subscribed, def), stepName(err, def), &received)
	}
	if werr := out.Close(); werr != nil {
		return writeErr(werr)
	}
	return err
}

// subscribed says what the broker granted: a lower QoS than asked is a
// warning, and -v says when messages may come (tests wait for it).
func subscribed(app *App, o mqtt.SubscribeOptions, granted []byte) {
	for i, g := range granted {
		if i < len(o.Filters) && g < o.QoS {
			app.Warnf("the broker granted QoS %d for %s, not the %d asked for: messages arrive at QoS %d at most", g, o.Filters[i], o.QoS, g)
		}
	}
	app.Debugf("subscribed to %s", strings.Join(o.Filters, ", "))
}

// writeDelivery writes one message: "topic payload" (and a sequence
// verdict), or a JSON Lines record.
func writeDelivery(app *App, out *stream, d mqtt.Delivery) error {
	if !app.JSON() {
		line := d.Topic + " " + textPayload(d.Payload)
		if d.Verdict != "" {
			line += " (" + strings.ReplaceAll(d.Verdict, "_", " ") + ")"
		}
		return out.Line(line)
	}
	l := subLine{Time: report.FormatTime(d.Received), Topic: d.Topic, QoS: d.QoS, Retain: d.Retain, Dup: d.Dup, SeqVerdict: d.Verdict}
	if utf8.Valid(d.Payload) {
		s := string(d.Payload)
		l.Payload = &s
	} else {
		s := base64.StdEncoding.EncodeToString(d.Payload)
		l.PayloadBase64 = &s
	}
	p := d.Properties
	if p.ContentType != "" || p.MessageExpiry != nil || p.PayloadFormat != nil || p.ResponseTopic != "" || p.CorrelationData != nil || len(p.UserProperties) > 0 {
		l.Properties = &p
	}
	if d.IsSeq {
		l.Seq = &d.Seq.Seq
		lat := report.Millis(d.Received.Sub(d.Seq.Sent))
		l.LatencyMS = &lat
	}
	return out.Record(l)
}

// textPayload shows a payload on one line: as is when it is printable
// UTF-8, quoted when it holds control characters, base64 when binary.
func textPayload(p []byte) string {
	if !utf8.Valid(p) {
		return "[base64] " + base64.StdEncoding.EncodeToString(p)
	}
	s := string(p)
	for _, r := range s {
		if unicode.IsControl(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
