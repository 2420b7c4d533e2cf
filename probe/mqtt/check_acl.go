package mqtt

import (
	"context"
	"errors"
	"fmt"

	"github.com/ecdata/ectool/diag/report"
)

// checkACLDeny proves the per-device ACL with --deny-topic: subscribing
// there must be refused or never deliver, and publishing there must be
// refused or never delivered. Its publish is never retained, so a broker
// without an ACL keeps nothing of it.
func (c *checker) checkACLDeny(ctx context.Context) {
	if c.o.DenyTopic == "" {
		c.skip("no --deny-topic given: pass a topic these credentials must not use (another device's) to prove the per-device ACL", CheckACLDeny)
		return
	}
	ch, start := c.begin(CheckACLDeny)
	defer c.add(ch, start)
	topic := c.o.DenyTopic
	ch.Evidence["topic"] = topic
	q := c.helperQoS()

	cl, rt, err := c.liveMain(ctx)
	if err != nil {
		msg, hint := c.connectWords(err)
		fail(ch, "reconnecting for the ACL check failed: "+msg, hint)
		return
	}
	sink := rt.route(topic, 8)
	defer rt.unroute(topic)

	// SUBSCRIBE
	subGranted := false
	sctx, cancel := c.stepCtx(ctx)
	codes, err := cl.Subscribe(sctx, Subscription{Filter: topic, QoS: q})
	cancel()
	var re *ReasonError
	switch {
	case len(codes) > 0 && codes[0] >= 0x80:
		ch.Evidence["subscribe"] = "refused: " + reasonWords(c.o.Version, "suback", codes[0])
	case err != nil && errors.As(err, &re):
		ch.Evidence["subscribe"] = "refused: " + reasonWords(c.o.Version, "suback", re.Code)
	case err != nil && isDone(cl):
		ch.Evidence["subscribe"] = "refused: the broker closed the connection"
	case err != nil:
		msg, hint := Explain(err)
		fail(ch, "SUBSCRIBE to the deny topic failed: "+msg, hint)
		return
	default:
		subGranted = true
		g := byte(0)
		if len(codes) > 0 {
			g = codes[0]
		}
		ch.Evidence["subscribe"] = fmt.Sprintf("granted QoS %d", g)
	}

	// PUBLISH (on a new connection if the broker closed ours)
	if isDone(cl) {
		if cl, rt, err = c.liveMain(ctx); err != nil {
			msg, hint := c.connectWords(err)
			fail(ch, "reconnecting for the ACL check failed: "+msg, hint)
			return
		}
	}
	pubRefused, pubAccepted := false, false
	expiry := uint32(10)
	pctx, pcancel := c.stepCtx(ctx)
	err = cl.Publish(pctx, Message{Topic: topic, Payload: c.payload("acl", 0), QoS: q,
		Properties: Properties{MessageExpiry: &expiry}})
	pcancel()
	switch {
	case err != nil && errors.As(err, &re):
		pubRefused = true
		ch.Evidence["publish"] = "refused: " + reasonWords(c.o.Version, re.Packet, re.Code)
	case err != nil && isDone(cl):
		pubRefused = true
		ch.Evidence["publish"] = "refused: the broker closed the connection"
	case err != nil:
		msg, _ := Explain(err)
		ch.Evidence["publish"] = "no acknowledgement: " + msg
	default:
		pubAccepted = true
		if q == 0 {
			ch.Evidence["publish"] = "sent at QoS 0 (no acknowledgement to refuse it)"
		} else {
			ch.Evidence["publish"] = "accepted (acknowledged without a refusal)"
		}
	}

	// Delivery: observable while our own subscription is granted. It
	// catches our probe (write and read allowed) and a retained value there
	// (read allowed). A live marker on the test prefix bounds the wait: the
	// broker forwards one client's messages in order, so once the marker is
	// back, the probe would have been too.
	delivered := false
	if subGranted && !isDone(cl) {
		marker := c.topic("will") // subscribed since mqtt.subscribe; the Will check is over
		msink := rt.route(marker, 8)
		limit := c.o.Timeout
		if c.prefixOK && cl == c.main {
			mctx, mcancel := c.stepCtx(ctx)
			if err := cl.Publish(mctx, Message{Topic: marker, Payload: c.payload("marker", 1), QoS: q}); err == nil {
				if _, ok := c.waitFor(ctx, msink, cl.Done(), func(m Message) bool {
					k, _, ok := c.parsePayload(m.Payload)
					return ok && k == "marker"
				}, c.o.Timeout); ok {
					limit = c.o.Timeout / 20 // a little slack after the marker
				}
			}
			mcancel()
		}
		rt.unroute(marker)
		var m Message
		m, delivered = c.waitFor(ctx, sink, cl.Done(), func(Message) bool { return true }, limit)
		ch.Evidence["delivered"] = delivered
		if delivered {
			if _, _, ours := c.parsePayload(m.Payload); !ours {
				ch.Evidence["delivered_message"] = fmt.Sprintf("%d bytes (retain %v) published by someone else", len(m.Payload), m.Retain)
			}
		}
		uctx, ucancel := c.stepCtx(ctx)
		_ = cl.Unsubscribe(uctx, topic)
		ucancel()
	} else {
		ch.Evidence["delivered"] = "not observable (subscribing is refused)"
	}

	switch {
	case delivered:
		fail(ch, fmt.Sprintf("a message on %s was delivered to this client: these credentials may read there", topic),
			fmt.Sprintf("the broker's ACL does not protect %s: restrict this device's user to its own topic tree (mosquitto: acl_file with 'pattern readwrite devices/%%u/#')", topic))
	case pubRefused:
		// refused outright; and if subscribing was granted, nothing came.
	case subGranted && pubAccepted:
		// accepted, but never delivered: the broker drops or withholds it.
	case pubAccepted && c.o.Version == V311:
		warn(ch, fmt.Sprintf("subscribing to %s is refused, but MQTT 3.1.1 cannot report a refused publish: rerun with --mqtt-version 5 to prove publishing there is refused", topic))
	case pubAccepted:
		warn(ch, fmt.Sprintf("subscribing to %s is refused, but the broker accepted a publish there without a refusal: it may drop it silently, which ectool cannot see; check the ACL's write rule for %s", topic, topic))
	default:
		warn(ch, fmt.Sprintf("the broker did not acknowledge the publish to %s: the ACL is not proven", topic))
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
