package mqtt

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

type rtVerdict int

const (
	rtDone     rtVerdict = iota // the check holds the verdict
	rtACL                       // nothing came back / refused as an ACL does: mqtt.acl_test_prefix
	rtConnLost                  // the main connection ended
)

// checkRoundTrip publishes Count messages at QoS q on the main connection
// (one after the other, each acknowledged before the next at QoS 1 and 2)
// and collects them from its own subscription: lost, duplicated and the
// publish-to-arrival latency of each.
func (c *checker) checkRoundTrip(ctx context.Context, q byte) (*report.Check, time.Time, rtVerdict) {
	ch, start := c.begin(qosCheckIDs[q])
	topic := c.topic(fmt.Sprintf("qos%d", q))
	sink := c.router.route(topic, 4*c.o.Count+16)
	defer c.router.unroute(topic)
	ch.Evidence["topic"] = topic

	t := newTally(c, q)
	pctx, cancel := c.stepCtx(ctx)
	var pubErr error
	for i := 0; i < t.n; i++ {
		t.sentAt[i] = time.Now()
		if err := c.main.Publish(pctx, Message{Topic: topic, Payload: c.payload(t.kind, i), QoS: q}); err != nil {
			pubErr = err
			break
		}
		t.sent++
	}
	cancel()
	connLost := t.collect(ctx, sink, c.o.Timeout)
	t.evidence(ch.Evidence)
	if v, judged := c.judgePublish(ch, t, pubErr, connLost); judged {
		return ch, start, v
	}
	c.judgeArrivals(ch, t)
	return ch, start, rtDone
}

// tally counts what came back of one round trip.
type tally struct {
	c            *checker
	q            byte
	kind         string
	n, sent      int
	sentAt       []time.Time
	seen         []int // arrivals of each message
	unique, dups int
	have         int // acknowledged (sent) messages that came back
	lat          []time.Duration
	rxQoS        map[string]int
}

func newTally(c *checker, q byte) *tally {
	n := c.o.Count
	return &tally{c: c, q: q, kind: fmt.Sprintf("q%d", q), n: n, sentAt: make([]time.Time, n), seen: make([]int, n), rxQoS: map[string]int{}}
}

// take counts one message of the round trip (others are ignored).
func (t *tally) take(m Message) {
	k, seq, ok := t.c.parsePayload(m.Payload)
	if !ok || k != t.kind || seq < 0 || seq >= t.n {
		return
	}
	t.seen[seq]++
	t.rxQoS[strconv.Itoa(int(m.QoS))]++
	if t.seen[seq] > 1 {
		t.dups++
		return
	}
	t.unique++
	if seq < t.sent {
		t.have++
	}
	t.lat = append(t.lat, m.Received.Sub(t.sentAt[seq]))
}

// collect reads the round trip's messages until every acknowledged one
// came back, the timeout, ctx, or the connection's end (connLost), then
// what is already delivered (duplicates).
func (t *tally) collect(ctx context.Context, sink <-chan Message, timeout time.Duration) (connLost bool) {
	wait := time.NewTimer(timeout)
	defer wait.Stop()
collect:
	for t.have < t.sent {
		select {
		case m, ok := <-sink:
			if !ok { // the connection ended; all it delivered was read
				connLost = true
				break collect
			}
			t.take(m)
		case <-wait.C:
			break collect
		case <-ctx.Done():
			break collect
		}
	}
	for {
		select {
		case m, ok := <-sink:
			if !ok {
				return connLost
			}
			t.take(m)
		default:
			return connLost
		}
	}
}

func (t *tally) evidence(ev map[string]any) {
	ev["sent"] = t.sent
	ev["received"] = t.unique
	ev["lost"] = t.sent - t.have
	ev["duplicated"] = t.dups
	if len(t.rxQoS) > 0 {
		ev["received_qos"] = t.rxQoS
	}
	if len(t.lat) > 0 {
		ev["latency_ms"] = latencyStats(t.lat)
	}
}

// judgePublish judges a round trip whose publishing went wrong, or that
// shows an ACL's refusal; judged is false when the arrivals decide.
func (c *checker) judgePublish(ch *report.Check, t *tally, pubErr error, connLost bool) (v rtVerdict, judged bool) {
	var re *ReasonError
	switch {
	case pubErr != nil && errors.As(pubErr, &re):
		ch.Evidence["publish"] = "refused: " + reasonWords(c.o.Version, re.Packet, re.Code)
		if isACLCode(re.Code) && !c.prefixOK {
			return rtACL, true
		}
		fail(ch, fmt.Sprintf("the broker refused QoS %d publish %d of %d: %s", t.q, t.sent+1, t.n, re.Error()), publishHint(re.Code))
		return rtDone, true
	case connLost || (pubErr != nil && isDone(c.main)):
		msg, hint := c.lostWords()
		if t.unique == 0 && !c.prefixOK {
			// Some brokers (AWS IoT) answer a publish outside the policy by
			// closing the connection.
			ch.Evidence["publish"] = "connection closed by the broker"
			return rtACL, true
		}
		fail(ch, msg, hint)
		return rtConnLost, true
	case pubErr != nil:
		msg, hint := Explain(pubErr)
		if errors.Is(pubErr, context.DeadlineExceeded) {
			msg = fmt.Sprintf("only %d of %d QoS %d messages were acknowledged within %s", t.sent, t.n, t.q, seconds(c.o.Timeout))
			hint = "the broker is slow to acknowledge: on a slow link raise --timeout or lower --count"
		}
		fail(ch, "publish failed: "+msg, hint)
		return rtDone, true
	case t.unique == 0 && t.sent > 0 && !c.prefixOK:
		ch.Evidence["publish"] = "accepted"
		return rtACL, true
	}
	return rtDone, false
}

// judgeArrivals judges the losses and duplicates by what the QoS promises.
func (c *checker) judgeArrivals(ch *report.Check, t *tally) {
	q := t.q
	if lost := t.sent - t.have; lost > 0 {
		hint := c.lossHint(t.seen[:t.sent], q)
		if q == 0 {
			warn(ch, fmt.Sprintf("%d of %d QoS 0 messages were lost (QoS 0 is at most once); %s", lost, t.sent, hint))
		} else {
			fail(ch, fmt.Sprintf("%d of %d QoS %d messages never came back within %s", lost, t.sent, q, seconds(c.o.Timeout)), hint)
		}
	}
	if t.dups == 0 {
		return
	}
	if q == 1 {
		ch.Evidence["duplicates_note"] = "QoS 1 is at least once: duplicates are allowed"
		return
	}
	msg := fmt.Sprintf("%d duplicate(s) at QoS %d", t.dups, q)
	hint := "a QoS 2 message must arrive exactly once: the broker or a proxy in the path redelivers messages"
	if q == 0 {
		hint = "a QoS 0 message is never resent: something in the path duplicates messages"
	}
	if ch.Status == report.Failed {
		ch.Hint += "; " + msg
	} else {
		fail(ch, msg, hint)
	}
}

// lostWords explains the end of the main connection.
func (c *checker) lostWords() (string, string) {
	msg, hint := "the connection to the broker was lost", "see the broker's log: it may drop clients that break a limit (packet size, rate, ACL)"
	if err := c.main.Err(); err != nil {
		m, h := Explain(err)
		msg = m
		if !strings.Contains(m, "lost") && !strings.Contains(m, "closed") {
			msg = "the connection to the broker was lost: " + m
		}
		if h != "" {
			hint = h
		}
	}
	return msg, hint
}

// lossHint says where the loss likely comes from. A broker that drops
// messages at its per-client queue limit loses the tail of a burst.
func (c *checker) lossHint(seen []int, q byte) string {
	firstLost := -1
	tail := true
	for i, s := range seen {
		if s == 0 && firstLost < 0 {
			firstLost = i
		}
		if s > 0 && firstLost >= 0 {
			tail = false
		}
	}
	if tail && firstLost > 0 {
		return fmt.Sprintf("the last %d messages are missing, the pattern of a broker queue limit (mosquitto: max_queued_messages, max_inflight_messages) dropping what a client has not yet taken: raise the broker's limit or lower --count", len(seen)-firstLost)
	}
	return "messages were dropped by the broker or on the way back; a broker queue limit (mosquitto: max_queued_messages, max_inflight_messages) drops messages when a client falls behind: rerun with a lower --count to tell, and check the broker's log"
}

func publishHint(code byte) string {
	switch code {
	case 0x87:
		return "the broker does not let these credentials publish there (ACL)"
	case 0x90:
		return "the broker rejects the topic name: pass a simpler --topic-prefix"
	case 0x95:
		return "the message is larger than the broker accepts"
	case 0x97:
		return "the broker's quota for this client is exceeded: lower --count"
	case 0x9A:
		return "the broker does not support retained messages"
	case 0x9B:
		return "the broker does not support this QoS"
	}
	return "see the broker's log"
}

// latencyStats are nearest-rank percentiles in milliseconds with
// microsecond resolution.
func latencyStats(lat []time.Duration) map[string]float64 {
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	pct := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(s) {
			i = len(s) - 1
		}
		return s[i]
	}
	return map[string]float64{
		"min": report.Millis(s[0]),
		"p50": report.Millis(pct(0.50)),
		"p95": report.Millis(pct(0.95)),
		"max": report.Millis(s[len(s)-1]),
	}
}
