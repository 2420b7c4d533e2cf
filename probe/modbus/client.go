package modbus

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ecdata/ectool/diag/exitcode"
	"github.com/ecdata/ectool/diag/report"
)

// ClientOptions configure a Client: one connection to a bus for the
// chosen requests of `modbus read`, `write` and `watch`. It opens the
// target as scan does (the holder check, --force, the FTDI latency timer;
// rtuovertcp:// and tcp://).
type ClientOptions struct {
	Target Target
	Serial SerialSettings
	// Timeout is per request (default 1 s).
	Timeout time.Duration
	// Listen is how long to listen before the first request, on an RS-485
	// line (default 1 s; negative: not at all).
	Listen time.Duration
	// TalkOverMaster keeps going when another master is heard (a warning
	// instead of a stop). A write never talks over one.
	TalkOverMaster bool
	// Force opens a port another process holds.
	Force bool
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Open, when set, replaces opening Target (the lab, tests).
	Open func() (Port, error)
}

func (o *ClientOptions) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Serial.Baud == 0 {
		o.Serial = DefaultSerial
	}
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	if o.Listen == 0 {
		o.Listen = time.Second
	}
}

// Outcome is what came of one request.
type Outcome string

// Outcomes of Client.Do.
const (
	OutcomeOK        Outcome = "ok"
	OutcomeException Outcome = "exception"
	OutcomeTimeout   Outcome = "timeout"
	// OutcomeCRC: only a frame with a bad CRC (or cut short) came from the
	// unit.
	OutcomeCRC Outcome = "crc_error"
	// OutcomeBroadcast: a request to unit 0, which nobody answers.
	OutcomeBroadcast Outcome = "broadcast"
	// OutcomeNotSent: another master was heard just before the request
	// would have gone out, and the client may not talk over it.
	OutcomeNotSent Outcome = "not_sent"
)

// Exchange is one request and what came back.
type Exchange struct {
	Unit    byte
	Request PDU
	Outcome Outcome
	// Answer is the unit's answer (OutcomeOK, OutcomeException).
	Answer  *PDU
	Latency time.Duration
	At      time.Time
}

// Heard is what listening before talking (and the traffic between ectool's
// own requests) revealed on an RS-485 line.
type Heard struct {
	ListenedMS    float64     `json:"listened_ms"`
	ForeignMaster bool        `json:"foreign_master"`
	ForeignFrames []FrameNote `json:"foreign_frames,omitempty"`
	NoiseBytes    int         `json:"noise_bytes"`
	CRCErrors     int         `json:"crc_errors"`
	Echo          bool        `json:"echo"`
}

// Client talks to devices on one bus, one request at a time.
type Client struct {
	o        ClientOptions
	rtu      *rtuBus
	tcp      net.Conn
	rx       chan mbapMsg
	tid      uint16
	settings Settings
	// Heard is what the line carried besides ectool's exchanges.
	Heard Heard
}

// Dial opens the target. Its errors are scan's: serialport.Open's, which
// OpenFailure words, ErrUnreachable in a *TargetError.
func Dial(ctx context.Context, o ClientOptions) (*Client, error) {
	o.defaults()
	c := &Client{o: o, settings: Settings{Transport: string(o.Target.Transport), TimeoutMS: ms(o.Timeout), Forced: o.Force, TalkOverMaster: o.TalkOverMaster}}
	if o.Target.Serial() {
		s := o.Serial
		c.settings.Serial = &s
	}
	if o.Target.Transport == TransportTCP {
		conn, err := (&net.Dialer{Timeout: max(3*time.Second, o.Timeout)}).DialContext(ctx, "tcp", o.Target.Addr)
		if err != nil {
			return nil, targetError(o.Target, fmt.Errorf("%w: %v", ErrUnreachable, err))
		}
		c.tcp, c.rx = conn, make(chan mbapMsg, 16)
		go readMBAPs(conn, c.rx, o.Now)
		return c, nil
	}
	so := ScanOptions{Target: o.Target, Serial: o.Serial, Timeout: o.Timeout, Force: o.Force, Open: o.Open}
	res := &Result{}
	port, err := openRTU(&so, res)
	if err != nil {
		return nil, targetError(o.Target, err)
	}
	c.settings.Bridges, c.settings.ForcedPast, c.settings.LatencyTimer = res.Settings.Bridges, res.Settings.ForcedPast, res.Settings.LatencyTimer
	c.rtu = newRTUBus(port, o.Serial, o.Now)
	return c, nil
}

func readMBAPs(conn net.Conn, rx chan<- mbapMsg, now func() time.Time) {
	r := bufio.NewReader(conn)
	for {
		f, err := ReadMBAP(r)
		rx <- mbapMsg{f: f, at: now(), err: err}
		if err != nil {
			return
		}
	}
}

// Close closes the connection.
func (c *Client) Close() error {
	if c.tcp != nil {
		return c.tcp.Close()
	}
	return c.rtu.close()
}

// Settings are the client's settings for a report's details.
func (c *Client) Settings() Settings { return c.settings }

// Stopped reports whether another master was heard and the client may not
// talk over it.
func (c *Client) Stopped() bool { return c.Heard.ForeignMaster && !c.o.TalkOverMaster }

// Listen hears the line for the configured time before ectool says
// anything: another master polling, or noise. A Modbus TCP target has
// nothing to hear.
func (c *Client) Listen(ctx context.Context) error {
	if c.rtu == nil || c.o.Listen <= 0 {
		return nil
	}
	start := c.o.Now()
	end := start.Add(c.o.Listen)
	for c.o.Now().Before(end) && ctx.Err() == nil && !c.Heard.ForeignMaster {
		ev, ok, err := c.rtu.next(minTime(end, c.o.Now().Add(100*time.Millisecond)))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBusIO, err)
		}
		if ok {
			c.hear(ev)
		}
	}
	c.Heard.ListenedMS = ms(c.o.Now().Sub(start))
	return nil
}

// hear accounts for an event that is not an awaited answer.
func (c *Client) hear(ev Event) {
	switch ev.Kind {
	case EvNoise:
		c.Heard.NoiseBytes += len(ev.Raw)
	case EvCRCError, EvTruncated:
		c.Heard.CRCErrors++
	case EvFrame:
		if ev.Frame.Dir == Request { // only a request proves another master
			c.Heard.ForeignMaster = true
			if len(c.Heard.ForeignFrames) < 10 {
				c.Heard.ForeignFrames = append(c.Heard.ForeignFrames, note(ev))
			}
		}
	}
}

// Do sends req to unit and waits up to the timeout for its answer. A
// broadcast (unit 0) waits the turnaround delay and expects nothing. The
// error is only for a bus that failed (ErrBusIO); what the unit did is in
// the Exchange.
func (c *Client) Do(ctx context.Context, unit byte, req PDU) (Exchange, error) {
	if err := ctx.Err(); err != nil {
		return Exchange{}, err
	}
	return c.do(unit, req, c.o.Timeout)
}

// do is Do with its own timeout (pollUnit's, which confirm and watch
// poll through).
func (c *Client) do(unit byte, req PDU, timeout time.Duration) (Exchange, error) {
	if c.tcp != nil {
		return c.doTCP(unit, req, timeout)
	}
	return c.doRTU(unit, req, timeout)
}

// broadcastTurnaround is how long a master leaves the line quiet after a
// broadcast, so every device can act on it (the serial line guide asks
// for 100 to 200 ms).
const broadcastTurnaround = 200 * time.Millisecond

func (c *Client) doRTU(unit byte, req PDU, timeout time.Duration) (Exchange, error) {
	x := Exchange{Unit: unit, Request: req, Outcome: OutcomeTimeout}
	if err := c.absorb(); err != nil {
		return x, err
	}
	if err := c.rtu.awaitInterFrameGap(c.hear); err != nil {
		return x, fmt.Errorf("%w: %v", ErrBusIO, err)
	}
	c.Heard.Echo = c.rtu.echoSeen
	if c.Stopped() {
		// Another master's request arrived since the caller looked: a
		// write must never go out over it, nor a read without
		// --talk-over-master.
		x.Outcome = OutcomeNotSent
		return x, nil
	}
	frame := EncodeRTU(unit, req)
	// An FC 05/06 answer is byte for byte the request: the bus would strip
	// it as the adapter's echo. Unless this adapter was seen echoing, the
	// first copy that comes back is the answer.
	echoShaped := req.Function == FuncWriteSingleCoil || req.Function == FuncWriteSingleRegister
	var sentAt time.Time
	var err error
	if echoShaped && !c.rtu.echoSeen {
		sentAt, err = c.rtu.sendUnremembered(frame)
	} else {
		sentAt, err = c.rtu.send(frame)
	}
	x.At = sentAt
	if err != nil {
		return x, fmt.Errorf("%w: writing to the bus: %v", ErrBusIO, err)
	}
	reqEnd := sentAt.Add(c.o.Serial.WireTime(len(frame)))
	if unit == 0 {
		x.Outcome = OutcomeBroadcast
		return x, c.hearUntil(reqEnd.Add(broadcastTurnaround))
	}
	deadline := reqEnd.Add(timeout)
	// head holds a request-shaped frame from the unit with our function:
	// the splitter cuts one out of an answer whose first bytes happen to
	// end in a valid request CRC (1 in 65536) before the rest arrives.
	var head *Event
	answer := func(ev Event) (Exchange, error) {
		p := ev.Frame.PDU
		x.Answer, x.Latency, x.Outcome = &p, max(0, ev.End.Sub(sentAt)), OutcomeOK
		if p.IsException() {
			x.Outcome = OutcomeException
		}
		return x, nil
	}
	for {
		ev, ok, err := c.rtu.next(deadline)
		if err != nil {
			return x, fmt.Errorf("%w: %v", ErrBusIO, err)
		}
		if !ok {
			if head != nil {
				c.hear(*head) // nothing followed it: a request after all
			}
			return x, nil
		}
		if head != nil {
			whole := append(append([]byte(nil), head.Raw...), ev.Raw...)
			if f, err := DecodeRTU(whole, Response); err == nil && f.Unit == unit && f.PDU.BaseFunction() == req.Function {
				return answer(Event{Kind: EvFrame, Unit: unit, Raw: whole, Frame: f, End: ev.End})
			}
			c.hear(*head)
			head = nil
		}
		switch {
		case ev.Kind == EvFrame && ev.Unit == unit && ev.Frame.PDU.BaseFunction() == req.Function &&
			(ev.Frame.Dir == Response || echoShaped && bytes.Equal(ev.Raw, frame)):
			return answer(ev)
		case ev.Kind == EvFrame && ev.Frame.Dir == Request && ev.Unit == unit && ev.Frame.PDU.Function == req.Function:
			held := ev
			head = &held
		case (ev.Kind == EvCRCError || ev.Kind == EvTruncated) && ev.Unit == unit:
			c.Heard.CRCErrors++
			x.Outcome = OutcomeCRC
			// A garbled answer is the answer: wait only for a second one.
			deadline = minTime(deadline, ev.End.Add(c.o.Serial.Silence()+c.o.Serial.WireTime(len(ev.Raw))))
		default:
			c.hear(ev)
		}
	}
}

// absorb takes in what already arrived: another master's traffic between
// ectool's requests.
func (c *Client) absorb() error { return c.hearUntil(c.o.Now()) }

func (c *Client) hearUntil(deadline time.Time) error {
	for {
		ev, ok, err := c.rtu.next(deadline)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBusIO, err)
		}
		if !ok {
			c.Heard.Echo = c.rtu.echoSeen
			return nil
		}
		c.hear(ev)
	}
}

func (c *Client) doTCP(unit byte, req PDU, timeout time.Duration) (Exchange, error) {
	c.tid++
	tid := c.tid
	x := Exchange{Unit: unit, Request: req, Outcome: OutcomeTimeout, At: c.o.Now()}
	if _, err := c.tcp.Write(EncodeMBAP(tid, unit, req)); err != nil {
		return x, targetError(c.o.Target, fmt.Errorf("%w: writing to %s: %v", ErrBusIO, c.o.Target.Addr, err))
	}
	if unit == 0 { // a gateway passes a broadcast on; nobody answers it
		x.Outcome = OutcomeBroadcast
		return x, nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case m := <-c.rx:
			if m.err != nil {
				return x, targetError(c.o.Target, fmt.Errorf("%w: %s closed the connection: %v", ErrBusIO, c.o.Target.Addr, m.err))
			}
			if m.f.Transaction != tid || m.f.PDU.BaseFunction() != req.Function {
				continue // a late answer to an earlier request
			}
			p := m.f.PDU
			x.Answer, x.Latency, x.Outcome = &p, m.at.Sub(x.At), OutcomeOK
			if p.IsException() {
				x.Outcome = OutcomeException
				// A gateway's "target did not respond" is the device's timeout.
				if p.Exception() == ExGatewayTargetNoResponse {
					x.Outcome = OutcomeTimeout
				}
			}
			return x, nil
		case <-t.C:
			return x, nil
		}
	}
}

// listening is what bus.listen is judged from: set once the client
// listened, judged at report time, when the line's traffic during the
// exchanges is known too.
type listening struct {
	tcp         bool
	skipped     bool // --listen 0
	talkOver    bool // --talk-over-master
	mayTalkOver bool // false for a write
	// at, when set, is what was heard when the decision to talk was taken
	// (a write's): traffic after it does not undo what was done.
	at *Heard
}

func (c *Client) listening(mayTalkOver bool) *listening {
	return &listening{tcp: c.rtu == nil, skipped: c.o.Listen < 0, talkOver: c.o.TalkOverMaster && mayTalkOver, mayTalkOver: mayTalkOver}
}

// check is bus.listen: failed when another master was heard and the
// command may not talk over it (a write never may).
func (l *listening) check(h Heard) report.Check {
	if l.at != nil {
		h = *l.at
	}
	ch := report.Check{ID: CheckListen, Title: "listen before talking", Status: report.OK,
		Evidence: map[string]any{"listened_ms": h.ListenedMS, "foreign_master": h.ForeignMaster, "noise_bytes": h.NoiseBytes}}
	if l.tcp {
		ch.Status, ch.SkippedReason = report.Skipped, "a Modbus TCP gateway shows only its own exchanges: other masters are not heard"
		ch.Evidence = nil
		return ch
	}
	if len(h.ForeignFrames) > 0 {
		ch.Evidence["foreign_frames"] = h.ForeignFrames
	}
	switch {
	case h.ForeignMaster && !l.mayTalkOver:
		ch.Status = report.Failed
		ch.Hint = "another master polls this bus (a gateway or PLC): a write now would collide with its traffic, so ectool did not send it; stop that master, or write through it"
	case h.ForeignMaster && l.talkOver:
		ch.Status = report.Warning
		ch.Hint = "another master polls this bus: ectool talked over it (--talk-over-master), so its requests and ectool's collide now and then"
	case h.ForeignMaster:
		ch.Status = report.Failed
		ch.Hint = "another master polls this bus (a gateway or PLC): ectool stopped at the first of its requests heard; stop that master, read through it, or pass --talk-over-master to read anyway"
	case l.skipped:
		ch.Status, ch.SkippedReason = report.Skipped, "--listen 0: not listened"
		ch.Evidence = nil
	}
	return ch
}

// openCheck is bus.open for a client's report.
func openCheck(t Target, s Settings, err error) report.Check {
	ch := report.Check{ID: CheckOpen, Title: "open " + t.String(), Status: report.OK, Evidence: map[string]any{}}
	if s.Serial != nil {
		ch.Evidence["serial"] = s.Serial.String()
	}
	if len(s.Bridges) > 0 {
		ch.Evidence["bridges"] = s.Bridges
	}
	if len(s.ForcedPast) > 0 {
		ch.Evidence["forced_past"] = s.ForcedPast
	}
	if err != nil {
		ch.Status = report.Failed
		ch.Evidence["error"] = err.Error()
		ch.Hint, _ = OpenFailure(err)
	}
	return ch
}

// kinded gives the error of a command's run (Scan, Sniff, AutoDetect,
// Read, Write, Watch) its exit kind: a port or target that could not be
// opened, or failed mid-run, means the command could not run (exit 3;
// OpenFailure tells them apart). A TCP target nothing accepts connections
// at keeps no kind: the report's failed check makes it a problem found
// (exit 1). An interrupt keeps none either.
func kinded(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	if _, cannot := OpenFailure(err); cannot {
		return exitcode.Wrap(exitcode.KindCannotRun, err)
	}
	return err
}
