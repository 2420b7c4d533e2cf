package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/mqtt"
)

func init() { registerGroup(NewCmdMQTT) }

// NewCmdMQTT is the `ectool mqtt` group.
func NewCmdMQTT(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mqtt",
		Short: "Publish, subscribe and check test topics against an MQTT broker",
		Long: `Publish and subscribe to test topics and check a broker the way a gateway uses it.

The broker is -b/--broker URL (or ECTOOL_MQTT_BROKER): mqtt://host (1883),
mqtts://host (8883), ws://host/mqtt (80), wss://host/mqtt (443). MQTT 5 is
spoken unless --mqtt-version 3.1.1. Reaching the broker runs DNS, TCP, TLS
and CONNECT in turn, each within --timeout, and a failure names its step in
words (exit 1).`,
	}
	cmd.AddCommand(NewCmdMQTTPub(app), NewCmdMQTTSub(app), NewCmdMQTTClearRetained(app), NewCmdMQTTCheck(app))
	return cmd
}

// connectFailure is the exit-1 error for a broker that could not be reached
// or refused us, naming the failed step.
func connectFailure(err error) *ExitError {
	msg, hint := mqtt.Explain(err)
	step := mqtt.StepOf(err)
	if step == "" {
		step = mqtt.StepConnect
	}
	return &ExitError{Code: ExitProblem, Message: fmt.Sprintf("mqtt.%s failed: %s", step, msg), Hint: hint, Err: err}
}

// stepFailure is the exit-1 error for a failure after connecting.
func stepFailure(err error) *ExitError {
	msg, hint := mqtt.Explain(err)
	if step := mqtt.StepOf(err); step != "" {
		msg = fmt.Sprintf("mqtt.%s failed: %s", step, msg)
	}
	return &ExitError{Code: ExitProblem, Message: msg, Hint: hint, Err: err}
}

// ---- pub ----

// MQTTPubOptions are the inputs of `ectool mqtt pub`.
type MQTTPubOptions struct {
	App  *App
	conn mqttConnFlags

	Topics      []string
	Topic       string
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

	// Filled in by complete.
	Conn       mqtt.Options
	qos        byte
	payload    []byte
	rate       float64
	properties mqtt.Properties
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
  tail -f readings.jsonl | ectool mqtt pub -b mqtt://localhost -t ec-data/site1/raw --stdin-lines`,
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
	fs.StringVar(&opts.File, "file", "", "read the payload from this file")
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

// complete checks every flag and input file before any network I/O.
func (opts *MQTTPubOptions) complete(cmd *cobra.Command) error {
	o, err := opts.conn.options(opts.App)
	if err != nil {
		return err
	}
	if opts.Timeout <= 0 {
		return usageError("--timeout %s: want a positive duration such as 10s", opts.Timeout)
	}
	o.ConnectTimeout = opts.Timeout
	opts.Conn = o
	switch len(opts.Topics) {
	case 0:
		return usageError("-t/--topic is required")
	case 1:
		opts.Topic = opts.Topics[0]
	default:
		return usageError("-t/--topic given %d times: pub publishes to one topic", len(opts.Topics))
	}
	if err := mqtt.ValidateTopic(opts.Topic); err != nil {
		return usageError("-t/--topic: %v", err)
	}
	if opts.qos, err = qosFlag(opts.QoS); err != nil {
		return err
	}
	sources := 0
	msgGiven := cmd.Flags().Changed("message")
	for _, given := range []bool{msgGiven, opts.File != "", opts.StdinLines} {
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
	}
	if opts.Count < 1 {
		return usageError("--count %d: want 1 or more", opts.Count)
	}
	opts.payload = []byte(opts.Message)
	if opts.File != "" {
		b, err := os.ReadFile(opts.File)
		if errors.Is(err, os.ErrPermission) {
			return unreadable("--file", opts.File)
		}
		if err != nil {
			return usageError("--file %s: %s", opts.File, pathProblem(err))
		}
		opts.payload = b
	}
	if opts.Rate != "" {
		r, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(opts.Rate), "/s"), 64)
		if err != nil || r <= 0 {
			return usageError("--rate %q: want messages per second, e.g. 50 or 50/s", opts.Rate)
		}
		opts.rate = r
	}
	for _, kv := range opts.UserProps {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageError("--user-property %q: want key=value", kv)
		}
		opts.properties.UserProperties = append(opts.properties.UserProperties, mqtt.UserProperty{Key: k, Value: v})
	}
	opts.properties.ContentType = opts.ContentType
	if opts.Expiry < 0 || opts.Expiry.Seconds() > 4294967295 {
		return usageError("--expiry %s: want a positive duration of at most 4294967295s (about 136 years), the MQTT 5 limit", opts.Expiry)
	}
	if opts.Expiry > 0 {
		s := uint32(max(1, opts.Expiry.Round(time.Second)/time.Second))
		opts.properties.MessageExpiry = &s
	}
	if o.Version == mqtt.V311 && (len(opts.UserProps) > 0 || opts.ContentType != "" || opts.Expiry > 0) {
		opts.App.Warnf("--user-property, --content-type and --expiry are MQTT 5 properties: ignored on 3.1.1")
	}
	return nil
}

// line is one line of stdin (or the error that ended reading).
type line struct {
	b   []byte
	err error
}

// readLines reads r line by line on its own goroutine; the channel closes
// at the end of input. The goroutine is left blocked in a read when the
// command ends first (the process exits).
func readLines(r io.Reader) <-chan line {
	ch := make(chan line, 1024)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			if len(sc.Bytes()) == 0 {
				continue // like mosquitto_pub -l: an empty retained message would delete the retained value
			}
			ch <- line{b: append([]byte(nil), sc.Bytes()...)}
		}
		if err := sc.Err(); err != nil {
			ch <- line{err: err}
		}
	}()
	return ch
}

func pathProblem(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		if errors.Is(err, os.ErrNotExist) {
			return "no such file"
		}
		return pe.Err.Error()
	}
	return err.Error()
}

// pubCounts are pub's results, shown as the report's details.
type pubCounts struct {
	mu           sync.Mutex
	sent         int
	acknowledged int
	refused      int
	firstErr     error
	lastProgress time.Time
	outstanding  int
	idle         *sync.Cond
}

func (p *pubCounts) ack(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outstanding--
	p.lastProgress = time.Now()
	if err != nil {
		var re *mqtt.ReasonError
		if errors.As(err, &re) {
			p.refused++
		}
		if p.firstErr == nil {
			p.firstErr = err
		}
	} else {
		p.acknowledged++
	}
	p.idle.Broadcast()
}

func (p *pubCounts) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstErr
}

// pubWindow is how many QoS 1/2 publishes may await their acknowledgement.
func pubWindow(ca mqtt.ConnAck) int {
	if ca.ReceiveMaximum != nil && *ca.ReceiveMaximum > 0 {
		return min(int(*ca.ReceiveMaximum), 4096)
	}
	if ca.Version == mqtt.V311 {
		return 1024
	}
	return 4096
}

func mqttPubRun(ctx context.Context, opts *MQTTPubOptions) error {
	app := opts.App
	defer relaxGC()()
	rep := report.New("mqtt pub", opts.Conn.Broker, app.Now)
	if opts.Conn.ClientID == "" && !opts.Conn.EmptyClientID {
		opts.Conn.ClientID = mqtt.RandomClientID()
	}
	c, err := mqtt.Connect(ctx, opts.Conn)
	if err != nil {
		return pubFailed(app, rep, err, nil, true)
	}
	rep.Add(report.Check{ID: "mqtt.connect", Title: "CONNECT accepted", Status: report.OK,
		Evidence: map[string]any{"mqtt_version": string(c.ConnAck().Version)}})
	app.Debugf("connected to %s (MQTT %s)", opts.Conn.Broker, c.ConnAck().Version)

	counts := &pubCounts{lastProgress: time.Now()}
	counts.idle = sync.NewCond(&counts.mu)
	window := make(chan struct{}, pubWindow(c.ConnAck()))
	done := func(err error) {
		<-window
		counts.ack(err)
	}
	var next func() ([]byte, bool, error)
	// --seq payloads name their publisher, so a subscriber can follow
	// several at once.
	src := opts.Conn.ClientID
	if src == "" {
		src = c.ConnAck().AssignedClientID
	}
	switch {
	case opts.StdinLines:
		// Lines are read on their own goroutine, so an interrupt stops
		// the command even while stdin stays open (tail -f).
		lines := readLines(app.IO.In)
		next = func() ([]byte, bool, error) {
			if ctx.Err() != nil {
				// Interrupted: publish what was already read, then stop.
				select {
				case l, ok := <-lines:
					if !ok {
						return nil, false, nil
					}
					return l.b, l.err == nil, l.err
				default:
					return nil, false, nil
				}
			}
			select {
			case l, ok := <-lines:
				if !ok {
					return nil, false, nil
				}
				return l.b, l.err == nil, l.err
			case <-ctx.Done():
				return nil, false, nil
			}
		}
	default:
		i := 0
		next = func() ([]byte, bool, error) {
			if i >= opts.Count {
				return nil, false, nil
			}
			i++
			if opts.Seq {
				return mqtt.AppendSeqPayload(make([]byte, 0, 64+len(opts.Message)), src, uint64(i), time.Now(), opts.Message), true, nil
			}
			return opts.payload, true, nil
		}
	}

	start := time.Now()
	var sendErr error
	// --stdin-lines publishes every line it has read even after an
	// interrupt: the publishes themselves are bounded by --timeout.
	pctx := ctx
	if opts.StdinLines {
		pctx = context.WithoutCancel(ctx)
	}
	for n := 0; ; n++ {
		if ctx.Err() != nil && !opts.StdinLines {
			sendErr = ctx.Err()
			break
		}
		if err := counts.failed(); err != nil {
			break
		}
		payload, ok, err := next()
		if err != nil {
			sendErr = &mqtt.StepError{Step: mqtt.StepPublish, Message: "reading stdin failed: " + err.Error(),
				Hint: "a line longer than 16 MiB? the producer feeding stdin failed?", Err: err}
			break
		}
		if !ok {
			break
		}
		// The pace is kept before each message but the first, never
		// after the last.
		if opts.rate > 0 {
			due := start.Add(time.Duration(float64(n) / opts.rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					if !opts.StdinLines {
						sendErr = ctx.Err()
					}
				}
			}
			if sendErr != nil {
				break
			}
		}
		m := mqtt.Message{Topic: opts.Topic, Payload: payload, QoS: opts.qos, Retain: opts.Retain, Properties: opts.properties}
		if opts.qos == 0 {
			if err := c.PublishAsync(pctx, m, func(error) {}); err != nil {
				sendErr = err
				break
			}
			counts.mu.Lock()
			counts.sent++
			counts.mu.Unlock()
			continue
		}
		if err := acquire(pctx, window, opts.Timeout, counts); err != nil {
			sendErr = err
			break
		}
		counts.mu.Lock()
		counts.outstanding++
		counts.sent++
		counts.mu.Unlock()
		// The window above is never larger than the broker's receive
		// maximum, so PublishAsync does not wait for one: no per-message
		// deadline is needed (acknowledgements are timed by acquire and
		// waitAcks).
		if err := c.PublishAsync(pctx, m, done); err != nil {
			<-window
			counts.mu.Lock()
			counts.outstanding--
			counts.sent--
			counts.mu.Unlock()
			sendErr = err
			break
		}
	}
	// After an interrupt of --stdin-lines, what was read is still sent
	// and acknowledged (within --timeout): the lines are not lost.
	interrupted := opts.StdinLines && ctx.Err() != nil
	wctx := ctx
	if interrupted {
		wctx = context.Background()
	}
	if sendErr == nil && counts.failed() == nil {
		if waitErr := waitAcks(wctx, counts, opts.Timeout); waitErr != nil {
			sendErr = waitErr
		} else if opts.qos == 0 && counts.sent > 0 && c.ConnAck().Version == mqtt.V311 {
			// QoS 0 has no acknowledgement, and a 3.1.1 broker refuses a
			// publish by closing the connection: a round trip shows it
			// took every publish. (An MQTT 5 broker that refuses says so
			// with a reason code instead; waiting for it to drain would
			// cost a QoS 0 load test about a third of its rate.)
			sctx, cancel := context.WithTimeout(wctx, opts.Timeout)
			sendErr = c.Sync(sctx)
			cancel()
		}
	}
	elapsed := time.Since(start)
	// A refusal recorded before we closed is the first cause; failures of
	// publishes our own close cut short are not.
	if first := counts.failed(); first != nil {
		sendErr = first
	}
	// A broker that stopped answering or is gone is not waited for; one
	// that refused a publish is still there and gets its DISCONNECT (no
	// Will).
	closeClient(app, c, opts.Conn.Will, gone(c, sendErr), opts.Timeout)

	counts.mu.Lock()
	defer counts.mu.Unlock()
	details := map[string]any{
		"topic": opts.Topic, "qos": opts.qos, "retain": opts.Retain,
		"mqtt_version": string(opts.Conn.Version),
		"sent":         counts.sent, "refused": counts.refused,
		"duration_ms": report.Millis(elapsed),
		"rate_per_s":  rate(counts.sent, elapsed),
	}
	if opts.qos > 0 {
		details["acknowledged"] = counts.acknowledged
		details["no_matching_subscribers"] = c.NoSubscribers()
	}
	if sendErr != nil {
		return pubFailed(app, rep, sendErr, details, false)
	}
	if n := c.NoSubscribers(); n > 0 {
		app.Infof("note: the broker acknowledged %d of them with \"no matching subscribers\" (PUBACK 0x10): nobody subscribes to %s right now", n, opts.Topic)
	}
	ev := map[string]any{"sent": counts.sent, "qos": opts.qos}
	// Exit 0 all the same: nothing was proven wrong.
	note := mqtt.UnprovenPublish(c.ConnAck().Version, opts.qos)
	if counts.sent == 0 {
		note = ""
	}
	if note != "" {
		ev["note"] = note
	}
	rep.Add(report.Check{ID: "mqtt.publish", Title: "messages published", Status: report.OK,
		Evidence: ev, DurationMS: report.Millis(elapsed)})
	for k, v := range details {
		rep.SetDetail(k, v)
	}
	rep.Finish()
	if app.JSON() {
		if note != "" {
			app.Infof("note: %s", note)
		}
		return writeJSON(app.IO.Out, rep)
	}
	acked := ""
	if opts.qos > 0 {
		acked = fmt.Sprintf(", %d acknowledged", counts.acknowledged)
	}
	if interrupted {
		app.Warnf("interrupted: stopped reading stdin; every line read before was published")
		rep.SetDetail("interrupted", true)
	}
	pace := ""
	if counts.sent > 1 {
		pace = fmt.Sprintf(" (%.0f msg/s)", rate(counts.sent, elapsed))
	}
	fmt.Fprintf(app.IO.Out, "published %d message(s) to %s at QoS %d%s in %s%s\n",
		counts.sent, opts.Topic, opts.qos, acked, roundDuration(elapsed), pace)
	if note != "" {
		app.Infof("note: %s", note)
	}
	return nil
}

// relaxGC lets the heap grow further between collections while messages
// stream through (a few short-lived allocations per message, a small live
// heap): it halves the CPU of a 100k-message run. GOGC, when set, wins. The
// returned function restores the setting.
func relaxGC() func() {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(800)
	return func() { debug.SetGCPercent(old) }
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

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(int64(float64(n)/d.Seconds()*10)) / 10
}

// acquire takes a slot in the window, failing when no acknowledgement
// frees one within timeout.
func acquire(ctx context.Context, window chan struct{}, timeout time.Duration, counts *pubCounts) error {
	select {
	case window <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case window <- struct{}{}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			counts.mu.Lock()
			idle := time.Since(counts.lastProgress)
			counts.mu.Unlock()
			if idle >= timeout {
				return &mqtt.StepError{Step: mqtt.StepPublish, Message: fmt.Sprintf("no acknowledgement from the broker for %s", timeout),
					Hint: "the broker stopped acknowledging: look at the broker's log; raise --timeout on a slow link", Err: context.DeadlineExceeded}
			}
			t.Reset(timeout - idle)
		}
	}
}

// waitAcks waits until every QoS 1/2 publish is answered, failing when
// none is for timeout.
func waitAcks(ctx context.Context, counts *pubCounts, timeout time.Duration) error {
	stop := context.AfterFunc(ctx, func() {
		counts.mu.Lock()
		counts.idle.Broadcast()
		counts.mu.Unlock()
	})
	defer stop()
	ticker := time.AfterFunc(timeout, func() {})
	defer ticker.Stop()
	counts.mu.Lock()
	defer counts.mu.Unlock()
	for counts.outstanding > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		idle := time.Since(counts.lastProgress)
		if idle >= timeout {
			return &mqtt.StepError{Step: mqtt.StepPublish, Message: fmt.Sprintf("%d publish(es) not acknowledged within %s", counts.outstanding, timeout),
				Hint: "the broker stopped acknowledging: look at the broker's log; raise --timeout on a slow link", Err: context.DeadlineExceeded}
		}
		ticker.Stop()
		ticker = time.AfterFunc(timeout-idle, func() {
			counts.mu.Lock()
			counts.idle.Broadcast()
			counts.mu.Unlock()
		})
		counts.idle.Wait()
	}
	return nil
}

// pubFailed renders the report of a failed pub (with -o json) and returns
// the exit-1 error naming the failed step.
func pubFailed(app *App, rep *report.Report, err error, details map[string]any, connecting bool) error {
	msg, hint := mqtt.Explain(err)
	step := mqtt.StepOf(err)
	if step == "" {
		step = mqtt.StepPublish
	}
	rep.Add(report.Check{ID: "mqtt." + string(step), Title: stepTitle(step), Status: report.Failed,
		Evidence: map[string]any{"error": msg}, Hint: hint})
	for k, v := range details {
		rep.SetDetail(k, v)
	}
	rep.Finish()
	if app.JSON() {
		_ = writeJSON(app.IO.Out, rep)
	}
	e := &ExitError{Code: ExitProblem, Message: msg, Hint: hint, Err: err}
	switch {
	case connecting:
		e = connectFailure(err)
	case errors.Is(err, context.Canceled):
		e = &ExitError{Code: ExitProblem, Message: "interrupted before every message was published"}
	case details != nil:
		e.Message = fmt.Sprintf("%s (%v sent, %v refused)", msg, details["sent"], details["refused"])
	}
	e.OnStdout = app.JSON() // the report tells it
	return e
}

// stepTitle is the title of a pub/clear-retained check, the same whether it
// passed or failed.
func stepTitle(step mqtt.Step) string {
	switch step {
	case mqtt.StepDNS:
		return "resolve the broker host"
	case mqtt.StepTCP:
		return "open a TCP connection to the broker"
	case mqtt.StepTLS:
		return "TLS handshake"
	case mqtt.StepConnect:
		return "CONNECT accepted"
	case mqtt.StepSubscribe:
		return "subscribed to the filters"
	case mqtt.StepPublish:
		return "messages published"
	case mqtt.StepReceive:
		return "connection stayed up"
	}
	return "step " + string(step)
}

// ---- sub ----

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

	Conn mqtt.Options
	qos  byte
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

With -o json a failure ends the stream with one {"error":{"step","message",
"hint","exit_code","received"}} line.`,
		Example: `  ectool mqtt sub -b mqtt://localhost -t 'ec-data/+/+/telemetry'
  ectool mqtt sub -b mqtt://localhost -t test/load -q 1 --count 10000 --timeout 60s --expect-seq
  ectool mqtt sub -b mqtt://localhost -t 'ec-data/#' --retained-only -o json`,
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
	return cmd
}

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
	opts.Conn = o
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
	if opts.qos, err = qosFlag(opts.QoS); err != nil {
		return err
	}
	if opts.Count < 0 {
		return usageError("--count %d: want 0 (no limit) or more", opts.Count)
	}
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

// retainedSettle is how long --retained-only and clear-retained wait after
// the last retained message (brokers send them right after SUBACK).
const retainedSettle = 500 * time.Millisecond

// flushDelay is how late a received line may reach a pipe: batching the
// writes keeps sub ahead of a fast publisher.
const flushDelay = 20 * time.Millisecond

func mqttSubRun(ctx context.Context, opts *MQTTSubOptions) error {
	app := opts.App
	defer relaxGC()()
	c, err := mqtt.Connect(ctx, opts.Conn)
	if err != nil {
		e := connectFailure(err)
		return subError(app, app.IO.Out, stepName(err, mqtt.StepConnect), e, 0)
	}
	failed := false
	defer func() { closeClient(app, c, opts.Conn.Will, failed, 2*time.Second) }()
	subs := make([]mqtt.Subscription, len(opts.Topics))
	for i, f := range opts.Topics {
		subs[i] = mqtt.Subscription{Filter: f, QoS: opts.qos}
	}
	sctx, cancel := context.WithTimeout(ctx, opts.Conn.ConnectTimeout)
	granted, err := c.Subscribe(sctx, subs...)
	cancel()
	if err != nil {
		failed = gone(c, err)
		return subError(app, app.IO.Out, stepName(err, mqtt.StepSubscribe), stepFailure(err), 0)
	}
	for i, g := range granted {
		if i < len(subs) && g < opts.qos {
			app.Warnf("the broker granted QoS %d for %s, not the %d asked for: messages arrive at QoS %d at most", g, subs[i].Filter, opts.qos, g)
		}
	}
	app.Debugf("subscribed to %s", strings.Join(opts.Topics, ", "))

	out := bufio.NewWriterSize(app.IO.Out, 64<<10)
	defer out.Flush()
	var deadline <-chan time.Time
	if opts.Timeout > 0 {
		t := time.NewTimer(opts.Timeout)
		defer t.Stop()
		deadline = t.C
	}
	var settle *time.Timer
	var settleC <-chan time.Time
	if opts.RetainedOnly {
		settle = time.NewTimer(retainedSettle)
		defer settle.Stop()
		settleC = settle.C
	}
	flush := time.NewTimer(time.Hour)
	flush.Stop()
	defer flush.Stop()
	flushArmed := false
	var tracker mqtt.SeqTracker
	n := 0
	var endErr error
	interrupted, timedOut := false, false
loop:
	for opts.Count == 0 || n < opts.Count {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				endErr = c.Err()
				break loop
			}
			if opts.RetainedOnly {
				if !m.Retain {
					break loop // retained messages come first
				}
				settle.Reset(retainedSettle)
			}
			n++
			if err := writeSubLine(app, out, m, &tracker, opts.ExpectSeq); err != nil {
				return cannotRun("", "writing output: %v", err)
			}
			// On a terminal every line shows at once; into a pipe, lines
			// go out in batches, at most flushDelay late.
			if app.IO.OutTTY {
				if err := out.Flush(); err != nil {
					return cannotRun("", "writing output: %v", err)
				}
			} else if !flushArmed {
				flush.Reset(flushDelay)
				flushArmed = true
			}
		case <-flush.C:
			flushArmed = false
			if err := out.Flush(); err != nil {
				return cannotRun("", "writing output: %v", err)
			}
		case <-settleC:
			break loop
		case <-deadline:
			timedOut = true
			break loop
		case <-ctx.Done():
			interrupted = true
			break loop
		}
	}
	sum := tracker.Summary()
	if opts.ExpectSeq {
		if app.JSON() {
			_ = writeJSON(out, map[string]any{"summary": sum})
		} else {
			before := ""
			if sum.BeforeFirst > 0 {
				before = fmt.Sprintf(" (%d numbered before the first received: sent before this subscriber joined, not counted)", sum.BeforeFirst)
			}
			fmt.Fprintf(out, "summary: received %d, lost %d, duplicated %d, out of order %d%s\n", sum.Received, sum.Lost, sum.Duplicated, sum.OutOfOrder, before)
		}
	}
	var fail *ExitError
	step := "mqtt.receive"
	switch {
	case endErr != nil:
		msg, hint := mqtt.Explain(endErr)
		step = stepName(endErr, mqtt.StepReceive)
		fail = &ExitError{Code: ExitProblem, Message: fmt.Sprintf("%s (after %d message(s))", msg, n), Hint: hint, Err: endErr}
	case opts.Count > 0 && n < opts.Count:
		why := fmt.Sprintf("within %s", opts.Timeout)
		if interrupted || !timedOut {
			why = "before the end"
		}
		hint := "check that the publisher runs and uses a topic matching " + strings.Join(opts.Topics, ", ") +
			"; a broker's queue limit (max_queued_messages) drops messages for slow subscribers"
		what := "message(s) arrived"
		if opts.RetainedOnly {
			what = "retained message(s) are held by the broker"
			why = "under " + strings.Join(opts.Topics, ", ")
			hint = "the publisher (gateway) may have stopped publishing with retain, or some devices have not reported yet: check it publishes with the retain flag"
		}
		fail = problem(hint, "only %d of %d %s %s", n, opts.Count, what, why)
	case opts.ExpectSeq && sum.Lost > 0:
		fail = problem("messages were lost between publisher and subscriber: check QoS (0 may drop) and the broker's queue limits (max_queued_messages)",
			"%d message(s) lost (received %d, duplicated %d, out of order %d)", sum.Lost, sum.Received, sum.Duplicated, sum.OutOfOrder)
	case opts.ExpectSeq && sum.Received == 0:
		hint := "nothing arrived to judge: check that 'ectool mqtt pub --seq' runs and publishes to a topic matching " + strings.Join(opts.Topics, ", ")
		if n > 0 {
			hint = "publish with 'ectool mqtt pub --seq': only its payloads carry a sequence number"
		}
		fail = problem(hint, "--expect-seq: no sequenced message arrived (%d message(s) without a sequence number)", n)
	}
	if fail != nil {
		failed = endErr != nil
		_ = subError(app, out, step, fail, n)
	}
	if err := out.Flush(); err != nil {
		return cannotRun("", "writing output: %v", err)
	}
	if fail != nil {
		return fail
	}
	return nil
}

// subError ends sub's JSON Lines stream with one {"error":...} line, so a
// pipeline reading stdout learns why it ended and how many messages came.
func subError(app *App, w io.Writer, step string, e *ExitError, received int) *ExitError {
	if app.JSON() {
		_ = writeJSON(w, map[string]any{"error": map[string]any{
			"step": step, "message": e.Message, "hint": e.Hint, "exit_code": e.Code, "received": received}})
		e.OnStdout = true
	}
	return e
}

// stepName is "mqtt.<step>" for an error, or for def when it names none.
func stepName(err error, def mqtt.Step) string {
	if s := mqtt.StepOf(err); s != "" {
		return "mqtt." + string(s)
	}
	return "mqtt." + string(def)
}

// closeClient ends a connection: gracefully after a success, at once after
// a failure (the broker has shown it does not answer, or is gone, so a
// graceful close would only add its wait to the error). With a Will, a
// DISCONNECT that could not be sent is said: the broker publishes the Will.
func closeClient(app *App, c mqtt.Client, will *mqtt.Will, failed bool, limit time.Duration) {
	if failed {
		_ = c.Abort()
		return
	}
	live := !connEnded(c)
	dctx, cancel := context.WithTimeout(context.Background(), limit)
	if err := c.Disconnect(dctx); err != nil && live && will != nil {
		msg, _ := mqtt.Explain(err)
		app.Warnf("%s: the broker takes this for a lost connection and publishes the Will on %s", msg, will.Topic)
	}
	cancel()
}

func writeSubLine(app *App, w io.Writer, m mqtt.Message, tracker *mqtt.SeqTracker, expectSeq bool) error {
	seq, isSeq := mqtt.ParseSeqPayload(m.Payload)
	verdict := ""
	if isSeq && expectSeq {
		switch tracker.Observe(seq) {
		case mqtt.Duplicate:
			verdict = "duplicate"
		case mqtt.OutOfOrder:
			verdict = "out_of_order"
		}
	}
	if !app.JSON() {
		line := m.Topic + " " + textPayload(m.Payload)
		if verdict != "" {
			line += " (" + strings.ReplaceAll(verdict, "_", " ") + ")"
		}
		_, err := io.WriteString(w, line+"\n")
		return err
	}
	l := subLine{Time: report.FormatTime(m.Received), Topic: m.Topic, QoS: m.QoS, Retain: m.Retain, Dup: m.Dup, SeqVerdict: verdict}
	if utf8.Valid(m.Payload) {
		s := string(m.Payload)
		l.Payload = &s
	} else {
		s := base64.StdEncoding.EncodeToString(m.Payload)
		l.PayloadBase64 = &s
	}
	p := m.Properties
	if p.ContentType != "" || p.MessageExpiry != nil || p.PayloadFormat != nil || p.ResponseTopic != "" || p.CorrelationData != nil || len(p.UserProperties) > 0 {
		l.Properties = &p
	}
	if isSeq {
		l.Seq = &seq.Seq
		lat := report.Millis(m.Received.Sub(seq.Sent))
		l.LatencyMS = &lat
	}
	return writeJSON(w, l)
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

// ---- clear-retained ----

// MQTTClearOptions are the inputs of `ectool mqtt clear-retained`.
type MQTTClearOptions struct {
	App     *App
	conn    mqttConnFlags
	Topics  []string
	Timeout time.Duration
	DryRun  bool

	Conn mqtt.Options
}

// NewCmdMQTTClearRetained builds `ectool mqtt clear-retained`.
func NewCmdMQTTClearRetained(app *App) *cobra.Command {
	return newCmdMQTTClearRetained(app, mqttClearRun)
}

func newCmdMQTTClearRetained(app *App, runF func(context.Context, *MQTTClearOptions) error) *cobra.Command {
	opts := &MQTTClearOptions{App: app}
	cmd := &cobra.Command{
		Use:   "clear-retained -t FILTER...",
		Short: "Remove the retained messages under topic filters, listing what was cleared",
		Long: `Subscribe to the filters, collect the retained messages the broker holds
(until none has arrived for 0.5s), and publish an empty retained message to each
topic, which makes the broker forget it. Lists every topic cleared, and every
topic the broker refused to clear (exit 1); a refusal does not stop the rest.`,
		Example: `  ectool mqtt clear-retained -b mqtt://localhost -t 'ectool/check/#'
  ectool mqtt clear-retained -b mqtt://localhost -t 'ec-data/site1/#' --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.complete(); err != nil {
				return err
			}
			return runF(cmd.Context(), opts)
		},
	}
	addMQTTConnFlags(cmd, &opts.conn)
	addTimeoutFlag(cmd, &opts.Timeout, 10*time.Second, "time allowed for each step: DNS, TCP, TLS, CONNECT, SUBSCRIBE, collecting, clearing")
	fs := cmd.Flags()
	fs.StringArrayVarP(&opts.Topics, "topic", "t", nil, "topic filter whose retained messages to clear (repeatable)")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "list the retained messages, clear nothing")
	return cmd
}

func (opts *MQTTClearOptions) complete() error {
	o, err := opts.conn.options(opts.App)
	if err != nil {
		return err
	}
	if opts.Timeout <= 0 {
		return usageError("--timeout %s: want a positive duration such as 10s", opts.Timeout)
	}
	o.ConnectTimeout = opts.Timeout
	opts.Conn = o
	if len(opts.Topics) == 0 {
		return usageError("-t/--topic is required (a topic filter such as ectool/check/#)")
	}
	for _, f := range opts.Topics {
		if err := mqtt.ValidateFilter(f); err != nil {
			return usageError("-t/--topic: %v", err)
		}
	}
	return nil
}

// refusedTopic is one entry of details.not_cleared.
type refusedTopic struct {
	Topic string `json:"topic"`
	Bytes int    `json:"bytes"`
	Error string `json:"error"`
}

// gone reports whether err shows a broker not worth a graceful close: the
// connection ended, or the broker stopped answering (a refusal leaves it
// there, and it gets its DISCONNECT, so no Will).
func gone(c mqtt.Client, err error) bool {
	return err != nil && (connEnded(c) || errors.Is(err, context.DeadlineExceeded))
}

// connEnded reports whether the connection has ended.
func connEnded(c mqtt.Client) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// clearedTopic is one entry of details.cleared.
type clearedTopic struct {
	Topic string `json:"topic"`
	Bytes int    `json:"bytes"`
}

func mqttClearRun(ctx context.Context, opts *MQTTClearOptions) error {
	app := opts.App
	rep := report.New("mqtt clear-retained", opts.Conn.Broker, app.Now)
	c, err := mqtt.Connect(ctx, opts.Conn)
	if err != nil {
		return pubFailed(app, rep, err, nil, true)
	}
	failed := false
	defer func() { closeClient(app, c, opts.Conn.Will, failed, 2*time.Second) }()
	rep.Add(report.Check{ID: "mqtt.connect", Title: "CONNECT accepted", Status: report.OK})
	subs := make([]mqtt.Subscription, len(opts.Topics))
	for i, f := range opts.Topics {
		subs[i] = mqtt.Subscription{Filter: f, QoS: 1}
	}
	sctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	_, err = c.Subscribe(sctx, subs...)
	cancel()
	if err != nil {
		failed = gone(c, err)
		return pubFailed(app, rep, err, nil, false)
	}
	rep.Add(report.Check{ID: "mqtt.subscribe", Title: "subscribed to the filters", Status: report.OK})

	found := map[string]int{}
	settle := time.NewTimer(retainedSettle)
	defer settle.Stop()
	limit := time.NewTimer(opts.Timeout)
	defer limit.Stop()
collect:
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				failed = true
				return pubFailed(app, rep, c.Err(), nil, false)
			}
			if !m.Retain {
				continue
			}
			found[m.Topic] = len(m.Payload)
			settle.Reset(retainedSettle)
		case <-settle.C:
			break collect
		case <-limit.C:
			app.Warnf("retained messages kept arriving for %s: clearing those seen so far", opts.Timeout)
			break collect
		case <-ctx.Done():
			return &ExitError{Code: ExitProblem, Message: "interrupted before clearing"}
		}
	}
	uctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	_ = c.Unsubscribe(uctx, opts.Topics...)
	cancel()

	topics := make([]string, 0, len(found))
	for t := range found {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	cleared := []clearedTopic{}
	refused := []refusedTopic{}
	var failure error
	if !opts.DryRun {
		for i, t := range topics {
			pctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			err := c.Publish(pctx, mqtt.Message{Topic: t, QoS: 1, Retain: true})
			cancel()
			if err == nil {
				cleared = append(cleared, clearedTopic{Topic: t, Bytes: found[t]})
				continue
			}
			if failure == nil {
				failure = err
			}
			msg, _ := mqtt.Explain(err)
			refused = append(refused, refusedTopic{Topic: t, Bytes: found[t], Error: msg})
			if ctx.Err() != nil || connEnded(c) {
				// The connection is gone (a 3.1.1 broker refuses this
				// way): the rest were not tried.
				for _, rest := range topics[i+1:] {
					refused = append(refused, refusedTopic{Topic: rest, Bytes: found[rest], Error: "not tried: the connection ended"})
				}
				break
			}
		}
	}
	rep.SetDetail("filters", opts.Topics)
	rep.SetDetail("found", len(topics))
	rep.SetDetail("cleared", cleared)
	rep.SetDetail("not_cleared", refused)
	if opts.DryRun {
		list := make([]clearedTopic, 0, len(topics))
		for _, t := range topics {
			list = append(list, clearedTopic{Topic: t, Bytes: found[t]})
		}
		rep.SetDetail("retained", list)
	}
	w := app.IO.Out
	if failure != nil {
		failed = connEnded(c)
		if !app.JSON() {
			for _, t := range cleared {
				fmt.Fprintf(w, "cleared %s (%d bytes)\n", t.Topic, t.Bytes)
			}
			for _, t := range refused {
				fmt.Fprintf(w, "NOT cleared %s (%d bytes): %s\n", t.Topic, t.Bytes, t.Error)
			}
			fmt.Fprintf(w, "found %d retained message(s) under %s: %d cleared, %d not\n", len(topics), strings.Join(opts.Topics, ", "), len(cleared), len(refused))
		}
		return pubFailed(app, rep, failure, nil, false)
	}
	rep.Add(report.Check{ID: "mqtt.clear_retained", Title: "retained messages cleared", Status: report.OK,
		Evidence: map[string]any{"found": len(topics), "cleared": len(cleared)}})
	rep.Finish()
	if app.JSON() {
		return writeJSON(app.IO.Out, rep)
	}
	if opts.DryRun {
		for _, t := range topics {
			fmt.Fprintf(w, "retained %s (%d bytes)\n", t, found[t])
		}
		fmt.Fprintf(w, "%d retained message(s) under %s; nothing cleared (--dry-run)\n", len(topics), strings.Join(opts.Topics, ", "))
		return nil
	}
	for _, t := range cleared {
		fmt.Fprintf(w, "cleared %s (%d bytes)\n", t.Topic, t.Bytes)
	}
	fmt.Fprintf(w, "cleared %d retained message(s) under %s\n", len(cleared), strings.Join(opts.Topics, ", "))
	return nil
}
