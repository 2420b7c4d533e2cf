package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// client5 speaks MQTT 5 through paho.golang over a connection we dialled.
type client5 struct {
	*clientCore
	pc     *paho.Client
	sess   *asyncSession
	pubMu  sync.Mutex   // publishes leave in call order
	noSubs atomic.Int64 // acknowledgements with 0x10 no matching subscribers
}

func connect5(ctx context.Context, conn *bufConn, o Options, info *DialInfo) (*client5, error) {
	c := &client5{clientCore: newClientCore(conn, V5), sess: newAsyncSession()}
	c.pc = paho.NewClient(paho.ClientConfig{
		Conn:    conn,
		Session: c.sess,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				c.received(fromPaho5(pr.Packet))
				return true, nil
			},
		},
		OnServerDisconnect: func(d *paho.Disconnect) {
			reason := ""
			if d.Properties != nil {
				reason = d.Properties.ReasonString
			}
			re := &ReasonError{Packet: PacketDisconnect, Version: V5, Code: d.ReasonCode, Reason: reason}
			c.life.fail(&StepError{Step: StepReceive,
				Message: fmt.Sprintf("the broker disconnected us: %s (DISCONNECT 0x%02X)", ReasonText(V5, PacketDisconnect, d.ReasonCode), d.ReasonCode),
				Hint:    ReasonHint(V5, PacketDisconnect, d.ReasonCode), Err: re})
		},
		OnClientError: func(err error) {
			c.lost(err, "the network or the broker dropped the connection (a broker also closes the older of two connections with the same client id): look at the broker's log")
		},
		// Operations are bounded by their callers' contexts.
		PacketTimeout: 24 * time.Hour,
	})

	cp := &paho.Connect{
		ClientID:   o.ClientID,
		CleanStart: o.CleanStart,
		KeepAlive:  uint16(math.Min(o.KeepAlive.Seconds(), 65535)),
		Properties: &paho.ConnectProperties{},
	}
	if !o.CleanStart {
		// Keep the session after we go, or there is nothing to resume.
		exp := uint32(math.MaxUint32)
		cp.Properties.SessionExpiryInterval = &exp
	}
	if o.Username != "" {
		cp.Username, cp.UsernameFlag = o.Username, true
	}
	if o.HasPassword {
		cp.Password, cp.PasswordFlag = []byte(o.Password), true
	}
	if o.Will != nil {
		cp.WillMessage = &paho.WillMessage{Topic: o.Will.Topic, Payload: o.Will.Payload, QoS: o.Will.QoS, Retain: o.Will.Retain}
		cp.WillProperties = &paho.WillProperties{}
	}
	cctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	// paho.golang closes the connection itself when CONNECT fails: no
	// graceful close then, which would wait for a silent broker on top of
	// --timeout.
	conn.noLinger.Store(true)
	ca, err := c.pc.Connect(cctx, cp)
	conn.noLinger.Store(false)
	if ca != nil && ca.ReasonCode >= 0x80 {
		reason := ""
		if ca.Properties != nil {
			reason = ca.Properties.ReasonString
		}
		return nil, connackRefused(V5, ca.ReasonCode, reason)
	}
	if err != nil {
		// No CONNACK: the broker is silent or gone, so close at once (a
		// graceful close would wait for it on top of --timeout).
		_ = conn.abort()
		_ = c.sess.Close()
		return nil, connectStepError(err, conn, o, info)
	}
	c.connack = connAckFrom5(ca)
	markAbsentFlags(&c.connack, conn.connack)
	go func() {
		<-c.pc.Done()
		c.life.end()
		c.q.close()
		c.sess.failAll()
		close(c.sess.stop)
		_ = c.sess.Close()
	}()
	return c, nil
}

func connAckFrom5(ca *paho.Connack) ConnAck {
	a := ConnAck{Version: V5, SessionPresent: ca.SessionPresent, ReasonCode: ca.ReasonCode}
	if p := ca.Properties; p != nil {
		a.MaximumQoS = p.MaximumQoS
		a.MaximumPacketSize = p.MaximumPacketSize
		a.TopicAliasMaximum = p.TopicAliasMaximum
		a.ServerKeepAlive = p.ServerKeepAlive
		a.ReceiveMaximum = p.ReceiveMaximum
		a.AssignedClientID = p.AssignedClientID
		a.ReasonString = p.ReasonString
		// paho.golang reports an absent flag as true (the protocol's
		// default); markAbsentFlags puts back which ones were absent.
		a.RetainAvailable = boolPtr(p.RetainAvailable)
		a.WildcardSubAvailable = boolPtr(p.WildcardSubAvailable)
		a.SharedSubAvailable = boolPtr(p.SharedSubAvailable)
		a.SubIDAvailable = boolPtr(p.SubIDAvailable)
	}
	return a
}

func boolPtr(b bool) *bool { return &b }

// markAbsentFlags sets the availability flags the broker did not send back
// to nil, reading the CONNACK as it came off the wire (body: flags, reason
// code, properties).
func markAbsentFlags(a *ConnAck, body []byte) {
	if len(body) < 3 {
		return
	}
	props := &packets.Properties{}
	if err := props.Unpack(bytes.NewBuffer(body[2:]), packets.CONNACK); err != nil {
		return
	}
	if props.RetainAvailable == nil {
		a.RetainAvailable = nil
	}
	if props.WildcardSubAvailable == nil {
		a.WildcardSubAvailable = nil
	}
	if props.SharedSubAvailable == nil {
		a.SharedSubAvailable = nil
	}
	if props.SubIDAvailable == nil {
		a.SubIDAvailable = nil
	}
}

func fromPaho5(p *paho.Publish) Message {
	m := Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Dup: p.Duplicate(), Received: time.Now()}
	if pp := p.Properties; pp != nil {
		m.Properties = Properties{
			ContentType: pp.ContentType, MessageExpiry: pp.MessageExpiry, PayloadFormat: pp.PayloadFormat,
			ResponseTopic: pp.ResponseTopic, CorrelationData: pp.CorrelationData,
		}
		for _, u := range pp.User {
			m.Properties.UserProperties = append(m.Properties.UserProperties, UserProperty{Key: u.Key, Value: u.Value})
		}
	}
	return m
}

func toPaho5(m Message) *paho.Publish {
	p := &paho.Publish{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain}
	if pr := m.Properties; pr.ContentType != "" || pr.MessageExpiry != nil || pr.PayloadFormat != nil ||
		pr.ResponseTopic != "" || pr.CorrelationData != nil || len(pr.UserProperties) > 0 {
		p.Properties = &paho.PublishProperties{
			ContentType: pr.ContentType, MessageExpiry: pr.MessageExpiry, PayloadFormat: pr.PayloadFormat,
			ResponseTopic: pr.ResponseTopic, CorrelationData: pr.CorrelationData,
		}
		for _, u := range pr.UserProperties {
			p.Properties.User = append(p.Properties.User, paho.UserProperty{Key: u.Key, Value: u.Value})
		}
	}
	return p
}

func (c *client5) Publish(ctx context.Context, m Message) error {
	return publishAndWait(ctx, c, m)
}

// publishAndWait is Publish built on PublishAsync.
func publishAndWait(ctx context.Context, c Client, m Message) error {
	res := make(chan error, 1)
	if err := c.PublishAsync(ctx, m, func(err error) { res <- err }); err != nil {
		return err
	}
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return &StepError{Step: StepPublish, Message: "publish to " + m.Topic + " not acknowledged in time", Hint: "the broker is slow or the link stalls: raise --timeout", Err: ctx.Err()}
	}
}

func (c *client5) PublishAsync(ctx context.Context, m Message, done func(error)) error {
	select {
	case <-c.life.done:
		return c.life.lostError(StepPublish, "publish to "+m.Topic+" not sent")
	default:
	}
	if m.QoS == 0 {
		return c.publishQoS0(m, done)
	}
	p := toPaho5(m)
	// abandoned: PublishAsync returned an error, so done must not be
	// called even if the session still ends the publish later.
	var abandoned atomic.Bool
	c.pubMu.Lock()
	c.sess.next = func(r packets.ControlPacket) {
		if !abandoned.Load() {
			done(c.ackResult(m, r))
		}
	}
	_, err := c.pc.PublishWithOptions(ctx, p, paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
	c.sess.next = nil
	if err != nil {
		abandoned.Store(true)
	}
	c.pubMu.Unlock()
	if err != nil {
		if errors.Is(err, paho.ErrInvalidArguments) {
			return c.limitError(m, err)
		}
		if ctx.Err() != nil {
			return &StepError{Step: StepPublish, Message: "publish to " + m.Topic + " not sent in time: the broker's receive window stayed full", Hint: "the broker does not acknowledge: raise --timeout, or look at the broker's log", Err: ctx.Err()}
		}
		return c.opError(ctx, err, StepPublish, "publish to "+m.Topic)
	}
	return nil
}

// publishQoS0 writes a QoS 0 PUBLISH straight into the connection (see
// appendQoS0Publish), after the checks paho.golang would make.
func (c *client5) publishQoS0(m Message, done func(error)) error {
	ca := c.connack
	if m.Retain && ca.RetainAvailable != nil && !*ca.RetainAvailable {
		return &StepError{Step: StepPublish, Message: "publish to " + m.Topic + " not sent: the broker does not support retained messages (CONNACK)",
			Hint: "publish without -r", Err: paho.ErrInvalidArguments}
	}
	if ca.MaximumPacketSize != nil && *ca.MaximumPacketSize > 0 {
		if n := publishPacketSize(V5, m); n > int(*ca.MaximumPacketSize) {
			re := &ReasonError{Packet: PacketPuback, Version: V5, Code: 0x95}
			return &StepError{Step: StepPublish, Message: fmt.Sprintf("publish to %s not sent: %d bytes, more than the broker's maximum packet size of %d", m.Topic, n, *ca.MaximumPacketSize),
				Hint: ReasonHint(V5, PacketPuback, 0x95), Err: re}
		}
	}
	c.pubMu.Lock()
	err := c.conn.writePacket(func(dst []byte) []byte { return appendQoS0Publish(dst, V5, m) })
	c.pubMu.Unlock()
	if err != nil {
		return c.life.lostError(StepPublish, "publish to "+m.Topic+" not sent")
	}
	done(nil)
	return nil
}

// ackResult turns the packet that ended a QoS 1/2 publish into its result.
func (c *client5) ackResult(m Message, r packets.ControlPacket) error {
	var code byte
	var reason, packet string
	switch a := r.Content.(type) {
	case *packets.Puback:
		code, packet = a.ReasonCode, PacketPuback
		if a.Properties != nil {
			reason = a.Properties.ReasonString
		}
	case *packets.Pubrec:
		code, packet = a.ReasonCode, PacketPubrec
		if a.Properties != nil {
			reason = a.Properties.ReasonString
		}
	case *packets.Pubcomp:
		code, packet = a.ReasonCode, PacketPubcomp
		if a.Properties != nil {
			reason = a.Properties.ReasonString
		}
	default:
		select {
		case <-c.life.done:
		case <-time.After(300 * time.Millisecond):
		}
		return c.life.lostError(StepPublish, "publish to "+m.Topic+" not acknowledged")
	}
	if code >= 0x80 {
		return publishRefused(V5, packet, code, reason, m.Topic)
	}
	if code == 0x10 {
		c.noSubs.Add(1)
	}
	return nil
}

func (c *client5) NoSubscribers() int { return int(c.noSubs.Load()) }

func publishRefused(v Version, packet string, code byte, reason, topic string) error {
	re := &ReasonError{Packet: packet, Version: v, Code: code, Reason: reason}
	msg := fmt.Sprintf("the broker refused the publish to %s: %s (%s 0x%02X)", topic, ReasonText(v, packet, code), packet, code)
	if reason != "" {
		msg += ": " + reason
	}
	hint := ReasonHint(v, packet, code)
	if strings.HasPrefix(topic, "$") {
		hint = "topics starting with $ (such as $SYS) are reserved for the broker itself: clients may not publish there"
	}
	return &StepError{Step: StepPublish, Message: msg, Hint: hint, Err: re}
}

func (c *client5) Subscribe(ctx context.Context, subs ...Subscription) ([]byte, error) {
	c.subscribed.Store(true)
	s := &paho.Subscribe{}
	for _, sub := range subs {
		s.Subscriptions = append(s.Subscriptions, paho.SubscribeOptions{Topic: sub.Filter, QoS: sub.QoS, RetainHandling: sub.RetainHandling, NoLocal: sub.NoLocal})
	}
	wctx, stop := c.untilEnd(ctx)
	sa, err := c.pc.Subscribe(wctx, s)
	stop()
	if sa != nil {
		reason := ""
		if sa.Properties != nil {
			reason = sa.Properties.ReasonString
		}
		for i, code := range sa.Reasons {
			if code >= 0x80 && i < len(subs) {
				return sa.Reasons, subscribeRefused(V5, code, reason, subs[i].Filter)
			}
		}
		if err == nil {
			return sa.Reasons, nil
		}
	}
	if err == nil {
		return nil, errors.New("no SUBACK")
	}
	return nil, c.opError(ctx, err, StepSubscribe, "subscribe")
}

func subscribeRefused(v Version, code byte, reason, filter string) error {
	re := &ReasonError{Packet: PacketSuback, Version: v, Code: code, Reason: reason}
	msg := fmt.Sprintf("the broker refused the subscription to %s: %s (SUBACK 0x%02X)", filter, ReasonText(v, PacketSuback, code), code)
	if reason != "" {
		msg += ": " + reason
	}
	return &StepError{Step: StepSubscribe, Message: msg, Hint: ReasonHint(v, PacketSuback, code), Err: re}
}

// untilEnd is ctx, also cancelled when the connection ends: paho.golang
// keeps waiting for a SUBACK or UNSUBACK after the broker has closed the
// connection, until its context ends.
func (c *client5) untilEnd(ctx context.Context) (context.Context, func()) {
	wctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-c.pc.Done():
		case <-wctx.Done():
		}
		cancel()
	}()
	return wctx, cancel
}

func (c *client5) opError(ctx context.Context, err error, step Step, what string) error {
	if errors.Is(err, paho.ErrInvalidArguments) {
		return &StepError{Step: step, Message: what + " not sent: " + err.Error(), Hint: "the broker's limits (CONNACK) do not allow it", Err: err}
	}
	select {
	case <-c.pc.Done():
		// The connection ended first: its reason (the broker's
		// DISCONNECT, a close) is the answer, not the timeout.
		if !c.life.isClosing() {
			<-c.life.done
			return c.life.lostError(step, what+" failed")
		}
	default:
	}
	if ctx.Err() != nil {
		msg := "no answer to " + what + " in time"
		switch what {
		case "subscribe":
			msg = "no SUBACK in time" // the same words as on 3.1.1
		case "unsubscribe":
			msg = "no UNSUBACK in time"
		}
		return &StepError{Step: step, Message: msg, Hint: "the broker is slow or the link stalls: raise --timeout", Err: ctx.Err()}
	}
	select {
	case <-c.life.done:
	case <-time.After(300 * time.Millisecond):
	}
	return c.life.lostError(step, what+" failed")
}

func (c *client5) Unsubscribe(ctx context.Context, filters ...string) error {
	wctx, stop := c.untilEnd(ctx)
	ua, err := c.pc.Unsubscribe(wctx, &paho.Unsubscribe{Topics: filters})
	stop()
	if ua != nil {
		for i, code := range ua.Reasons {
			if code >= 0x80 && i < len(filters) {
				re := &ReasonError{Packet: PacketUnsuback, Version: V5, Code: code}
				return &StepError{Step: StepSubscribe, Message: fmt.Sprintf("the broker refused to unsubscribe %s: %s", filters[i], ReasonText(V5, PacketUnsuback, code)),
					Hint: ReasonHint(V5, PacketUnsuback, code), Err: re}
			}
		}
		if err == nil {
			return nil
		}
	}
	if err != nil {
		return c.opError(ctx, err, StepSubscribe, "unsubscribe")
	}
	return nil
}

func (c *client5) Disconnect(ctx context.Context) error {
	live := !c.ended()
	c.life.setClosing()
	if !c.subscribed.Load() && !c.connack.SessionPresent && c.sess.pendingCount() == 0 {
		c.conn.noLinger.Store(true)
	}
	err := c.pc.Disconnect(&paho.Disconnect{ReasonCode: 0})
	select {
	case <-c.life.done:
	case <-ctx.Done():
	}
	// paho.golang has closed the connection: the last flush is over.
	if werr := c.conn.writeErr(); live && werr != nil {
		return disconnectNotSent(werr)
	}
	return err
}

func (c *client5) Abort() error {
	c.life.setClosing()
	return c.conn.abort()
}

func (c *client5) Sync(ctx context.Context) error {
	if ok, err := c.conn.pingBarrier(ctx, c.pc.Done()); !ok {
		// An MQTT 5 broker refuses with a reason code, not by closing.
		return c.syncAfter(ctx, err, nil)
	}
	return nil
}

// limitError words a publish paho.golang refused to send because the
// broker's CONNACK limits do not allow it.
func (c *client5) limitError(m Message, err error) error {
	ca := c.connack
	switch {
	case ca.MaximumQoS != nil && m.QoS > *ca.MaximumQoS:
		return &StepError{Step: StepPublish,
			Message: fmt.Sprintf("publish to %s not sent: the broker's maximum QoS is %d (CONNACK), and QoS %d was asked for", m.Topic, *ca.MaximumQoS, m.QoS),
			Hint:    fmt.Sprintf("use -q %d or lower", *ca.MaximumQoS), Err: err}
	case m.Retain && ca.RetainAvailable != nil && !*ca.RetainAvailable:
		return &StepError{Step: StepPublish, Message: "publish to " + m.Topic + " not sent: the broker does not support retained messages (CONNACK)",
			Hint: "publish without -r", Err: err}
	case ca.MaximumPacketSize != nil && publishPacketSize(V5, m) > int(*ca.MaximumPacketSize):
		return &StepError{Step: StepPublish,
			Message: fmt.Sprintf("publish to %s not sent: %d bytes, more than the broker's maximum packet size of %d", m.Topic, publishPacketSize(V5, m), *ca.MaximumPacketSize),
			Hint:    ReasonHint(V5, PacketPuback, 0x95), Err: err}
	}
	return &StepError{Step: StepPublish, Message: "publish to " + m.Topic + " not sent: the broker's limits (CONNACK) do not allow this message",
		Hint: "check QoS, retain and size against the broker's limits ('ectool mqtt check' shows them)", Err: err}
}
