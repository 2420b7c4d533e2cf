package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/netpath"
)

// The check IDs `ectool mqtt check` emits, in ladder order. They are listed
// in docs/checks.md and never change meaning.
const (
	CheckDNS            = "mqtt.dns"
	CheckTCP            = "mqtt.tcp"
	CheckTLS            = "mqtt.tls"
	CheckConnect        = "mqtt.connect"
	CheckSubscribe      = "mqtt.subscribe"
	CheckACLTestPrefix  = "mqtt.acl_test_prefix"
	CheckQoS0           = "mqtt.qos0"
	CheckQoS1           = "mqtt.qos1"
	CheckQoS2           = "mqtt.qos2"
	CheckRetained       = "mqtt.retained"
	CheckWill           = "mqtt.will"
	CheckACLDeny        = "mqtt.acl_deny"
	defaultCheckCount   = 10
	defaultCheckTimeout = 5 * time.Second
	// willKeepAlive is the keep-alive of the client cut off in the Will
	// check: short, so a broker that only notices the loss by keep-alive
	// expiry (no TCP reset reaches it) still publishes the Will quickly.
	willKeepAlive = 2 * time.Second
)

var checkTitles = map[string]string{
	CheckDNS:           "resolve the broker host",
	CheckTCP:           "open a TCP connection to the broker",
	CheckTLS:           "TLS handshake and certificates",
	CheckConnect:       "MQTT CONNECT accepted",
	CheckSubscribe:     "subscribe to the test topics",
	CheckACLTestPrefix: "credentials may use the test topic prefix",
	CheckQoS0:          "round trip at QoS 0",
	CheckQoS1:          "round trip at QoS 1",
	CheckQoS2:          "round trip at QoS 2",
	CheckRetained:      "retained message reaches a new subscriber",
	CheckWill:          "Last Will published when a client drops",
	CheckACLDeny:       "--deny-topic is refused (per-device ACL)",
}

// qosCheckIDs maps a QoS level to its round-trip check ID.
var qosCheckIDs = [3]string{CheckQoS0, CheckQoS1, CheckQoS2}

// CheckOptions configure the check ladder run by Check.
type CheckOptions struct {
	// Options say how to reach and log in to the broker. ClientID, when set,
	// is used by the main connection; the helper connections of the
	// retained and Will checks append "-r" and "-w" to it.
	Options
	// Count is the number of messages per QoS round trip (default 10).
	Count int
	// TopicPrefix is where the test topics live (default
	// ectool/check/<random>). It must be a topic name without wildcards.
	TopicPrefix string
	// DenyTopic, when set, is a topic these credentials must not use: the
	// acl_deny check proves publishing and subscribing there are refused.
	DenyTopic string
	// QoS lists the QoS levels to round-trip (default 0, 1, 2).
	QoS []byte
	// Timeout bounds each step (default 5s). A round trip may take one
	// Timeout to publish and one more for the last messages to arrive.
	Timeout time.Duration
	// Now is the clock of the report (nil: time.Now). Latencies always use
	// the monotonic clock.
	Now func() time.Time
	// Pins (sha256//BASE64, see netpath.Pin): when set, mqtt.tls fails
	// unless a certificate of the broker's chain has one of them.
	Pins []string
	// LinkOnly stops the ladder after the QoS round trips: the retained,
	// Will and ACL-deny checks test the broker's configuration, not the
	// link, and are skipped (a watch repeats only what a link can break).
	LinkOnly bool
}

func (o CheckOptions) withDefaults() CheckOptions {
	if o.Count <= 0 {
		o.Count = defaultCheckCount
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultCheckTimeout
	}
	if o.QoS == nil {
		o.QoS = []byte{0, 1, 2}
	}
	if o.Version == "" {
		o.Version = V5
	}
	run := randomHex(4)
	if o.TopicPrefix == "" {
		o.TopicPrefix = "ectool/check/" + run
	}
	if o.ClientID == "" && !o.EmptyClientID {
		o.ClientID = "ectool-chk-" + run
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.ConnectTimeout = o.Timeout
	o.CleanStart = true
	return o
}

// DefaultTopicPrefixRoot is the parent of the default random test prefix.
const DefaultTopicPrefixRoot = "ectool/check/"

// Check walks the diagnostic ladder against a broker: DNS, TCP, TLS,
// CONNECT, SUBSCRIBE, a round trip per QoS, a retained message, a Last Will
// and, with DenyTopic, the per-device ACL. Each step is bounded by
// o.Timeout; a failed step skips the steps that depend on it, each with a
// reason. Everything the ladder leaves on the broker (the retained test
// message) is removed before it returns. The report is finished.
func Check(ctx context.Context, o CheckOptions) *report.Report {
	userPrefix := o.TopicPrefix != ""
	o = o.withDefaults()
	r := report.New("mqtt check", redactURL(o.Broker), o.Now)
	c := &checker{ctx: ctx, o: o, r: r, userPrefix: userPrefix, run: randomHex(6), connect: Connect}
	// --client-id '' asks the broker to assign the main connection's id;
	// the helper connections still need ids of their own.
	c.helperBase = o.ClientID
	if c.helperBase == "" {
		c.helperBase = "ectool-chk-" + c.run
	}
	r.SetDetail("topic_prefix", o.TopicPrefix)
	r.SetDetail("client_id", o.ClientID)
	r.SetDetail("mqtt_version", string(o.Version))
	r.SetDetail("count", o.Count)
	r.SetDetail("timeout_ms", report.Millis(o.Timeout))
	c.ladder(ctx)
	c.cleanup()
	r.Finish()
	return r
}

// checker holds the state of one ladder run.
type checker struct {
	helperBase string          // helper connections' ids are this plus -r, -w
	ctx        context.Context // the caller's: cancelled means interrupted
	o          CheckOptions
	r          *report.Report
	run        string // random id in every payload, so stale messages are ignored
	userPrefix bool   // the prefix was given with --topic-prefix

	target  Broker
	tls     *netpath.HandshakeState // what the TLS handshake showed (TLS brokers only)
	netTime time.Duration
	main    Client
	router  *router
	connAck ConnAck

	// prefixOK is set once a message came back under the test prefix.
	prefixOK bool
	// cleanups run at the end, last first, each with its own time budget.
	cleanups []func(ctx context.Context)
	// connect opens the connections the checks add after CONNECT (Connect;
	// tests put a fake broker behind it).
	connect func(ctx context.Context, o Options) (Client, error)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// begin starts timing a check.
func (c *checker) begin(id string) (*report.Check, time.Time) {
	return &report.Check{ID: id, Title: checkTitles[id], Status: report.OK, Evidence: map[string]any{}}, time.Now()
}

// add records a check timed since start (unless it timed itself).
func (c *checker) add(ch *report.Check, start time.Time) {
	if ch.DurationMS == 0 {
		ch.DurationMS = report.Millis(time.Since(start))
	}
	if len(ch.Evidence) == 0 {
		ch.Evidence = nil
	}
	if ch.Status == report.Failed && interrupted(c.ctx) {
		// Not the broker's fault: the run was cut short (Ctrl-C).
		ch.Status, ch.Hint, ch.SkippedReason = report.Skipped, "", "interrupted"
	}
	c.r.Add(*ch)
}

func (c *checker) skip(reason string, ids ...string) {
	if interrupted(c.ctx) {
		reason = "interrupted"
	}
	for _, id := range ids {
		c.r.Skip(id, checkTitles[id], reason)
	}
}

// fail marks a check failed with a message (in the evidence) and a hint.
func fail(ch *report.Check, message, hint string) {
	ch.Status = report.Failed
	ch.Evidence["error"] = message
	ch.Hint = hint
}

// warn marks a check as warning with a hint.
func warn(ch *report.Check, hint string) {
	if ch.Status == report.OK {
		ch.Status = report.Warning
	}
	if ch.Hint == "" {
		ch.Hint = hint
	} else {
		ch.Hint += "; " + hint
	}
}

// after is the skipped_reason of a check that depends on a failed one.
func after(id string) string { return "depends on " + id + ", which failed" }

// stepCtx is a context bounded by one step timeout.
func (c *checker) stepCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.o.Timeout)
}

func (c *checker) ladder(ctx context.Context) {
	prefixChecks := []string{CheckSubscribe, CheckACLTestPrefix, CheckQoS0, CheckQoS1, CheckQoS2, CheckRetained, CheckWill}
	all := append([]string{CheckDNS, CheckTCP, CheckTLS, CheckConnect}, prefixChecks...)
	all = append(all, CheckACLDeny)

	t, err := ParseBroker(c.o.Broker)
	if err != nil {
		ch, start := c.begin(CheckDNS)
		fail(ch, err.Error(), "pass -b/--broker as mqtt://host:1883, mqtts://host:8883, ws://host/mqtt or wss://host/mqtt")
		c.add(ch, start)
		c.skip(after(CheckDNS), all[1:]...)
		return
	}
	c.target = t
	c.r.SetDetail("broker", map[string]any{"scheme": t.Scheme, "host": t.Host, "port": t.Port, "tls": t.TLS()})

	netStart := time.Now()
	addrs, ok := c.checkDNS(ctx)
	if !ok {
		c.skip(after(CheckDNS), all[1:]...)
		return
	}
	conn, ok := c.checkTCP(ctx, addrs)
	if !ok {
		c.skip(after(CheckTCP), all[2:]...)
		return
	}
	// The TLS check is recorded only after CONNECT: with TLS 1.3 a broker
	// rejects a client certificate after the client's handshake has
	// completed, so only the first read (the CONNACK) tells.
	var tlsCheck *report.Check
	var tlsStart time.Time
	if t.TLS() {
		tlsCheck, tlsStart = c.checkTLS(ctx, conn)
		if tlsCheck.Status == report.Failed {
			c.add(tlsCheck, tlsStart)
			c.skip(after(CheckTLS), all[3:]...)
			return
		}
	} else {
		conn.Close()
	}
	c.netTime = time.Since(netStart)
	connCheck, connStart, cl := c.checkConnect(ctx, tlsCheck)
	if tlsCheck != nil {
		c.add(tlsCheck, tlsStart)
		if tlsCheck.Status == report.Failed {
			c.skip(after(CheckTLS), all[3:]...)
			return
		}
	} else {
		c.skip("broker URL is not TLS", CheckTLS)
	}
	c.add(connCheck, connStart)
	if cl == nil {
		c.skip(after(CheckConnect), all[4:]...)
		return
	}
	c.main = cl
	c.router = newRouter(cl)
	c.cleanups = append(c.cleanups, func(ctx context.Context) { _ = cl.Disconnect(ctx) })

	c.checkPrefixLadder(ctx)
	if c.o.LinkOnly {
		c.skip(linkOnlyReason, CheckACLDeny)
		return
	}
	c.checkACLDeny(ctx)
}

// linkOnlyReason is the skipped_reason of the checks a link watch leaves out.
const linkOnlyReason = "not repeated by a link watch (run mqtt check without --every)"

// cleanup runs the cleanups, last first, each bounded by one step timeout
// and immune to the caller's cancellation (an interrupted run still clears
// its retained message).
func (c *checker) cleanup() {
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
		c.cleanups[i](ctx)
		cancel()
	}
}

// interrupted reports whether the caller cancelled the run.
func interrupted(ctx context.Context) bool { return ctx.Err() != nil }

func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	return d.String()
}
