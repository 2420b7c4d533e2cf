package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/mqtt"
)

// MQTTPubOptions are the inputs of `ectool mqtt pub`.
type MQTTPubOptions struct {
	App  *App
	conn mqttConnFlags

	Topics      []string
	Message     string
	File        string
	StdinLines  bool
	QoS         int
	Retain      bool
	Count       int
	Rate        string
	Seq         bool
	UserProps   []string
	ContentType string
	Expiry      time.Duration
	Timeout     time.Duration

	// Publish is what the flags say, filled in by complete.
	Publish mqtt.PublishOptions
}

// NewCmdMQTTPub builds `ectool mqtt pub`.
func NewCmdMQTTPub(app *App) *cobra.Command {
	return newCmdMQTTPub(app, mqttPubRun)
}

func newCmdMQTTPub(app *App, runF func(context.Context, *MQTTPubOptions) error) *cobra.Command {
	opts := &MQTTPubOptions{App: app}
	cmd := &cobra.Command{
		Use:   "pub -t TOPIC (-m MSG | --file F | --stdin-lines | --seq)",
		Short: "Publish test messages to a topic",
		Long: `Publish one message, --count copies of it, or one message per line of stdin.

QoS 1 and 2 publishes are pipelined up to the broker's receive window, and
every acknowledgement is checked: a publish the broker refuses (an MQTT 5
reason code such as 0x87 not authorized, or the broker closing the
connection) ends the command with exit 1 and the reason. An MQTT 3.1.1
acknowledgement cannot carry a refusal: mosquitto acknowledges a publish its
ACL refuses and drops it, the lab broker closes the connection.

QoS 0 has no acknowledgement, so nothing shows the broker took a message:
mosquitto and the lab broker drop a QoS 0 publish their ACL refuses without
a word, on MQTT 5 and 3.1.1. The command then exits 0 (nothing was proven
wrong) with a note on stderr; use -q 1 to have each message confirmed or
refused. On MQTT 3.1.1 a PINGREQ round trip after the last QoS 0 message
catches a broker that closes the connection instead (exit 1).

--file - reads the whole of stdin as one message (mosquitto_pub -s); --stdin-lines
publishes one message per line instead.

--seq replaces the payload with a small JSON object carrying a sequence
number and the send time ({"seq":N,"ts":unix_nanos,"src":CLIENT_ID,"data":MSG}),
so 'ectool mqtt sub --expect-seq' can count lost, duplicated and reordered
messages and show latency.

--timeout bounds each step: DNS, TCP, TLS, CONNECT, and waiting for
acknowledgements (no progress for that long is a failure).

--stdin-lines stops reading at Ctrl-C or SIGTERM, even while stdin stays
open (tail -f): the lines already read are still published and
acknowledged, and the command says it was interrupted (exit 0 when all of
them went through, 1 otherwise).`,
		Example: `  ectool mqtt pub -b mqtt://localhost -t ec-data/site1/meter1/telemetry -m '{"p":1200}' -q 1
  ectool mqtt pub -b mqtts://broker:8883 --ca ca.pem -t test/load -m x --count 10000 --rate 500 --seq
  tail -f readings.jsonl | ectool mqtt pub -b mqtt://localhost -t ec-data/site1/raw --stdin-lines
  ectool modbus read rtu:///dev/ttyUSB0 -o json | ectool mqtt pub -b mqtt://localhost -t ec-data/site1/dump --file -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.complete(cmd); err != nil {
				return err
			}
			return runF(cmd.Context(), opts)
		},
	}
	addMQTTConnFlags(cmd, &opts.conn)
	addTimeoutFlag(cmd, &opts.Timeout, 10*time.Second, "time allowed for each step: DNS, TCP, TLS, CONNECT, and acknowledgements (no progress for that long fails)")
	fs := cmd.Flags()
	// A string array like sub's -t, so the flag has one type everywhere;
	// pub takes exactly one.
	fs.StringArrayVarP(&opts.Topics, "topic", "t", nil, "topic to publish to (no wildcards)")
	fs.StringVarP(&opts.Message, "message", "m", "", "payload")
	fs.StringVar(&opts.File, "file", "", "read the payload from this file (-: the whole of stdin, as one message)")
	fs.BoolVar(&opts.StdinLines, "stdin-lines", false, "publish each line of stdin as one message (blank lines are skipped)")
	fs.IntVarP(&opts.QoS, "qos", "q", 0, "QoS: 0, 1 or 2")
	completeValues(cmd, "qos", "0", "1", "2")
	fs.BoolVarP(&opts.Retain, "retain", "r", false, "ask the broker to retain the message")
	fs.IntVar(&opts.Count, "count", 1, "number of messages to publish")
	fs.StringVar(&opts.Rate, "rate", "", "messages per second, e.g. 50 or 50/s (default: as fast as the broker takes them)")
	fs.BoolVar(&opts.Seq, "seq", false, "payload carries a sequence number and send time (see above)")
	fs.StringArrayVar(&opts.UserProps, "user-property", nil, "MQTT 5 user property key=value (repeatable)")
	fs.StringVar(&opts.ContentType, "content-type", "", "MQTT 5 content type, e.g. application/json")
	fs.DurationVar(&opts.Expiry, "expiry", 0, "MQTT 5 message expiry interval, e.g. 1h")
	return cmd
}

// complete checks every flag and input file before any network I/O and
// fills opts.Publish.
func (opts *MQTTPubOptions) complete(cmd *cobra.Command) error {
	o, err := opts.conn.options(opts.App)
	if err != nil {
		return err
	}
	if opts.Timeout <= 0 {
		return usageError("--timeout %s: want a positive duration such as 10s", opts.Timeout)
	}
	o.ConnectTimeout = opts.Timeout
	p := mqtt.PublishOptions{Options: o, Retain: opts.Retain, Count: opts.Count, Seq: opts.Seq, AckTimeout: opts.Timeout}
	switch len(opts.Topics) {
	case 0:
		return usageError("-t/--topic is required")
	case 1:
		p.Topic = opts.Topics[0]
	default:
		return usageError("-t/--topic given %d times: pub publishes to one topic", len(opts.Topics))
	}
	if err := mqtt.ValidateTopic(p.Topic); err != nil {
		return usageError("-t/--topic: %v", err)
	}
	if p.QoS, err = qosFlag(opts.QoS); err != nil {
		return err
	}
	if err := opts.payload(cmd, &p); err != nil {
		return err
	}
	if opts.Rate != "" {
		r, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(opts.Rate), "/s"), 64)
		if err != nil || r <= 0 {
			return usageError("--rate %q: want messages per second, e.g. 50 or 50/s", opts.Rate)
		}
		p.Rate = r
	}
	if p.Properties, err = opts.properties(o.Version); err != nil {
		return err
	}
	opts.Publish = p
	return nil
}

// payload checks where the messages come from: -m, --file, --stdin-lines
// or --seq, exactly one (--seq may embed -m).
func (opts *MQTTPubOptions) payload(cmd *cobra.Command, p *mqtt.PublishOptions) error {
	sources := 0
	for _, given := range []bool{cmd.Flags().Changed("message"), opts.File != "", opts.StdinLines} {
		if given {
			sources++
		}
	}
	switch {
	case sources > 1:
		return usageError("-m/--message, --file and --stdin-lines exclude each other: give one")
	case sources == 0 && !opts.Seq:
		return usageError("no payload: give -m/--message, --file or --stdin-lines (or --seq)")
	case opts.StdinLines && cmd.Flags().Changed("count"):
		return usageError("--count does not go with --stdin-lines: every line is one message")
	case opts.File != "" && opts.Seq:
		return usageError("--file does not go with --seq: the sequenced payload is JSON; use -m for a short text to embed")
	case opts.Count < 1:
		return usageError("--count %d: want 1 or more", opts.Count)
	}
	p.Payload = []byte(opts.Message)
	if opts.File == "-" {
		// mosquitto_pub -s: the whole of stdin is one message, read before
		// connecting so a slow producer does not hold the connection idle.
		b, err := io.ReadAll(opts.App.IO.In)
		if err != nil {
			return &ExitError{Code: ExitCannotRun, Message: "--file -: reading the payload from stdin: " + err.Error(), Err: err}
		}
		p.Payload = b
	} else if opts.File != "" {
		b, err := os.ReadFile(opts.File)
		if err != nil {
			return inputFileError("--file", opts.File, err)
		}
		p.Payload = b
	}
	if opts.StdinLines {
		p.Lines = opts.App.IO.In
	}
	return nil
}

// properties reads the MQTT 5 properties (ignored, with a warning, on 3.1.1).
func (opts *MQTTPubOptions) properties(v mqtt.Version) (mqtt.Properties, error) {
	var props mqtt.Properties
	for _, kv := range opts.UserProps {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return props, usageError("--user-property %q: want key=value", kv)
		}
		props.UserProperties = append(props.UserProperties, mqtt.UserProperty{Key: k, Value: val})
	}
	props.ContentType = opts.ContentType
	if opts.Expiry < 0 || opts.Expiry.Seconds() > 4294967295 {
		return props, usageError("--expiry %s: want a positive duration of at most 4294967295s (about 136 years), the MQTT 5 limit", opts.Expiry)
	}
	if opts.Expiry > 0 {
		s := uint32(max(1, opts.Expiry.Round(time.Second)/time.Second))
		props.MessageExpiry = &s
	}
	if v != mqtt.V5 && (len(opts.UserProps) > 0 || opts.ContentType != "" || opts.Expiry > 0) {
		opts.App.Warnf("--user-property, --content-type and --expiry are MQTT 5 properties: ignored on 3.1.1%s", map[bool]string{true: " (if auto falls back to it)"}[v == mqtt.VAuto])
	}
	return props, nil
}

func mqttPubRun(ctx context.Context, opts *MQTTPubOptions) error {
	app := opts.App
	o := opts.Publish
	o.Connected = func(ca mqtt.ConnAck) { noteVersion(app, o.Broker, ca) }
	rep := report.New("mqtt pub", o.Broker, app.Now)
	res, err := mqtt.Publish(ctx, o)
	if res.CloseWarning != "" {
		app.Warnf("%s", res.CloseWarning)
	}
	res.Report(rep, err)
	rep.Finish()
	if err != nil {
		if app.JSON() {
			_ = app.printJSON(rep)
		}
		e := pubFailure(err, res)
		e.OnStdout = app.JSON() // the report tells it
		return e
	}
	if res.QoS > 0 && res.NoSubscribers > 0 {
		app.Infof("note: the broker acknowledged %d of them with \"no matching subscribers\" (PUBACK 0x10): nobody subscribes to %s right now", res.NoSubscribers, res.Topic)
	}
	if app.JSON() {
		if note := res.Unproven(); note != "" {
			app.Infof("note: %s", note)
		}
		return app.printJSON(rep)
	}
	return writePubSummary(app, res)
}

// pubFailure words a failed pub: the step while reaching the broker, then
// what was sent and refused.
func pubFailure(err error, res *mqtt.PublishResult) *ExitError {
	if res.ConnAck == nil {
		return mqttFailure(err, true, mqtt.StepConnect)
	}
	if errors.Is(err, context.Canceled) && mqtt.StepOf(err) == "" {
		return &ExitError{Code: ExitProblem, Message: "interrupted before every message was published", Err: err}
	}
	e := mqttFailure(err, false, mqtt.StepPublish)
	e.Message = fmt.Sprintf("%s (%d sent, %d refused)", e.Message, res.Sent, res.Refused)
	return e
}

// writePubSummary is pub's one line for a person ("published 100
// message(s) to t at QoS 1, 100 acknowledged in 12ms (8300 msg/s)"), and
// the notes on what could not be proven.
func writePubSummary(app *App, res *mqtt.PublishResult) error {
	acked := ""
	if res.QoS > 0 {
		acked = fmt.Sprintf(", %d acknowledged", res.Acknowledged)
	}
	if res.Interrupted {
		app.Warnf("interrupted: stopped reading stdin; every line read before was published")
	}
	pace := ""
	if res.Sent > 1 {
		pace = fmt.Sprintf(" (%.0f msg/s)", res.RatePerSecond())
	}
	_, err := fmt.Fprintf(app.IO.Out, "published %d message(s) to %s at QoS %d%s in %s%s\n",
		res.Sent, res.Topic, res.QoS, acked, roundDuration(res.Elapsed), pace)
	if note := res.Unproven(); note != "" {
		app.Infof("note: %s", note)
	}
	return err
}

// roundDuration keeps three significant digits or so: 812ms, 1.25s, 340µs.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}
