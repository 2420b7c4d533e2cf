package mqtt

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"
	"github.com/eclipse/paho.golang/paho/store/memory"
)

// discardStore is the client side store of a session that is never
// resumed (ectool does not reconnect): paho keeps outgoing packets there
// only to resend them on a new connection, so serialising each publish into
// memory would be wasted work.
type discardStore struct{}

func (discardStore) Put(uint16, byte, io.WriterTo) error { return nil }
func (discardStore) Get(uint16) (io.ReadCloser, error)   { return nil, errors.New("not stored") }
func (discardStore) Delete(uint16) error                 { return nil }
func (discardStore) Quarantine(uint16) error             { return nil }
func (discardStore) List() ([]uint16, error)             { return nil, nil }
func (discardStore) Reset() error                        { return nil }

// asyncSession wraps paho.golang's in-memory session so QoS 1/2 publishes
// can be pipelined in order: paho's asynchronous publish returns once the
// packet is written, and this session routes each PUBACK/PUBREC/PUBCOMP to
// the callback registered for that publish. paho's own session still does
// the protocol work (packet IDs, the broker's Receive Maximum, PUBREL).
type asyncSession struct {
	*state.State

	// next is the callback of the publish being added; set by the (only)
	// publishing goroutine, under client5.pubMu.
	next func(packets.ControlPacket)

	mu      sync.Mutex
	pending map[uint16]func(packets.ControlPacket)
	resp    chan packets.ControlPacket
	failReq chan chan struct{} // failAll's request to route
	stop    chan struct{}
}

var _ session.SessionManager = (*asyncSession)(nil)

func newAsyncSession() *asyncSession {
	s := &asyncSession{
		State:   state.New(discardStore{}, memory.New()),
		pending: map[uint16]func(packets.ControlPacket){},
		// paho sends responses while holding its session lock: never block.
		resp:    make(chan packets.ControlPacket, 65536),
		failReq: make(chan chan struct{}),
		stop:    make(chan struct{}),
	}
	go s.route()
	return s
}

func (s *asyncSession) AddToSession(ctx context.Context, p session.Packet, resp chan<- packets.ControlPacket) error {
	cb := s.next
	if p.Type() != packets.PUBLISH || cb == nil {
		return s.State.AddToSession(ctx, p, resp)
	}
	s.next = nil
	if err := s.State.AddToSession(ctx, p, s.resp); err != nil {
		return err
	}
	id := p.(*packets.Publish).PacketID
	s.mu.Lock()
	s.pending[id] = cb
	s.mu.Unlock()
	return nil
}

func (s *asyncSession) route() {
	for {
		select {
		case r := <-s.resp:
			s.dispatch(r)
		case done := <-s.failReq:
			s.drainAndFail()
			close(done)
		case <-s.stop:
			return
		}
	}
}

// dispatch hands a response to the publish it answers.
func (s *asyncSession) dispatch(r packets.ControlPacket) {
	if r.Type == 0 {
		return // the connection ended; failAll reports it
	}
	id := r.PacketID()
	s.mu.Lock()
	cb := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	if cb != nil {
		cb(r)
	}
}

// failAll hands every unacknowledged publish a zero packet (connection
// lost) once the responses already received are routed. route does it, so
// a response it has just taken is dispatched first: a PUBACK 0x87 read
// just before the broker closed the connection stays a refusal.
func (s *asyncSession) failAll() {
	done := make(chan struct{})
	select {
	case s.failReq <- done:
		<-done
	case <-s.stop:
		s.drainAndFail()
	}
}

func (s *asyncSession) drainAndFail() {
	for {
		select {
		case r := <-s.resp:
			s.dispatch(r)
			continue
		default:
		}
		break
	}
	s.mu.Lock()
	pending := s.pending
	s.pending = map[uint16]func(packets.ControlPacket){}
	s.mu.Unlock()
	for _, cb := range pending {
		cb(packets.ControlPacket{})
	}
}

// pendingCount is how many asynchronous publishes await their answer.
func (s *asyncSession) pendingCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}
