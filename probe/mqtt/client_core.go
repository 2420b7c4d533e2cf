package mqtt

import (
	"context"
	"sync/atomic"
)

// clientCore is the part of a connected client both versions hold alike: the
// connection, what the broker answered to CONNECT, the queue of received
// messages (fed by the library and by the QoS 0 fast path, in order) and
// the connection's life. client5 and client311 embed it; its methods are
// the parts of Client that do not depend on the library.
type clientCore struct {
	conn    *bufConn
	connack ConnAck
	q       *msgQueue
	life    *lifecycle
	fast    *fastPath
	// subscribed: messages may be on their way to us at any time.
	subscribed atomic.Bool
}

// newClientCore is the prologue of both clients' connect: the queue, the
// life, and the fast path installed on the connection before CONNECT (it
// reads whole packets from then on).
func newClientCore(conn *bufConn, v Version) *clientCore {
	s := &clientCore{conn: conn, q: newMsgQueue(), life: newLifecycle()}
	s.fast = &fastPath{q: s.q, version: v}
	s.fast.install(conn)
	return s
}

// received queues a message the library delivered.
func (s *clientCore) received(m Message) {
	s.q.push(m)
	s.fast.delivered()
}

// lost records that the connection ended under us; hint says what the
// version's brokers usually mean by it.
func (s *clientCore) lost(err error, hint string) {
	s.life.fail(&StepError{Step: StepReceive, Message: "connection to the broker lost: " + lostWords(err), Hint: hint, Err: err})
}

// ended reports whether the connection has ended.
func (s *clientCore) ended() bool {
	select {
	case <-s.life.done:
		return true
	default:
		return false
	}
}

// syncAfter is the end of Sync once pingBarrier did not see its answer:
// no answer in time, or the connection ended first (refused says what a
// broker closing it then means for this version).
func (s *clientCore) syncAfter(ctx context.Context, err error, refused func() error) error {
	if err != nil {
		return &StepError{Step: StepPublish, Message: "no answer to PINGREQ in time after the publishes",
			Hint: "the broker stopped answering: look at the broker's log; raise --timeout on a slow link", Err: err}
	}
	select {
	case <-s.life.done:
	case <-ctx.Done():
	}
	if refused != nil && !s.life.isClosing() {
		return refused()
	}
	return s.life.lostError(StepPublish, "the publishes were not all taken")
}

func (s *clientCore) ConnAck() ConnAck         { return s.connack }
func (s *clientCore) Messages() <-chan Message { return s.q.out }
func (s *clientCore) Done() <-chan struct{}    { return s.life.done }
func (s *clientCore) Err() error               { return s.life.Err() }
