package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho311 "github.com/eclipse/paho.mqtt.golang"
)

// client311 speaks MQTT 3.1.1 through paho.mqtt.golang over a connection we
// dialled (CustomOpenConnectionFn hands it over).
type client311 struct {
	*clientCore
	pc paho311.Client

	subMu sync.Mutex // SUBSCRIBE results are per filter: one at a time
	// inflight: QoS 1/2 publishes awaiting their acknowledgement.
	inflight atomic.Int64
	// lastDelivery (Unix nanoseconds) is when the library last handed us a
	// message; it acknowledges right after, on its own goroutine.
	lastDelivery atomic.Int64
}

func connect311(ctx context.Context, conn *bufConn, o Options, info *DialInfo) (*client311, error) {
	c := &client311{clientCore: newClientCore(conn, V311)}
	used := false
	opts := paho311.NewClientOptions().
		AddBroker("tcp://" + info.Broker.Addr()).
		SetCustomOpenConnectionFn(func(*url.URL, paho311.ClientOptions) (net.Conn, error) {
			if used {
				return nil, errors.New("ectool does not reconnect")
			}
			used = true
			return conn, nil
		}).
		SetProtocolVersion(4).
		SetClientID(o.ClientID).
		SetCleanSession(o.CleanStart).
		SetKeepAlive(o.KeepAlive).
		SetPingTimeout(o.ConnectTimeout).
		SetConnectTimeout(o.ConnectTimeout).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOrderMatters(true).
		SetResumeSubs(false).
		SetDefaultPublishHandler(func(_ paho311.Client, m paho311.Message) {
			c.received(Message{Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos(), Retain: m.Retained(), Dup: m.Duplicate(), Received: time.Now()})
			c.lastDelivery.Store(time.Now().UnixNano())
		}).
		SetConnectionLostHandler(func(_ paho311.Client, err error) {
			c.lost(err, "the broker closed the connection (MQTT 3.1.1 brokers do so to refuse a publish or subscription, or for another client with the same id): look at the broker's log")
			c.life.end()
			c.q.close()
		})
	if o.Username != "" {
		opts.SetUsername(o.Username)
	}
	if o.HasPassword {
		opts.SetPassword(o.Password)
	}
	if o.Will != nil {
		opts.SetBinaryWill(o.Will.Topic, o.Will.Payload, o.Will.QoS, o.Will.Retain)
	}
	c.pc = paho311.NewClient(opts)
	tok := c.pc.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return nil, connectStepError(ctx.Err(), conn, o, info)
	case <-time.After(o.ConnectTimeout + time.Second):
		return nil, connectStepError(context.DeadlineExceeded, conn, o, info)
	}
	ct := tok.(*paho311.ConnectToken)
	// Any return code but 0 refuses the connection; paho.mqtt.golang
	// takes the codes 3.1.1 does not define (6 and up) for success, so the
	// code is read from the CONNACK as it came off the wire.
	// paho.mqtt.golang read the CONNACK on this goroutine's token, so the
	// copy bufConn kept is complete by now.
	if body := conn.connack; len(body) >= 2 && body[1] != 0 {
		rc := body[1]
		if !connack311Known(rc) {
			go c.pc.Disconnect(0)
			return nil, connack311Undefined(rc)
		}
		return nil, connackRefused(V311, rc, "")
	}
	if err := tok.Error(); err != nil {
		return nil, connectStepError(unwrap311(err), conn, o, info)
	}
	c.connack = ConnAck{Version: V311, SessionPresent: ct.SessionPresent()}
	return c, nil
}

// connack311Undefined words a CONNACK return code MQTT 3.1.1 does not
// define: the broker refused us without a reason the protocol names.
func connack311Undefined(rc byte) *StepError {
	re := &ReasonError{Packet: PacketConnack, Version: V311, Code: rc}
	return &StepError{Step: StepConnect,
		Message: fmt.Sprintf("the broker answered CONNACK code 0x%02X, which MQTT 3.1.1 does not define: it refused the connection", rc),
		Hint:    "the broker (or a proxy in front of it) is not a standard MQTT 3.1.1 broker, or speaks another version: look at the broker's log; try --mqtt-version 5",
		Err:     re}
}

func connack311Known(rc byte) bool { _, ok := connack311[rc]; return ok && rc != 0 }

// unwrap311 maps paho.mqtt.golang's network errors back to what they wrap
// where it keeps them, so the CONNECT step can tell a timeout from a close.
func unwrap311(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	switch {
	case containsAnyOf(s, "EOF", "connection reset", "use of closed", "broken pipe"):
		return fmt.Errorf("%w: %s", net.ErrClosed, s)
	case containsAnyOf(s, "timeout", "timed out"):
		return fmt.Errorf("%w: %s", context.DeadlineExceeded, s)
	}
	return err
}

func containsAnyOf(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// wait waits for a token, the context or the connection's end.
func (c *client311) wait(ctx context.Context, tok paho311.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-c.life.done:
		// The token may have completed just before the connection ended.
		select {
		case <-tok.Done():
			return tok.Error()
		default:
			return net.ErrClosed
		}
	}
}

func (c *client311) Publish(ctx context.Context, m Message) error {
	return publishAndWait(ctx, c, m)
}

func (c *client311) PublishAsync(ctx context.Context, m Message, done func(error)) error {
	select {
	case <-c.life.done:
		return c.life.lostError(StepPublish, "publish to "+m.Topic+" not sent")
	default:
	}
	if m.QoS == 0 && c.inflight.Load() == 0 {
		// The fast path; only when no QoS 1/2 publish could still be
		// queued in the library, which it would overtake.
		if err := c.conn.writePacket(func(dst []byte) []byte { return appendQoS0Publish(dst, V311, m) }); err != nil {
			return c.life.lostError(StepPublish, "publish to "+m.Topic+" not sent")
		}
		done(nil)
		return nil
	}
	tok := c.pc.Publish(m.Topic, m.QoS, m.Retain, m.Payload)
	if m.QoS > 0 {
		c.inflight.Add(1)
		inner := done
		done = func(err error) { c.inflight.Add(-1); inner(err) }
	}
	go func() {
		select {
		case <-tok.Done():
			if tok.Error() == nil {
				done(nil)
				return
			}
		case <-c.life.done:
			select {
			case <-tok.Done():
				if tok.Error() == nil {
					done(nil)
					return
				}
			default:
			}
		}
		done(c.publishLost(m, tok.Error()))
	}()
	return nil
}

// publishLost words a publish that ended without its acknowledgement: on
// MQTT 3.1.1 a broker refuses a publish by closing the connection.
func (c *client311) publishLost(m Message, err error) error {
	select {
	case <-c.life.done:
	case <-time.After(300 * time.Millisecond):
	}
	select {
	case <-c.life.done:
		if c.life.isClosing() {
			return &StepError{Step: StepPublish, Message: "publish to " + m.Topic + " not acknowledged before the connection was closed", Err: net.ErrClosed}
		}
		return &StepError{Step: StepPublish,
			Message: "the broker closed the connection on the publish to " + m.Topic + ": MQTT 3.1.1 brokers refuse a publish this way",
			Hint:    "usually the broker's ACL does not allow this client on that topic (or the message is too large): check the user's ACL entries and the broker's log",
			Err:     &ReasonError{Packet: PacketDisconnect, Version: V311, Code: 0x87}}
	default:
	}
	if err == nil {
		err = net.ErrClosed
	}
	return &StepError{Step: StepPublish, Message: "publish to " + m.Topic + " failed: " + err.Error(), Err: err}
}

func (c *client311) Subscribe(ctx context.Context, subs ...Subscription) ([]byte, error) {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	c.subscribed.Store(true)
	filters := map[string]byte{}
	for _, s := range subs {
		filters[s.Filter] = s.QoS
	}
	tok := c.pc.SubscribeMultiple(filters, nil)
	if err := c.wait(ctx, tok); err != nil {
		if ctx.Err() != nil {
			return nil, &StepError{Step: StepSubscribe, Message: "no SUBACK in time", Hint: "the broker is slow or the link stalls: raise --timeout", Err: err}
		}
		if c.isDone() {
			return nil, &StepError{Step: StepSubscribe, Message: "the broker closed the connection on SUBSCRIBE: MQTT 3.1.1 brokers refuse a subscription this way",
				Hint: "usually the broker's ACL does not allow this filter: check the user's ACL entries and the broker's log", Err: err}
		}
		return nil, &StepError{Step: StepSubscribe, Message: "subscribe failed: " + err.Error(), Err: err}
	}
	res := tok.(*paho311.SubscribeToken).Result()
	codes := make([]byte, len(subs))
	for i, s := range subs {
		codes[i] = res[s.Filter]
	}
	for i, code := range codes {
		if code >= 0x80 {
			return codes, subscribeRefused(V311, code, "", subs[i].Filter)
		}
	}
	return codes, nil
}

func (c *client311) isDone() bool {
	select {
	case <-c.life.done:
		return true
	case <-time.After(300 * time.Millisecond):
		return false
	}
}

func (c *client311) Unsubscribe(ctx context.Context, filters ...string) error {
	if err := c.wait(ctx, c.pc.Unsubscribe(filters...)); err != nil {
		return &StepError{Step: StepSubscribe, Message: "unsubscribe failed: " + err.Error(), Err: err}
	}
	return nil
}

func (c *client311) Disconnect(ctx context.Context) error {
	live := !c.ended()
	c.life.setClosing()
	if !c.subscribed.Load() && !c.connack.SessionPresent && c.inflight.Load() == 0 {
		c.conn.noLinger.Store(true)
	}
	// paho.mqtt.golang sends DISCONNECT ahead of acknowledgements still
	// queued, and the broker would send those messages again next session:
	// give the acknowledgements of the last deliveries a moment to leave.
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
		if time.Since(time.Unix(0, c.lastDelivery.Load())) >= 20*time.Millisecond {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	quiesce := uint(1000)
	if d, ok := ctx.Deadline(); ok {
		if ms := time.Until(d).Milliseconds(); ms > 0 && ms < 1000 {
			quiesce = uint(ms)
		}
	}
	c.pc.Disconnect(quiesce)
	_ = c.conn.Close()
	c.life.end()
	c.q.close()
	if werr := c.conn.writeErr(); live && werr != nil {
		return disconnectNotSent(werr)
	}
	return nil
}

func (c *client311) Abort() error {
	c.life.setClosing()
	err := c.conn.abort()
	// paho.mqtt.golang notices the closed socket in its own time; the
	// connection is over for our caller now.
	c.life.end()
	c.q.close()
	go c.pc.Disconnect(0)
	return err
}

func (c *client311) Sync(ctx context.Context) error {
	if ok, err := c.conn.pingBarrier(ctx, c.life.done); !ok {
		return c.syncAfter(ctx, err, func() error {
			return &StepError{Step: StepPublish,
				Message: "the broker closed the connection after the publishes: MQTT 3.1.1 brokers refuse a publish this way",
				Hint:    "usually the broker's ACL does not allow this client on that topic, or the message is larger than the broker's limit (max_packet_size): check the user's ACL entries and the broker's log",
				Err:     c.life.Err()}
		})
	}
	return nil
}

func (c *client311) NoSubscribers() int { return 0 }
