package mqtt

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// SubscribeOptions are the inputs of Subscribe: what `ectool mqtt sub`
// waits for.
type SubscribeOptions struct {
	// Options reach the broker; ConnectTimeout bounds each step of that
	// and the SUBSCRIBE.
	Options
	Filters []string
	QoS     byte
	// Count stops the run after this many messages (0: no limit); fewer
	// within Wait is a failure.
	Count int
	// Wait bounds the whole wait for messages (0: until Count, or ctx).
	Wait time.Duration
	// RetainedOnly takes only the retained messages present now: the run
	// ends at the first live message or RetainedSettle after the last
	// retained one.
	RetainedOnly bool
	// ExpectSeq follows `pub --seq` numbering: loss, duplicates and
	// reordering, judged at the end (a loss, or nothing sequenced, fails).
	ExpectSeq bool
	// Subscribed, when set, is called once the broker answered SUBSCRIBE,
	// with the QoS granted per filter.
	Subscribed func(granted []byte)
	// Connected, when set, is called with the broker's CONNACK (with
	// Version auto it says which version is spoken).
	Connected func(ConnAck)
	// Deliver is called with each message, in order, on Subscribe's
	// goroutine. An error from it ends the run with that error.
	Deliver func(Delivery) error
	// Reconnect survives the loss of the connection once subscribed (a
	// broker restart, a link down): connect again with backoff, each
	// attempt bounded by ConnectTimeout and the whole by Wait, and
	// subscribe again. Without it a lost connection ends the run.
	// RetainedOnly never reconnects.
	Reconnect bool
	// OnOutage, when set, is called on Subscribe's goroutine when an
	// outage starts (End zero) and when it ends (subscribed again).
	OnOutage func(Outage)
}

// Outage is a time the subscriber was not subscribed: from the loss of
// the connection to the SUBACK of the new one.
type Outage struct {
	Start time.Time
	// End is when the subscription was back; zero when the run ended
	// first.
	End time.Time
	// Reason says why the connection was lost; LastError why the last
	// attempt to reconnect failed (empty when the first succeeded).
	Reason, LastError string
	// Attempts counts the connection attempts.
	Attempts int
	// Lost counts the sequenced messages missing across the outage, per
	// publisher (ExpectSeq; see SeqTracker.GapLost).
	Lost            int
	LostByPublisher map[string]int

	gap int // the SeqTracker gap
}

// Delivery is one received message as Subscribe hands it over.
type Delivery struct {
	Message
	// Seq is what a `pub --seq` payload carries (IsSeq).
	Seq   SeqInfo
	IsSeq bool
	// Verdict is "duplicate" or "out_of_order" for a sequenced message
	// with ExpectSeq, else "".
	Verdict string
}

// SubscribeResult is how a subscription went.
type SubscribeResult struct {
	// Connected and Subscribed say how far the run got: an error before
	// Subscribed is one of reaching the broker.
	Connected, Subscribed bool
	Granted               []byte
	Received              int
	// Summary counts the sequenced messages (with ExpectSeq).
	Summary SeqSummary
	// TimedOut: Wait ended the run; Interrupted: ctx did.
	TimedOut, Interrupted bool
	// CloseWarning: the DISCONNECT could not be sent with a Will
	// registered (the broker publishes the Will).
	CloseWarning string
	// Outages are the connection losses survived (Reconnect), in order;
	// the last may still be open (End zero) when the run ended in it.
	Outages []Outage
}

// RetainedSettle is how long RetainedOnly and ClearRetained wait after the
// last retained message (brokers send them right after SUBACK).
const RetainedSettle = 500 * time.Millisecond

// closeLimit bounds the DISCONNECT of sub and clear-retained.
const closeLimit = 2 * time.Second

// Subscribe connects, subscribes to every filter and hands each message to
// o.Deliver until Count, Wait, the end of the retained messages
// (RetainedOnly), ctx, or the connection ends. Every failure is a
// *StepError naming its step: dns to connect while reaching the broker,
// subscribe for a refused subscription, receive for a connection that
// ended or messages that did not come (fewer than Count, a sequence with
// losses). The result is never nil.
func Subscribe(ctx context.Context, o SubscribeOptions) (*SubscribeResult, error) {
	defer relaxGC()()
	o.Options = o.Options.normalized()
	if o.Deliver == nil {
		o.Deliver = func(Delivery) error { return nil }
	}
	if o.RetainedOnly {
		o.Reconnect = false
	}
	res := &SubscribeResult{}
	c, err := Connect(ctx, o.Options)
	if err != nil {
		return res, err
	}
	res.Connected = true
	if o.Connected != nil {
		o.Connected(c.ConnAck())
	}
	failed := false
	defer func() { res.CloseWarning = closeClient(c, o.Will, failed, closeLimit) }()
	if res.Granted, err = subscribeAll(ctx, c, o); err != nil {
		failed = gone(c, err)
		return res, err
	}
	res.Subscribed = true
	if o.Subscribed != nil {
		o.Subscribed(res.Granted)
	}
	st := &subState{o: o, res: res}
	wctx, cancel := st.waitCtx(ctx)
	defer cancel()
	defer st.finish()
	for {
		endErr, err := st.receive(wctx, ctx, c)
		if err != nil {
			return res, err
		}
		if endErr == nil || !o.Reconnect || !survivable(endErr) {
			st.finish() // the judgement reads the summary
			if jerr := judgeReceived(o, res, endErr); jerr != nil {
				failed = endErr != nil
				return res, jerr
			}
			return res, nil
		}
		_ = c.Abort()
		var next Client
		next, err = st.reconnect(wctx, ctx, endErr)
		if next == nil {
			failed = true // c is gone
			return res, err
		}
		c = next
	}
}

// subState is what a subscription keeps across reconnects.
type subState struct {
	o       SubscribeOptions
	res     *SubscribeResult
	tracker SeqTracker
}

// waitCtx is ctx bounded by Wait, which counts from the subscription.
func (st *subState) waitCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if st.o.Wait > 0 {
		return context.WithTimeout(ctx, st.o.Wait)
	}
	return context.WithCancel(ctx)
}

// finish fills the counts of the result: the sequence summary, and the
// messages lost across each outage.
func (st *subState) finish() {
	st.res.Summary = st.tracker.Summary()
	for i := range st.res.Outages {
		out := &st.res.Outages[i]
		out.LostByPublisher = st.tracker.GapLost(out.gap)
		out.Lost = 0
		for _, n := range out.LostByPublisher {
			out.Lost += n
		}
	}
}

func subscribeAll(ctx context.Context, c Client, o SubscribeOptions) ([]byte, error) {
	subs := make([]Subscription, len(o.Filters))
	for i, f := range o.Filters {
		subs[i] = Subscription{Filter: f, QoS: o.QoS}
	}
	sctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	return c.Subscribe(sctx, subs...)
}

// receive hands messages over until the run ends: wctx is the caller's
// ctx bounded by Wait. endErr is why the connection ended, if it did; err
// is Deliver's.
func (st *subState) receive(wctx, ctx context.Context, c Client) (endErr, err error) {
	o, res := st.o, st.res
	var settle *time.Timer
	var settleC <-chan time.Time
	if o.RetainedOnly {
		settle = time.NewTimer(RetainedSettle)
		defer settle.Stop()
		settleC = settle.C
	}
	for o.Count == 0 || res.Received < o.Count {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return c.Err(), nil
			}
			if o.RetainedOnly {
				if !m.Retain {
					return nil, nil // retained messages come first
				}
				settle.Reset(RetainedSettle)
			}
			res.Received++
			if err := o.Deliver(delivery(m, &st.tracker, o.ExpectSeq)); err != nil {
				return nil, err
			}
		case <-settleC:
			return nil, nil
		case <-wctx.Done():
			st.ended(ctx)
			return nil, nil
		}
	}
	return nil, nil
}

// ended records why the wait ended: Ctrl-C (ctx) or Wait.
func (st *subState) ended(ctx context.Context) {
	if ctx.Err() != nil {
		st.res.Interrupted = true
	} else {
		st.res.TimedOut = true
	}
}

func delivery(m Message, tracker *SeqTracker, expectSeq bool) Delivery {
	d := Delivery{Message: m}
	d.Seq, d.IsSeq = ParseSeqPayload(m.Payload)
	if d.IsSeq && expectSeq {
		switch tracker.Observe(d.Seq) {
		case Duplicate:
			d.Verdict = "duplicate"
		case OutOfOrder:
			d.Verdict = "out_of_order"
		}
	}
	return d
}

// judgeReceived is the verdict on a run that received to its end: the
// connection lost, fewer messages than asked, a sequence with losses.
func judgeReceived(o SubscribeOptions, res *SubscribeResult, endErr error) error {
	filters := strings.Join(o.Filters, ", ")
	sum := res.Summary
	switch {
	case endErr != nil:
		msg, hint := Explain(endErr)
		step := StepOf(endErr)
		if step == "" {
			step = StepReceive
		}
		return &StepError{Step: step, Message: fmt.Sprintf("%s (after %d message(s))", msg, res.Received), Hint: hint, Err: endErr}
	case o.Count > 0 && res.Received < o.Count:
		why := fmt.Sprintf("within %s", o.Wait)
		if res.Interrupted || !res.TimedOut {
			why = "before the end"
		}
		hint := "check that the publisher runs and uses a topic matching " + filters +
			"; a broker's queue limit (max_queued_messages) drops messages for slow subscribers"
		what := "message(s) arrived"
		if o.RetainedOnly {
			what = "retained message(s) are held by the broker"
			why = "under " + filters
			hint = "the publisher (gateway) may have stopped publishing with retain, or some devices have not reported yet: check it publishes with the retain flag"
		}
		return &StepError{Step: StepReceive, Message: fmt.Sprintf("only %d of %d %s %s", res.Received, o.Count, what, why), Hint: hint}
	case o.ExpectSeq && sum.Lost > 0:
		return &StepError{Step: StepReceive,
			Message: fmt.Sprintf("%d message(s) lost (received %d, duplicated %d, out of order %d)", sum.Lost, sum.Received, sum.Duplicated, sum.OutOfOrder),
			Hint:    "messages were lost between publisher and subscriber: check QoS (0 may drop) and the broker's queue limits (max_queued_messages)"}
	case o.ExpectSeq && sum.Received == 0:
		hint := "nothing arrived to judge: check that 'ectool mqtt pub --seq' runs and publishes to a topic matching " + filters
		if res.Received > 0 {
			hint = "publish with 'ectool mqtt pub --seq': only its payloads carry a sequence number"
		}
		return &StepError{Step: StepReceive,
			Message: fmt.Sprintf("--expect-seq: no sequenced message arrived (%d message(s) without a sequence number)", res.Received), Hint: hint}
	}
	return nil
}
