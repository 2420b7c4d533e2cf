package mqtt

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// bufConn is the broker connection both MQTT libraries write to. The
// libraries write a packet in several small pieces (header, properties,
// payload) and read it a byte or two at a time; sent straight to the socket
// that is several syscalls and TCP segments per message. bufConn collects
// writes in memory and a flusher goroutine sends whatever has accumulated as
// soon as it can, so a burst of QoS 0 publishes leaves in large segments
// while a lone packet still goes out at once (nothing waits for a timer).
// Reads go through a bufio.Reader.
//
// It implements sync.Locker: paho.golang holds the lock across the pieces of
// one packet so concurrent publishers never interleave.
type bufConn struct {
	net.Conn
	r *bufio.Reader

	pkt sync.Mutex // one packet at a time (sync.Locker for paho)

	mu      sync.Mutex
	drained *sync.Cond // signalled after each flush
	buf     []byte
	spare   []byte
	err     error // first write error; later writes fail with it
	closed  bool

	wmu  sync.Mutex // serialises socket writes (flusher and Close)
	kick chan struct{}
	stop chan struct{}

	once sync.Once
	// readEnded is closed when a read fails (the broker closed, or we did).
	readEnded chan struct{}
	rmu       sync.Mutex // held by a Read in progress
	// noLinger: nothing can be on its way to us (a pure publisher with
	// every acknowledgement in), so Close need not wait for the broker.
	noLinger atomic.Bool
	readOnce sync.Once
	// peek keeps the first bytes the broker sent, to recognise an MQTT 3.1.1
	// CONNACK when MQTT 5 was spoken.
	peek    [8]byte
	peekLen int
	// sniffed: the server's first bytes were looked at (see sniffFirst);
	// notMQTT holds them when they are not MQTT.
	sniffed bool
	notMQTT atomic.Pointer[[]byte]

	// Packet mode (setIntercept): only the reading goroutine touches these.
	intercept    func(header byte, body []byte) bool
	interceptQoS byte // the highest QoS offered to intercept
	passed       func()
	pending      []byte
	pendingOff   int
	// connack is the body of the CONNACK as received (read it once the
	// library has returned from CONNECT).
	connack []byte

	// PINGREQs written and PINGRESPs read, whoever sent the PINGREQ (the
	// libraries' keep-alive, or pingBarrier): a broker answers them in
	// order, so the n-th PINGRESP answers the n-th PINGREQ.
	out   outScan // under mu: follows the packets in the send buffer
	pongs atomic.Int64
	// pong is signalled (capacity 1) after each PINGRESP read.
	pong chan struct{}
}

// outScan follows the packet boundaries of the bytes being sent, however
// the libraries split their writes, to count the PINGREQs among them.
type outScan struct {
	inLen  bool // reading a remaining length
	hdr    byte
	length int
	mult   int
	skip   int // body bytes still to pass
	pings  int64
}

func (s *outScan) scan(p []byte) {
	for len(p) > 0 {
		switch {
		case s.skip > 0:
			n := min(s.skip, len(p))
			s.skip -= n
			p = p[n:]
		case !s.inLen:
			s.hdr, s.inLen, s.length, s.mult = p[0], true, 0, 1
			p = p[1:]
		default:
			c := p[0]
			p = p[1:]
			s.length += int(c&0x7f) * s.mult
			s.mult *= 128
			if c&0x80 == 0 || s.mult > 128*128*128*128 {
				s.inLen, s.skip = false, s.length
				if s.hdr == 0xC0 {
					s.pings++
				}
			}
		}
	}
}

// maxPending bounds the unsent bytes: writers wait beyond it.
const maxPending = 1 << 20

func newBufConn(c net.Conn) *bufConn {
	b := idleBufConn(c)
	go b.flusher()
	return b
}

// idleBufConn is a bufConn without its flusher: only Close sends.
func idleBufConn(c net.Conn) *bufConn {
	b := &bufConn{
		Conn:      c,
		r:         bufio.NewReaderSize(c, 64<<10),
		kick:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		readEnded: make(chan struct{}),
		pong:      make(chan struct{}, 1),
	}
	b.drained = sync.NewCond(&b.mu)
	return b
}

func (b *bufConn) Lock()   { b.pkt.Lock() }
func (b *bufConn) Unlock() { b.pkt.Unlock() }

func (b *bufConn) Read(p []byte) (int, error) {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	var n int
	var err error
	if b.intercept != nil {
		n, err = b.readPackets(p)
	} else {
		n, err = b.r.Read(p)
		b.remember(p[:n])
	}
	if err != nil {
		b.readOnce.Do(func() { close(b.readEnded) })
	}
	return n, err
}

func (b *bufConn) remember(p []byte) {
	if b.peekLen < len(b.peek) && len(p) > 0 {
		b.peekLen += copy(b.peek[b.peekLen:], p)
	}
}

// setIntercept switches reading to whole packets before the library sees
// them (call it before CONNECT): each PUBLISH up to maxQoS is offered to f,
// and one f takes never reaches the library. That fast path skips the
// library's generic decoding, which costs several allocations per message.
// passed is called for every PUBLISH handed to the library instead, so f
// can keep the order.
func (b *bufConn) setIntercept(maxQoS byte, f func(header byte, body []byte) bool, passed func()) {
	b.intercept, b.interceptQoS, b.passed = f, maxQoS, passed
}

// readPackets serves the library whole packets, minus the ones intercepted.
func (b *bufConn) readPackets(p []byte) (int, error) {
	if !b.sniffed {
		b.sniffed = true
		if first := sniffFirst(b.r); first != nil {
			b.notMQTT.Store(&first)
			return 0, &notMQTTError{first: first}
		}
	}
	for b.pendingOff == len(b.pending) {
		b.pending, b.pendingOff = b.pending[:0], 0
		hdr, err := b.r.ReadByte()
		if err != nil {
			return 0, err
		}
		var vbi [4]byte
		length, nv := 0, 0
		for mult := 1; ; mult *= 128 {
			c, err := b.r.ReadByte()
			if err != nil {
				return 0, err
			}
			if nv == 4 {
				return 0, errors.New("malformed packet: remaining length longer than 4 bytes")
			}
			vbi[nv] = c
			nv++
			length += int(c&0x7f) * mult
			if c&0x80 == 0 {
				break
			}
		}
		isPublish := hdr>>4 == 3
		if isPublish && (hdr>>1)&3 <= b.interceptQoS {
			body := make([]byte, length)
			if _, err := io.ReadFull(b.r, body); err != nil {
				return 0, err
			}
			if b.intercept(hdr, body) {
				continue
			}
			b.pending = append(append(append(b.pending, hdr), vbi[:nv]...), body...)
		} else {
			b.pending = append(append(b.pending, hdr), vbi[:nv]...)
			start := len(b.pending)
			b.pending = append(b.pending, make([]byte, length)...)
			if _, err := io.ReadFull(b.r, b.pending[start:]); err != nil {
				return 0, err
			}
		}
		if isPublish && b.passed != nil {
			b.passed()
		}
		if hdr == 0xD0 {
			b.pongs.Add(1)
			select {
			case b.pong <- struct{}{}:
			default:
			}
		}
		if hdr>>4 == 2 && b.connack == nil {
			b.connack = append([]byte(nil), b.pending[1+nv:]...)
		}
		b.remember(b.pending)
	}
	n := copy(p, b.pending[b.pendingOff:])
	b.pendingOff += n
	return n, nil
}

// firstBytes is what the broker sent first (up to 8 bytes).
func (b *bufConn) firstBytes() []byte { return b.peek[:b.peekLen] }

// notMQTTAnswer is what the server sent first when it is not MQTT (nil
// otherwise, or before it answered).
func (b *bufConn) notMQTTAnswer() []byte {
	if p := b.notMQTT.Load(); p != nil {
		return *p
	}
	return nil
}

func (b *bufConn) Write(p []byte) (int, error) {
	if err := b.lockRoom(); err != nil {
		return 0, err
	}
	b.buf = append(b.buf, p...)
	b.out.scan(p)
	b.mu.Unlock()
	b.wake()
	return len(p), nil
}

// lockRoom takes b.mu once the send buffer has room (below maxPending),
// or fails, unlocked, with why nothing more may be sent: the first write
// error, or the connection closed.
func (b *bufConn) lockRoom() error {
	b.mu.Lock()
	for len(b.buf) >= maxPending && b.err == nil && !b.closed {
		b.drained.Wait()
	}
	if b.err != nil || b.closed {
		err := b.err
		b.mu.Unlock()
		if err == nil {
			err = net.ErrClosed
		}
		return err
	}
	return nil
}

// wake tells the flusher there is something to send.
func (b *bufConn) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// writePacket appends one whole packet, encoded by enc straight into the
// send buffer, under the packet lock so it never lands inside another.
func (b *bufConn) writePacket(enc func(dst []byte) []byte) error {
	_, err := b.appendPacket(enc)
	return err
}

// appendPacket is writePacket, also returning how many PINGREQs have been
// written up to and including this packet.
func (b *bufConn) appendPacket(enc func(dst []byte) []byte) (int64, error) {
	b.pkt.Lock()
	defer b.pkt.Unlock()
	if err := b.lockRoom(); err != nil {
		return 0, err
	}
	start := len(b.buf)
	b.buf = enc(b.buf)
	b.out.scan(b.buf[start:])
	pings := b.out.pings
	b.mu.Unlock()
	b.wake()
	return pings, nil
}

func (b *bufConn) flusher() {
	for {
		select {
		case <-b.kick:
		case <-b.stop:
			return
		}
		if err := b.flush(); err != nil {
			// Leave the socket open: what the broker sent before it
			// closed (a TLS alert, a DISCONNECT) is still to be read.
			return
		}
	}
}

// flush sends everything buffered so far.
func (b *bufConn) flush() error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	out := b.buf
	b.buf = b.spare[:0]
	b.mu.Unlock()
	var err error
	if len(out) > 0 {
		_, err = b.Conn.Write(out)
	}
	b.mu.Lock()
	b.spare = out[:0]
	if err != nil && b.err == nil {
		b.err = err
	}
	b.drained.Broadcast()
	b.mu.Unlock()
	return err
}

// Close sends what is still buffered (a DISCONNECT, the last
// acknowledgements), waiting at most two seconds, then closes the socket
// gracefully: it shuts down the sending side and waits (at most a second)
// for the broker to close its own. Closing at once would reset the
// connection if the broker's last bytes were still unread here, and a
// reset makes the broker throw away what it had not read yet: the last
// acknowledgements, so it would send those messages again next session.
//
// Writes are refused from the start of Close, so every Write that
// succeeded is in the last flush. Close returns the first error sending
// (then something buffered, perhaps the DISCONNECT, never left), else the
// socket's close error.
func (b *bufConn) Close() error {
	var err error
	b.once.Do(func() {
		_ = b.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		b.markClosed()
		_ = b.flush()
		close(b.stop)
		werr := b.writeErr()
		if cw, ok := b.Conn.(interface{ CloseWrite() error }); ok && werr == nil && !b.noLinger.Load() {
			if cw.CloseWrite() == nil {
				b.awaitPeerClose(time.Second)
			}
		}
		err = b.Conn.Close()
		if werr != nil {
			err = werr
		}
	})
	return err
}

// writeErr is the first error sending to the socket: whatever was buffered
// then never left.
func (b *bufConn) writeErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// awaitPeerClose waits until the broker has closed its side: the library's
// reader sees it, or, when the library no longer reads (it may stop between
// packets once told to shut down), we read to the end ourselves.
func (b *bufConn) awaitPeerClose(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-b.readEnded:
			return
		default:
		}
		if b.rmu.TryLock() {
			_ = b.Conn.SetReadDeadline(deadline)
			var sink [4096]byte
			for {
				if _, err := b.r.Read(sink[:]); err != nil {
					break
				}
			}
			b.rmu.Unlock()
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pingBarrier sends a PINGREQ behind everything written so far and waits
// for the PINGRESP that answers it: the broker answers it only after it
// has read (and not refused by closing the connection) every packet before
// it. PINGRESPs owed to earlier PINGREQs (the libraries' keep-alive) do not
// count. ended is the connection's end; ping returns false when it comes
// first.
func (b *bufConn) pingBarrier(ctx context.Context, ended <-chan struct{}) (bool, error) {
	seq, err := b.appendPacket(func(dst []byte) []byte { return append(dst, 0xC0, 0x00) })
	if err != nil {
		return false, nil
	}
	for b.pongs.Load() < seq {
		select {
		case <-b.pong:
		case <-ended:
			// The answer may have been read just before the end.
			return b.pongs.Load() >= seq, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return true, nil
}

// abort closes the socket without sending what is buffered: a power cut.
func (b *bufConn) abort() error {
	var err error
	b.once.Do(func() {
		b.shut()
		err = b.Conn.Close()
	})
	return err
}

func (b *bufConn) shut() {
	b.markClosed()
	close(b.stop)
}

// markClosed refuses every later write.
func (b *bufConn) markClosed() {
	b.mu.Lock()
	b.closed = true
	b.drained.Broadcast()
	b.mu.Unlock()
}
