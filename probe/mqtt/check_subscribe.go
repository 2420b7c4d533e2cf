package mqtt

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ecdata/ectool/diag/report"
)

// checkSubscribe subscribes the main connection to one topic per tested QoS
// and to the Will topic. It returns ok, or a non-empty aclRefused when the
// broker refused the prefix the way a per-device ACL does.
func (c *checker) checkSubscribe(ctx context.Context, tested []byte) (ok bool, aclRefused string) {
	ch, start := c.begin(CheckSubscribe)
	subs := make([]Subscription, 0, len(tested)+1)
	for _, q := range tested {
		subs = append(subs, Subscription{Filter: c.topic(fmt.Sprintf("qos%d", q)), QoS: q})
	}
	subs = append(subs, Subscription{Filter: c.topic("will"), QoS: c.helperQoS()})
	sctx, cancel := c.stepCtx(ctx)
	defer cancel()
	codes, err := c.main.Subscribe(sctx, subs...)
	var re *ReasonError
	if err != nil && !errors.As(err, &re) {
		msg, hint := Explain(err)
		switch {
		case isDone(c.main):
			msg, hint = c.lostWords()
		case errors.Is(err, context.DeadlineExceeded):
			msg, hint = fmt.Sprintf("no SUBACK within %s", seconds(c.o.Timeout)), "the broker accepted the connection but does not answer SUBSCRIBE: check its load and log"
		}
		fail(ch, "SUBSCRIBE failed: "+msg, hint)
		c.add(ch, start)
		return false, ""
	}
	var granted []map[string]any
	var refused, aclRefusals []string
	for i, s := range subs {
		if i >= len(codes) {
			break
		}
		code := codes[i]
		g := map[string]any{"filter": s.Filter, "requested_qos": s.QoS}
		if code >= 0x80 {
			g["refused"] = reasonWords(c.o.Version, "suback", code)
			what := fmt.Sprintf("%s refused (%s)", s.Filter, reasonWords(c.o.Version, "suback", code))
			if isACLCode(code) {
				aclRefusals = append(aclRefusals, what)
			} else {
				refused = append(refused, what)
			}
		} else {
			g["granted_qos"] = code
			if code < s.QoS {
				warn(ch, fmt.Sprintf("the broker granted QoS %d for the QoS %d subscription to %s: messages there arrive at QoS %d at most", code, s.QoS, s.Filter, code))
			}
		}
		granted = append(granted, g)
	}
	ch.Evidence["subscriptions"] = granted
	if len(codes) < len(subs) {
		fail(ch, fmt.Sprintf("the SUBACK holds %d answers for %d subscriptions", len(codes), len(subs)), "the broker answered SUBSCRIBE incorrectly: check its version and log")
		c.add(ch, start)
		return false, ""
	}
	if len(refused) > 0 {
		fail(ch, "the broker refused the subscription: "+strings.Join(refused, "; "), subscribeHint(codes))
		c.add(ch, start)
		return false, ""
	}
	if len(aclRefusals) > 0 && c.userPrefix {
		fail(ch, "the broker refused the subscription: "+strings.Join(aclRefusals, "; "), c.prefixHint())
		c.add(ch, start)
		return false, strings.Join(aclRefusals, "; ")
	}
	if len(aclRefusals) > 0 {
		ch.Status = report.Skipped
		ch.Hint = ""
		ch.SkippedReason = fmt.Sprintf("the credentials may not subscribe under %s (see %s)", c.o.TopicPrefix, CheckACLTestPrefix)
		c.add(ch, start)
		return false, strings.Join(aclRefusals, "; ")
	}
	c.add(ch, start)
	return true, ""
}

func subscribeHint(codes []byte) string {
	for _, code := range codes {
		switch code {
		case 0x8F:
			return "the broker rejects the test topic filter: pass a simpler --topic-prefix"
		case 0x97:
			return "the broker's subscription quota is exhausted for this client"
		case 0x9E:
			return "the broker does not support shared subscriptions"
		case 0xA1:
			return "the broker does not support subscription identifiers"
		case 0xA2:
			return "the broker does not support wildcard subscriptions"
		}
	}
	return "see the broker's log for why it refused the subscription"
}
