package mqtt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hookConn is the socket under a bufConn: it keeps what was sent, calls
// onWrite (once) from inside the first Write, and fails every Write with
// fail when set.
type hookConn struct {
	mu      sync.Mutex
	sent    bytes.Buffer
	onWrite func()
	fail    error
}

func (h *hookConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	f := h.onWrite
	h.onWrite = nil
	h.mu.Unlock()
	if f != nil {
		f()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail != nil {
		return 0, h.fail
	}
	return h.sent.Write(p)
}

func (h *hookConn) wrote() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]byte(nil), h.sent.Bytes()...)
}

func (h *hookConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (h *hookConn) Close() error                     { return nil }
func (h *hookConn) LocalAddr() net.Addr              { return nil }
func (h *hookConn) RemoteAddr() net.Addr             { return nil }
func (h *hookConn) SetDeadline(time.Time) error      { return nil }
func (h *hookConn) SetReadDeadline(time.Time) error  { return nil }
func (h *hookConn) SetWriteDeadline(time.Time) error { return nil }

var (
	disconnectPacket = []byte{0xE0, 0x00}
	pubackPacket     = []byte{0x40, 0x02, 0x00, 0x01}
)

// A PUBACK the fast path writes while Close sends the DISCONNECT: the
// write either leaves with it or fails, never "succeeds" into a buffer
// nobody sends. (Without the flusher, Close's last flush alone decides,
// as it does once the flusher has stopped.)
func TestAWriteDuringTheLastFlushIsSentOrRefused(t *testing.T) {
	h := &hookConn{}
	b := idleBufConn(h)
	if _, err := b.Write(disconnectPacket); err != nil {
		t.Fatal(err)
	}
	var lateErr error
	h.onWrite = func() { _, lateErr = b.Write(pubackPacket) }
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if lateErr == nil && !bytes.Contains(h.wrote(), pubackPacket) {
		t.Fatalf("a Write during Close returned success but was never sent (sent % X)", h.wrote())
	}
}

func TestCloseReportsWhatNeverLeft(t *testing.T) {
	h := &hookConn{fail: syscall.EPIPE}
	b := newBufConn(h)
	if _, err := b.Write(disconnectPacket); err != nil {
		t.Fatal(err) // buffered: the socket's error comes later
	}
	if err := b.Close(); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Close after the DISCONNECT failed to leave: %v, want the send error", err)
	}
}

// pipeBroker is the far end of a bufConn in packet mode: the test reads
// what the client sent and writes the broker's answers.
func pipeBroker(t *testing.T) (*bufConn, net.Conn) {
	t.Helper()
	client, broker := net.Pipe()
	b := newBufConn(client)
	b.setIntercept(0, func(byte, []byte) bool { return false }, nil)
	go func() { // the library's reader
		var buf [64]byte
		for {
			if _, err := b.Read(buf[:]); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { _ = b.abort(); _ = broker.Close() })
	if _, err := broker.Write([]byte{0x20, 0x03, 0x00, 0x00, 0x00}); err != nil { // CONNACK
		t.Fatal(err)
	}
	return b, broker
}

func expectPing(t *testing.T, broker net.Conn) {
	t.Helper()
	var p [2]byte
	if _, err := io.ReadFull(broker, p[:]); err != nil || p != [2]byte{0xC0, 0x00} {
		t.Fatalf("read % X %v, want a PINGREQ", p, err)
	}
}

// The library's keep-alive PINGREQ is in flight when Sync sends its own:
// the keep-alive's PINGRESP does not prove the broker read what was
// written before Sync's PINGREQ.
func TestPingBarrierIsNotEndedByAKeepAlivesLatePINGRESP(t *testing.T) {
	b, broker := pipeBroker(t)
	if _, err := b.Write([]byte{0xC0, 0x00}); err != nil { // the keep-alive
		t.Fatal(err)
	}
	expectPing(t, broker)

	type result struct {
		ok  bool
		err error
	}
	res := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	go func() {
		ok, err := b.pingBarrier(ctx, make(chan struct{}))
		res <- result{ok, err}
	}()
	expectPing(t, broker)
	if _, err := broker.Write([]byte{0xD0, 0x00}); err != nil { // answers the keep-alive only
		t.Fatal(err)
	}
	if r := <-res; r.ok || !errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatalf("barrier ended with %v %v by the keep-alive's PINGRESP; want it to wait for its own", r.ok, r.err)
	}

	// Its own answer comes late; a new barrier waits past it for the next.
	go func() {
		ok, err := b.pingBarrier(context.Background(), make(chan struct{}))
		res <- result{ok, err}
	}()
	if _, err := broker.Write([]byte{0xD0, 0x00}); err != nil {
		t.Fatal(err)
	}
	expectPing(t, broker)
	if _, err := broker.Write([]byte{0xD0, 0x00}); err != nil {
		t.Fatal(err)
	}
	if r := <-res; !r.ok || r.err != nil {
		t.Fatalf("barrier: %v %v, want ok once its PINGREQ is answered", r.ok, r.err)
	}
}

func TestOutgoingPINGREQsAreCountedHoweverWritesAreSplit(t *testing.T) {
	stream := []byte{
		0x30, 0x05, 0x00, 0x01, 't', 0xC0, 0x00, // QoS 0 PUBLISH whose payload is C0 00
		0xC0, 0x00, // PINGREQ
		0x30, 0x83, 0x01, // PUBLISH, remaining length 131
	}
	stream = append(stream, append([]byte{0x00, 0x01, 'u'}, bytes.Repeat([]byte{0xC0}, 128)...)...)
	stream = append(stream, 0xC0, 0x00, 0xE0, 0x00) // PINGREQ, DISCONNECT
	for split := 1; split <= len(stream); split++ {
		var s outScan
		for i := 0; i < len(stream); i += split {
			s.scan(stream[i:min(i+split, len(stream))])
		}
		if s.pings != 2 {
			t.Fatalf("pieces of %d bytes: %d PINGREQs, want 2", split, s.pings)
		}
	}
}
