package mqtt

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ecdata/ectool/diag/report"
)

// topic is a test topic under the prefix.
func (c *checker) topic(name string) string { return c.o.TopicPrefix + "/" + name }

// payload is a test message body: the run id makes messages of other runs
// (sharing a --topic-prefix) recognisable.
func (c *checker) payload(kind string, seq int) []byte {
	return []byte(fmt.Sprintf("ectool-check %s %s %d", c.run, kind, seq))
}

// parsePayload returns the kind and sequence of one of this run's messages.
func (c *checker) parsePayload(b []byte) (kind string, seq int, ok bool) {
	f := strings.Fields(string(b))
	if len(f) != 4 || f[0] != "ectool-check" || f[1] != c.run {
		return "", 0, false
	}
	n, err := strconv.Atoi(f[3])
	if err != nil {
		return "", 0, false
	}
	return f[2], n, true
}

// isACLCode is a refusal that per-device ACLs give: 0x87 not authorized,
// or 0x80, the only refusal MQTT 3.1.1 has (and what several cloud
// brokers send for a policy denial).
func isACLCode(code byte) bool { return code == 0x87 || code == 0x80 }

func reasonWords(v Version, packet string, code byte) string {
	return fmt.Sprintf("0x%02X %s", code, ReasonText(v, packet, code))
}

// checkPrefixLadder runs SUBSCRIBE, the round trips, retained and Will,
// all under the test prefix.
func (c *checker) checkPrefixLadder(ctx context.Context) {
	maxQoS := c.maxQoS()
	wanted := map[byte]bool{}
	for _, q := range c.o.QoS {
		wanted[q] = true
	}
	var tested []byte
	for q := byte(0); q <= 2; q++ {
		if wanted[q] && q <= maxQoS {
			tested = append(tested, q)
		}
	}
	skipQoS := func(q byte, reason string) {
		switch {
		case !wanted[q]:
			c.skip("not asked for (--qos-levels)", qosCheckIDs[q])
		case q > maxQoS:
			c.skip(fmt.Sprintf("the broker's maximum QoS is %d (CONNACK)", maxQoS), qosCheckIDs[q])
		default:
			c.skip(reason, qosCheckIDs[q])
		}
	}
	skipAll := func(reason string) {
		for q := byte(0); q <= 2; q++ {
			skipQoS(q, reason)
		}
		c.skip(reason, CheckRetained, CheckWill)
	}

	ok, aclRefused := c.checkSubscribe(ctx, tested)
	if aclRefused != "" {
		ch, start := c.begin(CheckACLTestPrefix)
		ch.Evidence["topic_prefix"] = c.o.TopicPrefix
		ch.Evidence["subscribe"] = aclRefused
		c.prefixRefused(ch)
		c.add(ch, start)
		skipAll(c.prefixSkipReason())
		return
	}
	if !ok {
		c.skip(after(CheckSubscribe), CheckACLTestPrefix)
		skipAll(after(CheckSubscribe))
		return
	}

	prefixCh, prefixStart := c.begin(CheckACLTestPrefix)
	prefixCh.Evidence["topic_prefix"] = c.o.TopicPrefix
	prefixCh.Evidence["subscribe"] = "granted"
	prefixDone := false
	lost := "" // the check during which the main connection was lost
	var p50 [3]any
	var evidenceOf [3]map[string]any
	for q := byte(0); q <= 2; q++ {
		if !contains(tested, q) || lost != "" {
			reason := ""
			if lost != "" {
				reason = "the connection to the broker was lost during " + lost
			}
			skipQoS(q, reason)
			continue
		}
		ch, start, verdict := c.checkRoundTrip(ctx, q)
		if !prefixDone {
			prefixDone = true
			switch verdict {
			case rtACL:
				prefixCh.Evidence["delivered"] = false
				for k, v := range ch.Evidence {
					if k == "sent" || k == "received" || k == "publish" {
						prefixCh.Evidence[k] = v
					}
				}
				c.prefixRefused(prefixCh)
				c.add(prefixCh, prefixStart)
				skipAll(c.prefixSkipReason())
				return
			case rtConnLost:
				c.skip("the connection was lost before the prefix could be tested", CheckACLTestPrefix)
			default:
				if n, _ := ch.Evidence["received"].(int); n > 0 {
					prefixCh.Evidence["delivered"] = true
					c.prefixOK = true
					c.add(prefixCh, prefixStart)
				} else {
					c.skip(after(qosCheckIDs[q]), CheckACLTestPrefix)
				}
			}
		} else if verdict == rtACL {
			// The prefix was not proven by the first round trip (it failed)
			// and this one got nothing back either.
			fail(ch, fmt.Sprintf("none of the QoS %d messages came back", q), c.prefixHint())
		}
		c.add(ch, start)
		if verdict == rtConnLost {
			lost = qosCheckIDs[q]
		}
		if ch.Status != report.Failed {
			p50[q] = ch.Evidence["latency_ms"]
			evidenceOf[q] = ch.Evidence
		}
	}
	nagleNote(p50, evidenceOf)
	if !prefixDone {
		// No QoS was round-tripped (--qos above the broker's maximum):
		// the granted subscription is all that is known.
		prefixCh.Evidence["delivered"] = "not tested"
		c.add(prefixCh, prefixStart)
	}
	if lost != "" {
		reason := "the connection to the broker was lost during " + lost
		c.skip(reason, CheckRetained, CheckWill)
		return
	}
	if c.o.LinkOnly {
		c.skip(linkOnlyReason, CheckRetained, CheckWill)
		return
	}
	c.checkRetained(ctx)
	c.checkWill(ctx)
}

// nagleNote explains a QoS 0 round trip about 40 ms slower than QoS 1: a
// broker that sends with Nagle's algorithm holds each small packet until
// the previous one is acknowledged, and with no traffic back at QoS 0 this
// client acknowledges only after its delayed-ACK timer (40 ms on Linux).
// The evidence maps are those already in the report.
func nagleNote(lat [3]any, ev [3]map[string]any) {
	l0, ok0 := lat[0].(map[string]float64)
	l1, ok1 := lat[1].(map[string]float64)
	if !ok0 || !ok1 || ev[0] == nil {
		return
	}
	// Every message held about one delayed-ACK period, not a queue
	// building up behind a burst.
	if l0["min"] >= 20 && l0["p50"] <= 60 && l0["p50"] > 10*l1["p50"] {
		ev[0]["note"] = "QoS 0 is much slower than QoS 1: the broker holds small packets (Nagle's algorithm) until this client's delayed ACK; mosquitto: set_tcp_nodelay true"
	}
}

func contains(qs []byte, q byte) bool {
	for _, x := range qs {
		if x == q {
			return true
		}
	}
	return false
}

// prefixRefused judges mqtt.acl_test_prefix when the credentials may not
// use the test prefix: only a warning for the default prefix (the check
// picked it, the device need not be allowed there), a failure for an
// explicit --topic-prefix (the technician passed the device's own tree, so
// a refusal there is the ACL fault the check exists to find).
func (c *checker) prefixRefused(ch *report.Check) {
	if c.userPrefix {
		fail(ch, fmt.Sprintf("these credentials may not use --topic-prefix %s", c.o.TopicPrefix), c.prefixHint())
		return
	}
	warn(ch, c.prefixHint())
}

func (c *checker) prefixHint() string {
	if c.userPrefix {
		return fmt.Sprintf("the broker's ACL refuses these credentials under --topic-prefix %s: if that is the device's own topic tree, fix the user's ACL entries on the broker; otherwise pass the tree the device publishes to", c.o.TopicPrefix)
	}
	return fmt.Sprintf("these credentials may not use the default test prefix %s (per-device ACL): pass --topic-prefix inside the device's allowed topic tree (for example its telemetry topic's parent); not a broker failure", c.o.TopicPrefix)
}

func (c *checker) prefixSkipReason() string {
	return fmt.Sprintf("the test prefix %s is not allowed for these credentials (see %s)", c.o.TopicPrefix, CheckACLTestPrefix)
}

// willQoS is the QoS of the retained and Will test messages.
func (c *checker) helperQoS() byte {
	if c.maxQoS() >= 1 {
		return 1
	}
	return 0
}
