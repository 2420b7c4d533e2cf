package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ecdata/ectool/capture"
)

// CaptureConfig tunes the lab's recording of its own broker.
type CaptureConfig struct {
	// Disabled turns the recording off (`ectool lab --no-capture`).
	Disabled bool
}

// CaptureEndpoints say where the lab records its broker's traffic.
type CaptureEndpoints struct {
	// Dir is the ring directory: `ectool capture status|ls|export|inspect --dir DIR`.
	Dir string `json:"dir"`
	// Listeners are the recorded listeners, as each file's comment names them.
	Listeners []capture.Listener `json:"listeners"`
	// Error says why nothing is recorded ("" when recording).
	Error string `json:"error,omitempty"`
}

// labSegment is the largest TCP payload a synthesised segment carries
// (an Ethernet MSS with timestamps).
const labSegment = 1448

// captureComponent records every connection to the lab broker in-process:
// no CAP_NET_RAW, no interface. It wraps the broker's listeners (below TLS)
// and writes each connection as IPv4 (or IPv6)/TCP packets with real
// addresses and ports, a handshake, consistent sequence numbers and a FIN
// or RST at the end, into a capture ring at <lab dir>/capture.
type captureComponent struct {
	mu        sync.Mutex
	w         *capture.RingWriter
	expected  map[string]bool
	listeners []capture.Listener
	ep        *CaptureEndpoints
	dir       string
	stop      context.CancelFunc
	done      chan struct{}
	packets   uint64
}

func (c *captureComponent) Name() string { return "capture" }

// Start must come before the broker's: it sets the broker's listener hook.
// The ring opens once every expected listener is bound (their ports go in
// the files' comment).
func (c *captureComponent) Start(ctx context.Context, s *Site) error {
	c.dir = filepath.Join(s.Config.Dir, "capture")
	c.expected = map[string]bool{"mqtt": true, "mqtts": true, "mtls": true}
	if !s.Config.Broker.NoWebSocket {
		c.expected["ws"] = true
	}
	c.ep = &CaptureEndpoints{Dir: c.dir}
	s.Endpoints.Capture = c.ep
	prev := s.Config.Broker.WrapListener
	s.Config.Broker.WrapListener = func(name string, ln net.Listener) net.Listener {
		if prev != nil {
			ln = prev(name, ln)
		}
		return c.wrap(name, ln)
	}
	return nil
}

var listenerProtocols = map[string]struct{ scheme, suffix, proto string }{
	"mqtt":  {"mqtt", "", capture.ProtoMQTT},
	"mqtts": {"mqtts", "", capture.ProtoMQTTTLS},
	"mtls":  {"mqtts", "", capture.ProtoMQTTTLS},
	"ws":    {"ws", "/mqtt", capture.ProtoMQTTWS},
}

func (c *captureComponent) wrap(name string, ln net.Listener) net.Listener {
	c.mu.Lock()
	defer c.mu.Unlock()
	ap, _ := netip.ParseAddrPort(ln.Addr().String())
	p := listenerProtocols[name]
	c.listeners = append(c.listeners, capture.Listener{Name: name, URL: p.scheme + "://" + ap.String() + p.suffix, Addr: ap, Protocol: p.proto})
	delete(c.expected, name)
	if len(c.expected) == 0 {
		c.open()
	}
	return &recListener{Listener: ln, c: c}
}

// open starts the ring; a failure is reported in the endpoints, never
// fatal to the lab.
func (c *captureComponent) open() {
	c.ep.Listeners = c.listeners
	w, err := capture.NewRingWriter(capture.RingOptions{
		Dir: c.dir, Prefix: "lab", FileSize: 4 << 20, Files: 8, Flush: time.Second, Fsync: 30 * time.Second,
		Interfaces: []capture.IfaceSpec{{Name: "lab-broker", LinkType: layers.LinkTypeRaw, Snaplen: 2048}},
		Comment:    "ectool lab: the broker's own traffic, synthesised IP/TCP\n" + capture.FormatListeners(c.listeners),
	})
	if err != nil {
		c.ep.Error = err.Error()
		return
	}
	c.w = w
	ctx, cancel := context.WithCancel(context.Background())
	c.stop, c.done = cancel, make(chan struct{})
	go c.maintain(ctx)
}

func (c *captureComponent) maintain(ctx context.Context) {
	defer close(c.done)
	for {
		c.mu.Lock()
		wait := time.Until(c.w.NextDue())
		c.mu.Unlock()
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		c.mu.Lock()
		_ = c.w.Maintain()
		c.mu.Unlock()
	}
}

// write records one synthesised packet (nothing when the ring is not open).
func (c *captureComponent) write(pkt []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w == nil {
		return
	}
	c.packets++
	c.w.SetCounters(0, capture.Counters{Received: c.packets, Available: true})
	_ = c.w.WritePacket(0, time.Now(), pkt, len(pkt))
}

func (c *captureComponent) Stop() error {
	c.mu.Lock()
	w := c.w
	c.mu.Unlock()
	if w == nil {
		return nil
	}
	c.stop()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	c.w = nil
	return w.Close()
}

// recListener wraps each accepted connection in a recorder.
type recListener struct {
	net.Listener
	c *captureComponent
}

func (l *recListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return conn, err
	}
	client, _ := netip.ParseAddrPort(conn.RemoteAddr().String())
	server, _ := netip.ParseAddrPort(conn.LocalAddr().String())
	f := &tcpFlow{c: l.c, client: client, server: server, cseq: 0x1000, sseq: 0x8000}
	f.handshake()
	return &recConn{Conn: conn, f: f}, nil
}

// recConn records what passes through a broker connection.
type recConn struct {
	net.Conn
	f    *tcpFlow
	once sync.Once
}

func (rc *recConn) Read(b []byte) (int, error) {
	n, err := rc.Conn.Read(b)
	if n > 0 {
		rc.f.data(true, b[:n])
	}
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, io.EOF):
			rc.f.fin(true)
		case errors.As(err, &ne) && ne.Timeout():
		default:
			if !errors.Is(err, net.ErrClosed) {
				rc.f.rst(true)
			}
		}
	}
	return n, err
}

func (rc *recConn) Write(b []byte) (int, error) {
	n, err := rc.Conn.Write(b)
	if n > 0 {
		rc.f.data(false, b[:n])
	}
	return n, err
}

func (rc *recConn) Close() error {
	rc.once.Do(func() { rc.f.fin(false) })
	return rc.Conn.Close()
}

// tcpFlow keeps one connection's sequence numbers and writes its packets.
type tcpFlow struct {
	c              *captureComponent
	mu             sync.Mutex
	client, server netip.AddrPort
	cseq, sseq     uint32 // next sequence number of each side
	cfin, sfin     bool
	reset          bool
}

func (f *tcpFlow) handshake() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emit(true, tcpFlags{syn: true}, nil)
	f.cseq++
	f.emit(false, tcpFlags{syn: true, ack: true}, nil)
	f.sseq++
	f.emit(true, tcpFlags{ack: true}, nil)
}

// data writes b as segments of at most labSegment bytes.
func (f *tcpFlow) data(fromClient bool, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(b) > 0 {
		n := min(len(b), labSegment)
		f.emit(fromClient, tcpFlags{ack: true, psh: n == len(b)}, b[:n])
		if fromClient {
			f.cseq += uint32(n)
		} else {
			f.sseq += uint32(n)
		}
		b = b[n:]
	}
}

// fin closes one side: FIN, and the other side's ACK of it.
func (f *tcpFlow) fin(fromClient bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reset || (fromClient && f.cfin) || (!fromClient && f.sfin) {
		return
	}
	f.emit(fromClient, tcpFlags{fin: true, ack: true}, nil)
	if fromClient {
		f.cseq++
		f.cfin = true
	} else {
		f.sseq++
		f.sfin = true
	}
	f.emit(!fromClient, tcpFlags{ack: true}, nil)
}

func (f *tcpFlow) rst(fromClient bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reset || f.cfin && f.sfin {
		return
	}
	f.reset = true
	f.emit(fromClient, tcpFlags{rst: true, ack: true}, nil)
}

type tcpFlags struct{ syn, ack, psh, fin, rst bool }

// emit synthesises one IP/TCP packet (f.mu held).
func (f *tcpFlow) emit(fromClient bool, fl tcpFlags, payload []byte) {
	src, dst, seq, ack := f.client, f.server, f.cseq, f.sseq
	if !fromClient {
		src, dst, seq, ack = f.server, f.client, f.sseq, f.cseq
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq,
		SYN: fl.syn, ACK: fl.ack, PSH: fl.psh, FIN: fl.fin, RST: fl.rst, Window: 65535}
	if !fl.ack {
		tcp.Ack = 0
	} else {
		tcp.Ack = ack
	}
	var ip gopacket.SerializableLayer
	if src.Addr().Unmap().Is4() {
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment,
			SrcIP: src.Addr().Unmap().AsSlice(), DstIP: dst.Addr().Unmap().AsSlice()}
		_ = tcp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	} else {
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		_ = tcp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, tcp, gopacket.Payload(payload)); err != nil {
		return
	}
	f.c.write(buf.Bytes())
}

// String is for messages.
func (c *CaptureEndpoints) String() string {
	if c.Error != "" {
		return "not recording: " + c.Error
	}
	return fmt.Sprintf("recording %d listeners into %s", len(c.Listeners), c.Dir)
}
