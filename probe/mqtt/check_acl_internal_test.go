package mqtt

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// fakeBroker is an in-memory broker behind the ACL check: it routes each
// publish to its clients' exact-topic subscriptions and answers a publish
// to a denied topic the way the case under test asks. Everything it does
// happens before the call that caused it returns, so the cases are
// deterministic: the races a real broker leaves to the scheduler are here
// decided against ectool.
type fakeBroker struct {
	version Version
	denied  map[string]bool
	// closeAfterAnswer: after answering a publish to a denied topic
	// (PUBACK 0x87 on MQTT 5, a plain PUBACK on 3.1.1), close that
	// connection before Publish returns, as mosquitto 2.0.11 does with
	// max_queued_messages 0 (upstream issue 3244).
	closeAfterAnswer bool
	// oneConnection refuses every connection after the first, as brokers
	// that tie credentials to one client id do.
	oneConnection bool

	mu      sync.Mutex
	clients []*fakeClient
}

type fakeClient struct {
	b      *fakeBroker
	subs   map[string]bool
	msgs   chan Message
	done   chan struct{}
	closed bool
}

func (b *fakeBroker) client() *fakeClient {
	c := &fakeClient{b: b, subs: map[string]bool{}, msgs: make(chan Message, 64), done: make(chan struct{})}
	b.mu.Lock()
	b.clients = append(b.clients, c)
	b.mu.Unlock()
	return c
}

func (b *fakeBroker) connect(context.Context, Options) (Client, error) {
	if b.oneConnection {
		re := &ReasonError{Packet: PacketConnack, Version: b.version, Code: 0x87}
		return nil, &StepError{Step: StepConnect, Message: "the broker refused the connection: not authorized", Err: re}
	}
	return b.client(), nil
}

// closeLocked ends the connection (b.mu held).
func (c *fakeClient) closeLocked() {
	if !c.closed {
		c.closed = true
		close(c.done)
		close(c.msgs)
	}
}

func (c *fakeClient) lost(step Step) error {
	return &StepError{Step: step, Message: "the broker closed the connection", Err: net.ErrClosed}
}

func (c *fakeClient) ConnAck() ConnAck { return ConnAck{Version: c.b.version} }

func (c *fakeClient) Publish(_ context.Context, m Message) error {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.closed {
		return c.lost(StepPublish)
	}
	if b.denied[m.Topic] {
		if m.QoS == 0 {
			return nil // dropped without a word: QoS 0 has no answer
		}
		var err error
		if b.version == V5 {
			err = publishRefused(V5, PacketPuback, 0x87, "", m.Topic)
		}
		if b.closeAfterAnswer {
			c.closeLocked()
		}
		return err
	}
	for _, o := range b.clients {
		if !o.closed && o.subs[m.Topic] {
			o.msgs <- m
		}
	}
	return nil
}

func (c *fakeClient) PublishAsync(ctx context.Context, m Message, done func(error)) error {
	done(c.Publish(ctx, m))
	return nil
}

func (c *fakeClient) Subscribe(_ context.Context, subs ...Subscription) ([]byte, error) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if c.closed {
		return nil, c.lost(StepSubscribe)
	}
	codes := make([]byte, len(subs))
	for i, s := range subs {
		c.subs[s.Filter] = true
		codes[i] = s.QoS
	}
	return codes, nil
}

func (c *fakeClient) Unsubscribe(_ context.Context, filters ...string) error {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	for _, f := range filters {
		delete(c.subs, f)
	}
	return nil
}

func (c *fakeClient) Messages() <-chan Message { return c.msgs }
func (c *fakeClient) Done() <-chan struct{}    { return c.done }
func (c *fakeClient) Err() error {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if c.closed {
		return c.lost(StepReceive)
	}
	return nil
}

func (c *fakeClient) Sync(context.Context) error {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if c.closed {
		return c.lost(StepPublish)
	}
	return nil
}

func (c *fakeClient) NoSubscribers() int { return 0 }

func (c *fakeClient) Disconnect(context.Context) error {
	c.b.mu.Lock()
	c.closeLocked()
	c.b.mu.Unlock()
	return nil
}

func (c *fakeClient) Abort() error { return c.Disconnect(context.Background()) }

// runACLDeny runs mqtt.acl_deny alone against b, as the ladder leaves it:
// the main connection subscribed to the Will topic, the prefix proven.
func runACLDeny(t *testing.T, b *fakeBroker, deny string) report.Check {
	t.Helper()
	o := CheckOptions{Options: Options{Broker: "mqtt://fake", Version: b.version}, DenyTopic: deny, Timeout: 2 * time.Second}
	o = o.withDefaults()
	c := &checker{ctx: context.Background(), o: o, r: report.New("mqtt check", "fake", o.Now), run: randomHex(6),
		connect: b.connect, helperBase: o.ClientID, prefixOK: true, connAck: ConnAck{Version: b.version}}
	main := b.client()
	main.subs[c.topic("will")] = true
	c.main, c.router = main, newRouter(main)
	c.checkACLDeny(context.Background())
	c.cleanup()
	for _, ch := range c.r.Checks {
		if ch.ID == CheckACLDeny {
			return ch
		}
	}
	t.Fatal("no mqtt.acl_deny in the report")
	return report.Check{}
}

func TestACLDenyWhenTheBrokerClosesTheConnectionAfterARefusedPublish(t *testing.T) {
	for _, v := range []Version{V5, V311} {
		t.Run(string(v), func(t *testing.T) {
			b := &fakeBroker{version: v, denied: map[string]bool{"devices/other/telemetry": true}, closeAfterAnswer: true}
			ch := runACLDeny(t, b, "devices/other/telemetry")
			text := strings.ToLower(ch.Hint)
			if ch.Status != report.Warning || ch.Evidence["delivered"] != false ||
				!strings.Contains(text, "drops every gateway") || !strings.Contains(text, "max_queued_messages") {
				t.Errorf("want a warning naming the broker's close, nothing delivered: %s %v %q", ch.Status, ch.Evidence, ch.Hint)
			}
			if ch.Evidence["subscribe"] != "granted QoS 1" {
				t.Errorf("subscribe: %v", ch.Evidence["subscribe"])
			}
			if v == V5 && !strings.HasPrefix(ch.Evidence["publish"].(string), "refused: 0x87") {
				t.Errorf("publish: %v", ch.Evidence["publish"])
			}
			for k, e := range ch.Evidence {
				if s, ok := e.(string); ok && strings.Contains(s, "subscribing is refused") {
					t.Errorf("%s says %q beside a granted subscription", k, s)
				}
			}
		})
	}
}

func TestACLDenyWhenTheBrokerKeepsTheConnection(t *testing.T) {
	for _, v := range []Version{V5, V311} {
		t.Run(string(v), func(t *testing.T) {
			b := &fakeBroker{version: v, denied: map[string]bool{"devices/other/telemetry": true}}
			ch := runACLDeny(t, b, "devices/other/telemetry")
			if ch.Status != report.OK || ch.Evidence["delivered"] != false {
				t.Errorf("want ok, nothing delivered: %s %v %q", ch.Status, ch.Evidence, ch.Hint)
			}
		})
		t.Run(string(v)+"/not protected", func(t *testing.T) {
			b := &fakeBroker{version: v}
			ch := runACLDeny(t, b, "devices/other/telemetry")
			if ch.Status != report.Failed || ch.Evidence["delivered"] != true {
				t.Errorf("want failed, delivered: %s %v %q", ch.Status, ch.Evidence, ch.Hint)
			}
		})
	}
}

// Both clients close Done before the last messages are out of their queue,
// and the router hands those on later still: waiting must not stop at the
// close while a message is on its way.
func TestAMessageDeliveredJustBeforeTheCloseIsNotMissed(t *testing.T) {
	b := &fakeBroker{version: V5}
	cl := b.client()
	rt := newRouter(cl)
	inbox := rt.route("devices/other/telemetry", 8)
	b.mu.Lock()
	cl.closed = true
	close(cl.done)
	b.mu.Unlock()
	go func() {
		cl.msgs <- Message{Topic: "devices/other/telemetry", Payload: []byte("last")}
		close(cl.msgs)
	}()
	c := &checker{}
	m, ok := c.waitFor(context.Background(), inbox, func(Message) bool { return true }, 5*time.Second)
	if !ok || string(m.Payload) != "last" {
		t.Fatalf("got %q %v, want the last message", m.Payload, ok)
	}
	if _, open := <-inbox; open {
		t.Error("the inbox is still open after the connection's end")
	}
	if _, open := <-rt.route("late", 1); open {
		t.Error("an inbox opened after the end is open")
	}
}

// A broker that refuses a second connection: the watching connection
// publishes, and when the broker closes it after the refusal, delivery is
// said to be unobservable, never "not delivered".
func TestACLDenyWithOneConnectionPerClient(t *testing.T) {
	for _, closes := range []bool{false, true} {
		b := &fakeBroker{version: V5, denied: map[string]bool{"devices/other/telemetry": true}, oneConnection: true, closeAfterAnswer: closes}
		ch := runACLDeny(t, b, "devices/other/telemetry")
		note, _ := ch.Evidence["publisher_note"].(string)
		if !strings.Contains(note, "the watching connection published") || !strings.HasPrefix(ch.Evidence["publish"].(string), "refused: 0x87") {
			t.Errorf("closes %v: %v", closes, ch.Evidence)
		}
		switch d := ch.Evidence["delivered"]; {
		case !closes && (ch.Status != report.OK || d != false):
			t.Errorf("connection kept: %s %v %q", ch.Status, ch.Evidence, ch.Hint)
		case closes && (ch.Status != report.Warning || d == false || !strings.Contains(ch.Hint, "drops every gateway")):
			t.Errorf("connection closed: %s %v %q", ch.Status, ch.Evidence, ch.Hint)
		}
	}
}
