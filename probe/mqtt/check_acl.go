package mqtt

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ecdata/ectool/diag/report"
)

// checkACLDeny proves the per-device ACL with --deny-topic: subscribing
// there must be refused or never deliver, and publishing there must be
// refused or never delivered. Its publish is never retained, so a broker
// without an ACL keeps nothing of it.
//
// The main connection watches the deny topic and a connection of its own
// publishes there, so whatever the broker does to the publisher (some close
// the connection on a refused publish) leaves the watching subscription in
// place: "nothing was delivered" is then always seen on a live
// subscription, never assumed.
func (c *checker) checkACLDeny(ctx context.Context) {
	if c.o.DenyTopic == "" {
		c.skip("no --deny-topic given: pass a topic these credentials must not use (another device's) to prove the per-device ACL", CheckACLDeny)
		return
	}
	ch, start := c.begin(CheckACLDeny)
	defer c.add(ch, start)
	topic := c.o.DenyTopic
	ch.Evidence["topic"] = topic

	w, rt, err := c.liveMain(ctx)
	if err != nil {
		msg, hint := c.connectWords(err)
		fail(ch, "reconnecting for the ACL check failed: "+msg, hint)
		return
	}
	sink := rt.route(topic, 8)
	defer rt.unroute(topic)
	sub, ok := c.aclSubscribe(ctx, ch, w)
	if !ok {
		return
	}

	p := c.aclPublisher(ctx, ch, w)
	if p != w {
		defer func() {
			dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), c.o.Timeout)
			_ = p.Disconnect(dctx)
			dcancel()
		}()
	}
	pub := c.aclPublish(ctx, ch, p)

	if sub.granted {
		c.aclDelivery(ctx, ch, w, rt, sink, p, &sub)
	} else {
		ch.Evidence["delivered"] = "not observable (" + sub.why + ")"
	}
	c.aclVerdict(ch, sub, pub)
}

// aclSub is what subscribing to the deny topic showed.
type aclSub struct {
	granted   bool
	delivered bool
	why       string // why delivery is not observable
}

// aclPub is what publishing to the deny topic showed.
type aclPub struct {
	refused  bool // refused with a reason code, or by closing the connection on it
	accepted bool // acknowledged (or sent at QoS 0) without a refusal
	answered bool // the broker answered it (PUBACK/PUBREC, refusing or not)
	// closedAfter: the broker closed the publisher's connection after the
	// publish (a PINGREQ behind it went unanswered).
	closedAfter bool
	code        *ReasonError
}

// aclPublisher opens the connection that publishes to the deny topic. A
// broker that ties credentials to one client id refuses it: the watching
// connection w publishes then, and delivery stays observable only as long
// as the broker keeps w.
func (c *checker) aclPublisher(ctx context.Context, ch *report.Check, w Client) Client {
	pubID := c.helperBase + "-a"
	pctx, cancel := c.stepCtx(ctx)
	defer cancel()
	p, err := c.connect(pctx, c.helperOpts("-a"))
	if err != nil {
		msg, _ := c.connectWords(err)
		id := c.o.ClientID
		if id == "" {
			id = w.ConnAck().AssignedClientID
		}
		ch.Evidence["publisher_client_id"] = id
		ch.Evidence["publisher_note"] = fmt.Sprintf("the watching connection published: a second one (client id %s) failed: %s", pubID, msg)
		return w
	}
	ch.Evidence["publisher_client_id"] = pubID
	return p
}

// aclSubscribe subscribes the watching connection w to the deny topic. ok
// is false when the check failed.
func (c *checker) aclSubscribe(ctx context.Context, ch *report.Check, w Client) (aclSub, bool) {
	topic := c.o.DenyTopic
	sctx, cancel := c.stepCtx(ctx)
	codes, err := w.Subscribe(sctx, Subscription{Filter: topic, QoS: c.helperQoS()})
	cancel()
	var re *ReasonError
	switch {
	case len(codes) > 0 && codes[0] >= 0x80:
		ch.Evidence["subscribe"] = "refused: " + reasonWords(c.o.Version, PacketSuback, codes[0])
		return aclSub{why: "subscribing there is refused"}, true
	case err != nil && errors.As(err, &re):
		ch.Evidence["subscribe"] = "refused: " + reasonWords(c.o.Version, PacketSuback, re.Code)
		return aclSub{why: "subscribing there is refused"}, true
	case err != nil && isDone(w) && c.o.Version == V311:
		ch.Evidence["subscribe"] = "refused: the broker closed the connection on SUBSCRIBE (the only refusal MQTT 3.1.1 has)"
		return aclSub{why: "subscribing there is refused"}, true
	case err != nil && isDone(w):
		ch.Evidence["subscribe"] = "no SUBACK: the broker closed the connection on SUBSCRIBE"
		return aclSub{why: "the broker closed the connection on SUBSCRIBE"}, true
	case err != nil:
		msg, hint := Explain(err)
		fail(ch, "SUBSCRIBE to the deny topic failed: "+msg, hint)
		return aclSub{}, false
	}
	g := byte(0)
	if len(codes) > 0 {
		g = codes[0]
	}
	ch.Evidence["subscribe"] = fmt.Sprintf("granted QoS %d", g)
	return aclSub{granted: true}, true
}

// aclPublish publishes the probe from p, then sends a PINGREQ behind it:
// its answer proves the broker read the probe and kept the connection.
func (c *checker) aclPublish(ctx context.Context, ch *report.Check, p Client) aclPub {
	topic := c.o.DenyTopic
	q := c.helperQoS()
	expiry := uint32(10)
	pctx, cancel := c.stepCtx(ctx)
	err := p.Publish(pctx, Message{Topic: topic, Payload: c.payload("acl", 0), QoS: q,
		Properties: Properties{MessageExpiry: &expiry}})
	cancel()
	var out aclPub
	var re *ReasonError
	switch {
	case err != nil && errors.As(err, &re):
		out.refused, out.answered, out.code = true, true, re
		ch.Evidence["publish"] = "refused: " + reasonWords(c.o.Version, re.Packet, re.Code)
	case err != nil && isDone(p):
		out.refused = true
		ch.Evidence["publish"] = "refused: the broker closed the connection on it without answering"
		if c.o.Version == V311 {
			ch.Evidence["publish"] = "refused: the broker closed the connection on it (the only refusal MQTT 3.1.1 has)"
		}
	case err != nil:
		msg, _ := Explain(err)
		ch.Evidence["publish"] = "no acknowledgement: " + msg
	case q == 0:
		out.accepted = true
		ch.Evidence["publish"] = "sent at QoS 0 (no acknowledgement to refuse it)"
	case c.o.Version == V311:
		out.accepted, out.answered = true, true
		ch.Evidence["publish"] = "acknowledged (an MQTT 3.1.1 PUBACK cannot carry a refusal)"
	default:
		out.accepted, out.answered = true, true
		ch.Evidence["publish"] = "accepted (acknowledged without a refusal)"
	}
	if isDone(p) {
		if !out.answered {
			return out // closed on the publish itself: said above
		}
		out.closedAfter = true
	} else {
		sctx, scancel := c.stepCtx(ctx)
		serr := p.Sync(sctx)
		scancel()
		switch {
		case serr == nil:
			ch.Evidence["publisher_connection"] = "kept (the broker answered a PINGREQ sent after the publish)"
			return out
		case !isDone(p):
			ch.Evidence["publisher_connection"] = "unknown: no answer to a PINGREQ sent after the publish"
			return out
		case !out.answered:
			// QoS 0, or no acknowledgement: the close is the refusal.
			out.refused, out.accepted = true, false
			ch.Evidence["publish"] = "refused: the broker closed the connection on it"
			return out
		}
		out.closedAfter = true
	}
	ch.Evidence["publisher_connection"] = "closed by the broker right after it answered the publish"
	return out
}

// aclDelivery watches the deny topic on w for the probe. A marker on the
// test prefix bounds the wait: once it is back, the probe would have been
// too. The publisher sends it when it is still connected (a broker
// forwards one client's messages in order); otherwise the broker read the
// probe before it closed the publisher, and w sends it.
func (c *checker) aclDelivery(ctx context.Context, ch *report.Check, w Client, rt *router, sink <-chan Message, p Client, sub *aclSub) {
	limit := c.o.Timeout
	markerBack := false
	if c.prefixOK && w == c.main { // w is subscribed to the Will topic since mqtt.subscribe
		marker := c.topic("will")
		msink := rt.route(marker, 8)
		from := p
		if isDone(p) {
			from = w
		}
		mctx, mcancel := c.stepCtx(ctx)
		if err := from.Publish(mctx, Message{Topic: marker, Payload: c.payload("marker", 1), QoS: c.helperQoS()}); err == nil {
			if _, ok := c.waitFor(ctx, msink, func(m Message) bool {
				k, _, ok := c.parsePayload(m.Payload)
				return ok && k == "marker"
			}, c.o.Timeout); ok {
				markerBack = true
				limit = c.o.Timeout / 20 // a little slack after the marker
			}
		}
		mcancel()
		rt.unroute(marker)
	}
	m, got := c.waitFor(ctx, sink, func(Message) bool { return true }, limit)
	switch {
	case got:
		sub.delivered = true
		ch.Evidence["delivered"] = true
		if _, _, ours := c.parsePayload(m.Payload); !ours {
			ch.Evidence["delivered_message"] = fmt.Sprintf("%d bytes (retain %v) published by someone else", len(m.Payload), m.Retain)
		}
	case !markerBack && isDone(w):
		msg, _ := Explain(w.Err())
		sub.why = "the watching connection ended first: " + msg
		ch.Evidence["delivered"] = "not observable (" + sub.why + ")"
		sub.granted = false
		return
	default:
		ch.Evidence["delivered"] = false
	}
	uctx, ucancel := c.stepCtx(ctx)
	_ = w.Unsubscribe(uctx, c.o.DenyTopic)
	ucancel()
}

// aclVerdict judges the ACL from what subscribing and publishing showed.
func (c *checker) aclVerdict(ch *report.Check, sub aclSub, pub aclPub) {
	topic := c.o.DenyTopic
	switch {
	case sub.delivered:
		fail(ch, fmt.Sprintf("a message on %s was delivered to this client: these credentials may read there", topic),
			fmt.Sprintf("the broker's ACL does not protect %s: restrict this device's user to its own topic tree (mosquitto: acl_file with 'pattern readwrite devices/%%u/#')", topic))
	case pub.refused, sub.granted && pub.accepted:
		// Refused outright, or accepted and never delivered to a granted
		// subscription: the broker drops or withholds it.
	case pub.accepted && c.o.Version == V311:
		warn(ch, fmt.Sprintf("delivery on %s is not observable (%s), and MQTT 3.1.1 cannot report a refused publish: rerun with --mqtt-version 5 to prove publishing there is refused", topic, sub.why))
	case pub.accepted:
		warn(ch, fmt.Sprintf("delivery on %s is not observable (%s), and the broker accepted a publish there without a refusal: it may drop it silently, which ectool cannot see; check the ACL's write rule for %s", topic, sub.why, topic))
	default:
		warn(ch, fmt.Sprintf("the broker did not acknowledge the publish to %s: the ACL is not proven", topic))
	}
	if pub.closedAfter && !sub.delivered {
		answer := "acknowledged the publish"
		if pub.code != nil {
			answer = fmt.Sprintf("refused the publish (%s %s)", strings.ToUpper(pub.code.Packet), reasonWords(c.o.Version, pub.code.Packet, pub.code.Code))
		}
		warn(ch, fmt.Sprintf("the broker %s and then closed the connection: a site broker doing this drops every gateway that publishes where it may not, and the gateway loses all its traffic until it reconnects. "+
			"Mosquitto 2.0 before 2.0.22 does this when max_queued_messages is 0 (upstream issue 3244): set max_queued_messages above 0 (the default is 1000) or upgrade mosquitto", answer))
	}
	if ch.Status == report.OK {
		ch.Hint = ""
	}
}

// liveMain returns the main connection, or a new one with the same options
// when the broker closed it.
func (c *checker) liveMain(ctx context.Context) (Client, *router, error) {
	if c.main != nil && !isDone(c.main) {
		return c.main, c.router, nil
	}
	cctx, cancel := c.stepCtx(ctx)
	defer cancel()
	cl, err := c.connect(cctx, c.o.Options)
	if err != nil {
		return nil, nil, err
	}
	c.cleanups = append(c.cleanups, func(ctx context.Context) { _ = cl.Disconnect(ctx) })
	return cl, newRouter(cl), nil
}
