package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/ecdata/ectool/probe/netpath"
)

// DefaultConnectTimeout bounds each connection step when Options leave it 0.
const DefaultConnectTimeout = 10 * time.Second

func (o Options) normalized() Options {
	if o.Version == "" {
		o.Version = V5
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.KeepAlive <= 0 && !o.NoKeepAlive {
		o.KeepAlive = 30 * time.Second
	}
	if o.NoKeepAlive {
		o.KeepAlive = 0
	}
	if o.ClientID == "" && !o.EmptyClientID {
		o.ClientID = RandomClientID()
	}
	return o
}

// RandomClientID is "ectool-" and 8 random hex digits (15 characters, within
// the 23 every MQTT 3.1.1 broker must accept).
func RandomClientID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "ectool-" + hex.EncodeToString(b)
}

// Connect reaches the broker and logs in: DNS, TCP, TLS, WebSocket upgrade,
// then CONNECT/CONNACK, each step bounded by o.ConnectTimeout. It speaks MQTT
// 5 (paho.golang) or 3.1.1 (paho.mqtt.golang) as o.Version says; with VAuto
// it tries 5 and falls back to 3.1.1 when the broker refuses 5 (see
// connectAuto). Every failure is a *StepError; a broker refusal in CONNACK
// wraps a *ReasonError.
func Connect(ctx context.Context, o Options) (Client, error) {
	o = o.normalized()
	if o.Version == VAuto {
		return connectAuto(ctx, o)
	}
	c, _, err := connectOnce(ctx, o)
	return c, err
}

// connectOnce is one dial and CONNECT in o.Version. dialed is when the dial
// ended (zero when it failed): the CONNECT step's budget counts from it.
func connectOnce(ctx context.Context, o Options) (Client, time.Time, error) {
	raw, info, err := DialBroker(ctx, o)
	if err != nil {
		return nil, time.Time{}, err
	}
	dialed := time.Now()
	conn := newBufConn(raw)
	var c Client
	switch o.Version {
	case V5:
		c, err = connect5(ctx, conn, o, info)
	case V311:
		c, err = connect311(ctx, conn, o, info)
	default:
		err = &StepError{Step: StepConnect, Message: fmt.Sprintf("MQTT version %q is not supported", o.Version), Hint: "use 5, 3.1.1 or auto"}
	}
	if err != nil {
		_ = conn.abort()
		return nil, dialed, tlsPortProbe(ctx, credentialHint(err, o), o, info)
	}
	return c, dialed, nil
}

// credentialHint rewords the hint of a CONNACK refusing the credentials
// when none were given: the broker wants a user name.
func credentialHint(err error, o Options) error {
	var se *StepError
	var re *ReasonError
	if o.Username != "" || o.HasPassword || o.TLS.CertFile != "" || !errors.As(err, &se) || !errors.As(err, &re) || re.Packet != PacketConnack {
		return err
	}
	switch {
	case re.Version == V311 && (re.Code == 4 || re.Code == 5), re.Version == V5 && (re.Code == 0x86 || re.Code == 0x87 || re.Code == 0x8C):
		se.Hint = "no user name was given, and this broker does not let anonymous clients in: pass -u/--username and --password-file (or a client certificate with --cert/--key)"
	}
	return err
}

// connectStepError words a CONNECT that got no CONNACK.
func connectStepError(err error, conn *bufConn, o Options, info *DialInfo) *StepError {
	if first := conn.notMQTTAnswer(); first != nil {
		return notMQTTStepError(first, info.Broker)
	}
	se := &StepError{Step: StepConnect, Err: err}
	first := conn.firstBytes()
	if o.Version == V5 && len(first) >= 4 && first[0] == 0x20 && first[1] == 0x02 && first[3] == 0x01 {
		re := &ReasonError{Packet: PacketConnack, Version: V311, Code: 1}
		se.Err = re
		se.Message = "broker refuses MQTT 5: it answered with an MQTT 3.1.1 CONNACK \"unacceptable protocol version\""
		se.Hint = "use --mqtt-version 3.1.1, or auto to fall back by itself"
		return se
	}
	if a := netpath.AlertText(err); a != "" {
		// TLS 1.3 brokers refuse a client certificate after the handshake,
		// so the refusal arrives while we wait for CONNACK.
		te := tlsStepError(err, info.Broker, nil, o.ConnectTimeout)
		te.Step = StepTLS
		return te
	}
	switch {
	case errors.Is(err, context.Canceled):
		se.Message = "interrupted while waiting for CONNACK"
		se.Hint = "nothing was refused: run the command again"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		se.Message = fmt.Sprintf("no CONNACK within %s: the port accepted the connection but did not answer CONNECT", durText(o.ConnectTimeout))
		ws := "ws"
		if info.Broker.TLS() {
			ws = "wss"
		}
		se.Hint = fmt.Sprintf("is this an MQTT port? An HTTP or WebSocket port waits for a request line (for MQTT over WebSockets use %s://%s/mqtt); a proxy or firewall may also hold the connection", ws, info.Broker.Addr())
	case len(first) == 0 && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)):
		se.Err = &silentClose{err: err}
		se.Message = "the broker closed the connection after CONNECT without a CONNACK"
		if o.Version == V5 {
			se.Hint = "the broker may not speak MQTT 5: try --mqtt-version 3.1.1 (or auto); otherwise it refused this client silently (a TLS port spoken to in plain? a banned client?): look at the broker's log"
		} else {
			se.Hint = "the broker refused this client silently (a TLS port spoken to in plain? an ACL or a banned client?): look at the broker's log"
		}
		if !info.Broker.TLS() {
			se.Hint += "; if the port expects TLS, use mqtts://"
		} else if o.TLS.CertFile == "" {
			se.Hint += "; if the broker requires a client certificate, pass --cert and --key"
		} else {
			se.Hint += "; the broker may have rejected the client certificate (--cert)"
		}
	default:
		se.Message = "CONNECT failed: " + err.Error()
		se.Hint = "look at the broker's log for why it refused the connection"
	}
	return se
}

// connackRefused wraps a CONNACK refusal.
func connackRefused(v Version, code byte, reason string) *StepError {
	re := &ReasonError{Packet: PacketConnack, Version: v, Code: code, Reason: reason}
	msg := fmt.Sprintf("the broker refused the connection: %s (CONNACK 0x%02X)", ReasonText(v, PacketConnack, code), code)
	if reason != "" {
		msg += ": " + reason
	}
	return &StepError{Step: StepConnect, Message: msg, Hint: ReasonHint(v, PacketConnack, code), Err: re}
}

// msgQueue is an unbounded, ordered hand-over from the library's receive
// callback to Messages(): the callback never blocks (so acknowledgements keep
// flowing) and nothing is dropped. While the consumer keeps up, messages go
// straight into the channel; when it is full they wait in an overflow list
// that a pump goroutine feeds into the channel in order.
type msgQueue struct {
	mu       sync.Mutex
	cond     *sync.Cond
	overflow []Message
	pumping  bool // the pump holds messages not yet in out
	closed   bool
	out      chan Message
}

func newMsgQueue() *msgQueue {
	q := &msgQueue{out: make(chan Message, 4096)}
	q.cond = sync.NewCond(&q.mu)
	go q.pump()
	return q
}

func (q *msgQueue) push(m Message) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if len(q.overflow) == 0 && !q.pumping {
		select {
		case q.out <- m:
			return
		default:
		}
	}
	q.overflow = append(q.overflow, m)
	q.cond.Signal()
}

func (q *msgQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Signal()
	q.mu.Unlock()
}

func (q *msgQueue) pump() {
	for {
		q.mu.Lock()
		for len(q.overflow) == 0 && !q.closed {
			q.cond.Wait()
		}
		if len(q.overflow) == 0 {
			q.mu.Unlock()
			close(q.out)
			return
		}
		batch := q.overflow
		q.overflow = nil
		q.pumping = true
		q.mu.Unlock()
		for _, m := range batch {
			q.out <- m
		}
		q.mu.Lock()
		q.pumping = false
		q.mu.Unlock()
	}
}

// lifecycle tracks how a connection ended, for Done and Err.
type lifecycle struct {
	done     chan struct{}
	once     sync.Once
	mu       sync.Mutex
	err      error
	closing  bool // Disconnect or Abort was called: the end is no error
	errReady chan struct{}
	errOnce  sync.Once
}

func newLifecycle() *lifecycle {
	return &lifecycle{done: make(chan struct{}), errReady: make(chan struct{})}
}

// fail records why the connection ended (the first reason wins).
func (l *lifecycle) fail(err error) {
	l.mu.Lock()
	if l.err == nil && !l.closing {
		l.err = err
	}
	l.mu.Unlock()
	l.errOnce.Do(func() { close(l.errReady) })
}

func (l *lifecycle) setClosing() {
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
}

func (l *lifecycle) isClosing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closing
}

func (l *lifecycle) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// end closes Done once the library reports the end; it waits briefly for
// the reason, which the libraries report from another goroutine.
func (l *lifecycle) end() {
	l.once.Do(func() {
		if !l.isClosing() {
			select {
			case <-l.errReady:
			case <-time.After(200 * time.Millisecond):
			}
		}
		l.mu.Lock()
		if l.err == nil && !l.closing {
			l.err = &StepError{Step: StepReceive, Message: "the broker closed the connection", Hint: "look at the broker's log for the reason (another client with the same id? an ACL?)"}
		}
		l.mu.Unlock()
		close(l.done)
	})
}

// disconnectNotSent is Disconnect's error when the DISCONNECT (or what was
// buffered before it) could not be sent: to the broker the connection was
// lost, so it publishes the Will.
func disconnectNotSent(err error) error {
	why := lostWords(err)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		why = "the broker did not take it within 2s (the link stalls)"
	}
	return &StepError{Step: StepReceive, Message: "DISCONNECT was not sent: " + why,
		Hint: "the broker sees a lost connection: it publishes this client's Will, if one was registered, and keeps its session as after a power cut", Err: err}
}

// lostError is the error for an operation cut short by the connection's end.
func (l *lifecycle) lostError(step Step, what string) error {
	if err := l.Err(); err != nil {
		msg, hint := Explain(err)
		return &StepError{Step: step, Message: what + ": " + msg, Hint: hint, Err: err}
	}
	return &StepError{Step: step, Message: what + ": the connection was closed", Err: net.ErrClosed}
}
