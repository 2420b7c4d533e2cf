package mqtt

import (
	"context"
	"fmt"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// checkWill connects a helper client with a 2 s keep-alive and a Will on
// the test prefix, cuts it off without DISCONNECT, and waits for the main
// connection (subscribed since mqtt.subscribe) to receive the Will.
func (c *checker) checkWill(ctx context.Context) {
	ch, start := c.begin(CheckWill)
	defer c.add(ch, start)
	topic := c.topic("will")
	q := c.helperQoS()
	sink := c.router.route(topic, 8)
	defer c.router.unroute(topic)
	helperID := c.helperBase + "-w"
	ch.Evidence["topic"] = topic
	ch.Evidence["helper_client_id"] = helperID
	ch.Evidence["helper_keepalive_s"] = int(willKeepAlive / time.Second)
	ch.Evidence["will_qos"] = q

	o := c.helperOpts("-w")
	o.KeepAlive = willKeepAlive
	o.Will = &Will{Topic: topic, Payload: c.payload("will", 0), QoS: q}
	hctx, hcancel := c.stepCtx(ctx)
	defer hcancel()
	h, err := Connect(hctx, o)
	if err != nil {
		msg, hint := c.connectWords(err)
		fail(ch, fmt.Sprintf("the helper connection with a Will (client id %s) failed: %s", helperID, msg), hint)
		return
	}
	t0 := time.Now()
	_ = h.Abort()
	// A broker sees the connection close at once; one that does not (a
	// silent NAT drop) must still notice after 1.5 keep-alives.
	limit := c.o.Timeout + willKeepAlive*3/2
	m, got := c.waitFor(ctx, sink, func(m Message) bool {
		k, _, ok := c.parsePayload(m.Payload)
		return ok && k == "will"
	}, limit)
	ch.Evidence["received"] = got
	if !got && isDone(c.main) {
		msg, hint := c.lostWords()
		fail(ch, "the watching connection ended before the Will arrived: "+msg, hint)
		return
	}
	if !got {
		fail(ch, fmt.Sprintf("the Will did not arrive within %s after the helper client was cut off", limit.Round(100*time.Millisecond)),
			"the broker did not publish the Last Will (or the ACL forbids the Will topic): gateways rely on it to report going offline; check the broker's log")
		return
	}
	ch.Evidence["after_ms"] = report.Millis(m.Received.Sub(t0))
}
