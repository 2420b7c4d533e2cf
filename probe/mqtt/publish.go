package mqtt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"time"
)

// PublishOptions are the inputs of Publish: what `ectool mqtt pub` sends.
type PublishOptions struct {
	// Options reach the broker; ConnectTimeout bounds each step of that.
	Options
	Topic      string
	QoS        byte
	Retain     bool
	Properties Properties
	// Payload is every message's payload; with Seq, the text each
	// sequenced payload carries as its data.
	Payload []byte
	// Count is how many messages to send (default 1). Lines replaces it.
	Count int
	// Seq sends sequenced payloads (AppendSeqPayload), numbered from 1 and
	// naming this client as their source.
	Seq bool
	// Lines, when set, is read line by line: each non-empty line is one
	// message, until its end or ctx's. An interrupt stops the reading
	// only: what was read is still published and acknowledged (within
	// AckTimeout), so no line is lost.
	Lines io.Reader
	// Rate is messages per second (0: as fast as the broker takes them).
	// The pace is kept before each message but the first, never after the
	// last.
	Rate float64
	// AckTimeout fails the run when no QoS 1/2 acknowledgement comes for
	// this long (default ConnectTimeout); it also bounds the closing
	// round trip of 3.1.1 QoS 0 and the DISCONNECT.
	AckTimeout time.Duration
	// Connected, when set, is called once the broker accepted CONNECT.
	Connected func(ConnAck)
}

// PublishResult is what Publish did.
type PublishResult struct {
	Broker  string
	Topic   string
	QoS     byte
	Retain  bool
	Version Version
	// ConnAck is what the broker answered; nil when it was not reached.
	ConnAck *ConnAck
	// Sent counts the messages handed to the broker, Acknowledged and
	// Refused the QoS 1/2 acknowledgements that accepted or refused one.
	Sent, Acknowledged, Refused int
	// NoSubscribers counts the acknowledgements "no matching subscribers"
	// (MQTT 5, 0x10): accepted, but nobody subscribes.
	NoSubscribers int
	// Elapsed runs from the first message to the last acknowledgement.
	Elapsed time.Duration
	// Interrupted: ctx ended the reading of Lines; every line read before
	// was published.
	Interrupted bool
	// CloseWarning is set when the DISCONNECT could not be sent while a
	// Will was registered: the broker publishes the Will.
	CloseWarning string
}

// RatePerSecond is the messages sent per second, to a tenth.
func (r *PublishResult) RatePerSecond() float64 { return ratePerSecond(r.Sent, r.Elapsed) }

// Unproven is the note on what the acknowledgements cannot show ("" when
// they show everything, or nothing was sent): QoS 0 has none, and a 3.1.1
// acknowledgement cannot carry a refusal.
func (r *PublishResult) Unproven() string {
	if r.Sent == 0 || r.ConnAck == nil {
		return ""
	}
	return UnprovenPublish(r.ConnAck.Version, r.QoS)
}

// Publish connects, sends the messages o describes and waits for every
// acknowledgement. QoS 1 and 2 publishes are pipelined up to the broker's
// receive window; the first refusal (an MQTT 5 reason code, a 3.1.1 broker
// closing the connection) stops the run and is its error, a *StepError.
// On MQTT 3.1.1 a PINGREQ round trip after the last QoS 0 message catches
// a broker that closed the connection to refuse one. The result is never
// nil; its counts say how far the run went.
func Publish(ctx context.Context, o PublishOptions) (*PublishResult, error) {
	defer relaxGC()()
	o.defaults()
	res := &PublishResult{Broker: o.Broker, Topic: o.Topic, QoS: o.QoS, Retain: o.Retain, Version: o.Version}
	c, err := Connect(ctx, o.Options)
	if err != nil {
		return res, err
	}
	ca := c.ConnAck()
	res.ConnAck = &ca
	res.Version = ca.Version // what auto settled on
	if o.Connected != nil {
		o.Connected(ca)
	}
	p := newPublisher(ctx, c, o)
	start := time.Now()
	sendErr := p.send()
	// After an interrupt of Lines, what was read is still acknowledged.
	res.Interrupted = o.Lines != nil && ctx.Err() != nil
	wctx := ctx
	if res.Interrupted {
		wctx = context.Background()
	}
	if sendErr == nil && p.counts.failed() == nil {
		sendErr = p.drain(wctx)
	}
	res.Elapsed = time.Since(start)
	// A refusal recorded before we closed is the first cause; failures of
	// publishes our own close cut short are not.
	if first := p.counts.failed(); first != nil {
		sendErr = first
	}
	// A broker that stopped answering or is gone is not waited for; one
	// that refused a publish is still there and gets its DISCONNECT (no
	// Will).
	res.CloseWarning = closeClient(c, o.Will, gone(c, sendErr), o.AckTimeout)
	p.counts.mu.Lock()
	res.Sent, res.Acknowledged, res.Refused = p.counts.sent, p.counts.acknowledged, p.counts.refused
	p.counts.mu.Unlock()
	if o.QoS > 0 {
		res.NoSubscribers = c.NoSubscribers()
	}
	return res, sendErr
}

// defaults fills what o leaves out; the client id is chosen here rather
// than by Connect because --seq payloads carry it.
func (o *PublishOptions) defaults() {
	o.Options = o.Options.normalized()
	if o.Count < 1 {
		o.Count = 1
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = o.ConnectTimeout
	}
}

// publisher sends one run's messages through the in-flight window.
type publisher struct {
	ctx context.Context
	// pctx is the context of the publishes: ctx, except after an
	// interrupt of Lines, whose lines read so far still go out (each
	// bounded by the acknowledgement timeout).
	pctx   context.Context
	c      Client
	o      PublishOptions
	counts *pubCounts
	// window holds a slot per QoS 1/2 publish awaiting its
	// acknowledgement; it is never larger than the broker's receive
	// maximum, so PublishAsync itself never waits for one.
	window chan struct{}
	next   func() ([]byte, bool, error)
}

func newPublisher(ctx context.Context, c Client, o PublishOptions) *publisher {
	p := &publisher{ctx: ctx, pctx: ctx, c: c, o: o, counts: newPubCounts(), window: make(chan struct{}, pubWindow(c.ConnAck()))}
	if o.Lines != nil {
		p.pctx = context.WithoutCancel(ctx)
		p.next = lineSource(ctx, o.Lines)
	} else {
		// --seq payloads name their publisher, so a subscriber can follow
		// several at once.
		src := o.ClientID
		if src == "" {
			src = c.ConnAck().AssignedClientID
		}
		p.next = countSource(o, src)
	}
	return p
}

// send publishes until the source ends, a refusal comes or ctx ends.
func (p *publisher) send() error {
	start := time.Now()
	for n := 0; ; n++ {
		if p.ctx.Err() != nil && p.o.Lines == nil {
			return p.ctx.Err()
		}
		if p.counts.failed() != nil {
			return nil
		}
		payload, ok, err := p.next()
		if err != nil {
			return &StepError{Step: StepPublish, Message: "reading stdin failed: " + err.Error(),
				Hint: "a line longer than 16 MiB? the producer feeding stdin failed?", Err: err}
		}
		if !ok {
			return nil
		}
		if err := p.pace(start, n); err != nil {
			return err
		}
		m := Message{Topic: p.o.Topic, Payload: payload, QoS: p.o.QoS, Retain: p.o.Retain, Properties: p.o.Properties}
		if err := p.publish(m); err != nil {
			return err
		}
	}
}

// pace waits until message n is due at Rate.
func (p *publisher) pace(start time.Time, n int) error {
	if p.o.Rate <= 0 {
		return nil
	}
	due := start.Add(time.Duration(float64(n) / p.o.Rate * float64(time.Second)))
	d := time.Until(due)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.ctx.Done():
		if p.o.Lines == nil {
			return p.ctx.Err()
		}
	}
	return nil
}

// publish hands one message to the client: QoS 0 straight away, QoS 1/2
// once the window has room.
func (p *publisher) publish(m Message) error {
	if m.QoS == 0 {
		if err := p.c.PublishAsync(p.pctx, m, func(error) {}); err != nil {
			return err
		}
		p.counts.mu.Lock()
		p.counts.sent++
		p.counts.mu.Unlock()
		return nil
	}
	if err := acquire(p.pctx, p.window, p.o.AckTimeout, p.counts); err != nil {
		return err
	}
	p.counts.mu.Lock()
	p.counts.outstanding++
	p.counts.sent++
	p.counts.mu.Unlock()
	// Acknowledgements are timed by acquire and waitAcks: no
	// per-message deadline is needed.
	err := p.c.PublishAsync(p.pctx, m, func(err error) {
		<-p.window
		p.counts.ack(err)
	})
	if err != nil {
		<-p.window
		p.counts.mu.Lock()
		p.counts.outstanding--
		p.counts.sent--
		p.counts.mu.Unlock()
	}
	return err
}

// drain waits for the last acknowledgements; on MQTT 3.1.1 after QoS 0 it
// makes a round trip instead: QoS 0 has no acknowledgement, and a 3.1.1
// broker refuses a publish by closing the connection. (An MQTT 5 broker
// that refuses says so with a reason code; waiting for it to drain would
// cost a QoS 0 load test about a third of its rate.)
func (p *publisher) drain(ctx context.Context) error {
	if err := waitAcks(ctx, p.counts, p.o.AckTimeout); err != nil {
		return err
	}
	p.counts.mu.Lock()
	sent := p.counts.sent
	p.counts.mu.Unlock()
	if p.o.QoS != 0 || sent == 0 || p.c.ConnAck().Version != V311 {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, p.o.AckTimeout)
	defer cancel()
	return p.c.Sync(sctx)
}

// countSource yields Count copies of the payload, or Count sequenced ones.
func countSource(o PublishOptions, src string) func() ([]byte, bool, error) {
	i := 0
	data := string(o.Payload)
	return func() ([]byte, bool, error) {
		if i >= o.Count {
			return nil, false, nil
		}
		i++
		if o.Seq {
			return AppendSeqPayload(make([]byte, 0, 64+len(data)), src, uint64(i), time.Now(), data), true, nil
		}
		return o.Payload, true, nil
	}
}

// lineSource yields the lines of r, read on their own goroutine so an
// interrupt stops the run even while r stays open (tail -f). After the
// interrupt it still yields the lines already read, then ends.
func lineSource(ctx context.Context, r io.Reader) func() ([]byte, bool, error) {
	lines := readLines(r)
	take := func(l line, ok bool) ([]byte, bool, error) {
		if !ok {
			return nil, false, nil
		}
		return l.b, l.err == nil, l.err
	}
	return func() ([]byte, bool, error) {
		if ctx.Err() != nil {
			select {
			case l, ok := <-lines:
				return take(l, ok)
			default:
				return nil, false, nil
			}
		}
		select {
		case l, ok := <-lines:
			return take(l, ok)
		case <-ctx.Done():
			return nil, false, nil
		}
	}
}

// line is one line of input (or the error that ended reading).
type line struct {
	b   []byte
	err error
}

// readLines reads r line by line on its own goroutine; the channel closes
// at the end of input. The goroutine stays blocked in a read when the run
// ends first (the process exits).
func readLines(r io.Reader) <-chan line {
	ch := make(chan line, 1024)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			if len(sc.Bytes()) == 0 {
				continue // like mosquitto_pub -l: an empty retained message would delete the retained value
			}
			ch <- line{b: append([]byte(nil), sc.Bytes()...)}
		}
		if err := sc.Err(); err != nil {
			ch <- line{err: err}
		}
	}()
	return ch
}

// pubCounts are a run's counts, updated by the acknowledgement callbacks.
type pubCounts struct {
	mu           sync.Mutex
	sent         int
	acknowledged int
	refused      int
	firstErr     error
	lastProgress time.Time
	outstanding  int
	idle         *sync.Cond // signalled at each acknowledgement
}

func newPubCounts() *pubCounts {
	p := &pubCounts{lastProgress: time.Now()}
	p.idle = sync.NewCond(&p.mu)
	return p
}

func (p *pubCounts) ack(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outstanding--
	p.lastProgress = time.Now()
	if err != nil {
		var re *ReasonError
		if errors.As(err, &re) {
			p.refused++
		}
		if p.firstErr == nil {
			p.firstErr = err
		}
	} else {
		p.acknowledged++
	}
	p.idle.Broadcast()
}

func (p *pubCounts) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstErr
}

// pubWindow is how many QoS 1/2 publishes may await their acknowledgement.
func pubWindow(ca ConnAck) int {
	if ca.ReceiveMaximum != nil && *ca.ReceiveMaximum > 0 {
		return min(int(*ca.ReceiveMaximum), 4096)
	}
	if ca.Version == V311 {
		return 1024
	}
	return 4096
}

// errNoAcks is the failure of a broker that stopped acknowledging.
func errNoAcks(message string) *StepError {
	return &StepError{Step: StepPublish, Message: message,
		Hint: "the broker stopped acknowledging: look at the broker's log; raise --timeout on a slow link", Err: context.DeadlineExceeded}
}

// acquire takes a slot in the window, failing when no acknowledgement
// frees one within timeout.
func acquire(ctx context.Context, window chan struct{}, timeout time.Duration, counts *pubCounts) error {
	select {
	case window <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case window <- struct{}{}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			counts.mu.Lock()
			idle := time.Since(counts.lastProgress)
			counts.mu.Unlock()
			if idle >= timeout {
				return errNoAcks(fmt.Sprintf("no acknowledgement from the broker for %s", timeout))
			}
			t.Reset(timeout - idle)
		}
	}
}

// waitAcks waits until every QoS 1/2 publish is answered, failing when
// none is for timeout.
func waitAcks(ctx context.Context, counts *pubCounts, timeout time.Duration) error {
	wake := func() {
		counts.mu.Lock()
		counts.idle.Broadcast()
		counts.mu.Unlock()
	}
	stop := context.AfterFunc(ctx, wake)
	defer stop()
	ticker := time.AfterFunc(timeout, func() {})
	defer func() { ticker.Stop() }()
	counts.mu.Lock()
	defer counts.mu.Unlock()
	for counts.outstanding > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		idle := time.Since(counts.lastProgress)
		if idle >= timeout {
			return errNoAcks(fmt.Sprintf("%d publish(es) not acknowledged within %s", counts.outstanding, timeout))
		}
		ticker.Stop()
		ticker = time.AfterFunc(timeout-idle, wake)
		counts.idle.Wait()
	}
	return nil
}

// relaxGC lets the heap grow further between collections while messages
// stream through (a few short-lived allocations per message, a small live
// heap): it halves the CPU of a 100k-message run. GOGC, when set, wins.
// The returned function restores the setting.
func relaxGC() func() {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(800)
	return func() { debug.SetGCPercent(old) }
}

// ratePerSecond is n per d, to a tenth.
func ratePerSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(int64(float64(n)/d.Seconds()*10)) / 10
}
