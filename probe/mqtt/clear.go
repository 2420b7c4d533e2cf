package mqtt

import (
	"context"
	"net"
	"sort"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// ClearOptions are the inputs of ClearRetained.
type ClearOptions struct {
	// Options reach the broker; ConnectTimeout bounds each step: each
	// connection step, SUBSCRIBE, collecting, each clearing publish.
	Options
	Filters []string
	// DryRun lists the retained messages and clears nothing.
	DryRun bool
}

// RetainedTopic is a topic holding a retained message, and its size.
type RetainedTopic struct {
	Topic string `json:"topic"`
	Bytes int    `json:"bytes"`
}

// NotCleared is a retained message the broker would not clear, and why.
type NotCleared struct {
	Topic string `json:"topic"`
	Bytes int    `json:"bytes"`
	Error string `json:"error"`
}

// ClearResult is what ClearRetained found and did.
type ClearResult struct {
	Filters []string
	DryRun  bool
	// Connected and Subscribed say how far the run got.
	Connected, Subscribed bool
	// Collected: the retained messages were collected (Found is complete).
	Collected bool
	// Found lists the retained messages under the filters, by topic.
	Found      []RetainedTopic
	Cleared    []RetainedTopic
	NotCleared []NotCleared
	// StillArriving: retained messages kept arriving for the whole
	// timeout; those seen by then were cleared.
	StillArriving bool
	// CloseWarning: the DISCONNECT could not be sent with a Will
	// registered (the broker publishes the Will).
	CloseWarning string
}

// ClearRetained subscribes to the filters, collects the retained messages
// the broker holds (until none has arrived for RetainedSettle), and
// publishes an empty retained message to each topic, which makes the
// broker forget it. A refusal does not stop the rest: every topic ends in
// Cleared or NotCleared, and the first refusal is the error. The result
// is never nil.
func ClearRetained(ctx context.Context, o ClearOptions) (*ClearResult, error) {
	o.Options = o.Options.normalized()
	res := &ClearResult{Filters: o.Filters, DryRun: o.DryRun, Found: []RetainedTopic{}, Cleared: []RetainedTopic{}, NotCleared: []NotCleared{}}
	c, err := Connect(ctx, o.Options)
	if err != nil {
		return res, err
	}
	res.Connected = true
	failed := false
	defer func() { res.CloseWarning = closeClient(c, o.Will, failed, closeLimit) }()
	subs := make([]Subscription, len(o.Filters))
	for i, f := range o.Filters {
		subs[i] = Subscription{Filter: f, QoS: 1}
	}
	sctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	_, err = c.Subscribe(sctx, subs...)
	cancel()
	if err != nil {
		failed = gone(c, err)
		return res, err
	}
	res.Subscribed = true
	found, err := collectRetained(ctx, c, o.ConnectTimeout, res)
	if err != nil {
		failed = isDone(c)
		return res, err
	}
	res.Collected = true
	uctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	_ = c.Unsubscribe(uctx, o.Filters...)
	cancel()
	for _, t := range sortedTopics(found) {
		res.Found = append(res.Found, RetainedTopic{Topic: t, Bytes: found[t]})
	}
	if o.DryRun {
		return res, nil
	}
	err = clearTopics(ctx, c, o.ConnectTimeout, res)
	if err != nil {
		failed = isDone(c)
	}
	return res, err
}

// collectRetained gathers the retained messages' sizes by topic until none
// has come for RetainedSettle (or for limit in all). An interrupt is
// ctx's error; a connection that ended, its reason.
func collectRetained(ctx context.Context, c Client, limit time.Duration, res *ClearResult) (map[string]int, error) {
	found := map[string]int{}
	settle := time.NewTimer(RetainedSettle)
	defer settle.Stop()
	all := time.NewTimer(limit)
	defer all.Stop()
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				if err := c.Err(); err != nil {
					return nil, err
				}
				return nil, &StepError{Step: StepReceive, Message: "the connection ended while collecting the retained messages", Err: net.ErrClosed}
			}
			if !m.Retain {
				continue
			}
			found[m.Topic] = len(m.Payload)
			settle.Reset(RetainedSettle)
		case <-settle.C:
			return found, nil
		case <-all.C:
			res.StillArriving = true
			return found, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// clearTopics publishes an empty retained message to each topic found,
// going on past a refusal; a connection that ends leaves the rest untried.
func clearTopics(ctx context.Context, c Client, limit time.Duration, res *ClearResult) error {
	var first error
	for i, t := range res.Found {
		pctx, cancel := context.WithTimeout(ctx, limit)
		err := c.Publish(pctx, Message{Topic: t.Topic, QoS: 1, Retain: true})
		cancel()
		if err == nil {
			res.Cleared = append(res.Cleared, t)
			continue
		}
		if first == nil {
			first = err
		}
		msg, _ := Explain(err)
		res.NotCleared = append(res.NotCleared, NotCleared{Topic: t.Topic, Bytes: t.Bytes, Error: msg})
		if ctx.Err() != nil || isDone(c) {
			// The connection is gone (a 3.1.1 broker refuses this way):
			// the rest were not tried.
			for _, rest := range res.Found[i+1:] {
				res.NotCleared = append(res.NotCleared, NotCleared{Topic: rest.Topic, Bytes: rest.Bytes, Error: "not tried: the connection ended"})
			}
			break
		}
	}
	return first
}

func sortedTopics(found map[string]int) []string {
	topics := make([]string, 0, len(found))
	for t := range found {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	return topics
}

// Report fills rep with the run: mqtt.connect and mqtt.subscribe, then
// mqtt.clear_retained (or the step that failed), and what was found,
// cleared and not cleared as details. err is ClearRetained's error.
func (r *ClearResult) Report(rep *report.Report, err error) {
	if r.Connected {
		rep.Add(report.Check{ID: CheckConnect, Title: stepTitle(StepConnect), Status: report.OK})
	}
	if r.Subscribed {
		rep.Add(report.Check{ID: "mqtt.subscribe", Title: stepTitle(StepSubscribe), Status: report.OK})
	}
	if r.Collected {
		rep.SetDetail("filters", r.Filters)
		rep.SetDetail("found", len(r.Found))
		rep.SetDetail("cleared", r.Cleared)
		rep.SetDetail("not_cleared", r.NotCleared)
		if r.DryRun {
			rep.SetDetail("retained", r.Found)
		}
	}
	if err != nil {
		addFailedStep(rep, err, StepPublish)
		return
	}
	rep.Add(report.Check{ID: "mqtt.clear_retained", Title: "retained messages cleared", Status: report.OK,
		Evidence: map[string]any{"found": len(r.Found), "cleared": len(r.Cleared)}})
}
