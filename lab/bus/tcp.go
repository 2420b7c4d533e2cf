package bus

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/ecdata/ectool/diag/exitcode"
	"github.com/ecdata/ectool/probe/modbus"
)

// service is a TCP listener whose connections close with it.
type service struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
	once  sync.Once
}

// ListenError is an endpoint that could not bind, usually because another
// program has the port.
type ListenError struct {
	Name string // "rtuovertcp" or "modbus tcp gateway"
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("the lab bus's %s cannot listen on %s: %v", e.Name, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// ExitKind is exitcode.KindCannotRun: the lab cannot start.
func (e *ListenError) ExitKind() exitcode.Kind { return exitcode.KindCannotRun }

// NextStep says how to get a free port.
func (e *ListenError) NextStep() string {
	return "another program uses that port: choose another --port-base, or leave it out to use free ports"
}

func listen(name, addr string) (*service, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &ListenError{Name: name, Addr: addr, Err: err}
	}
	return &service{ln: ln, conns: map[net.Conn]bool{}}, nil
}

func (s *service) serve(handle func(net.Conn)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.conns == nil {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					c.Close()
				}()
				handle(c)
			}()
		}
	}()
}

func (s *service) close() {
	s.once.Do(func() {
		s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.conns = nil
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// RTUOverTCP is the bus behind a transparent serial server: RTU frames in
// and out of a TCP connection, each byte taking its wire time on the line.
// Each connection is an adapter of its own at the bus's settings (a serial
// server is configured, it has no termios to get wrong), so nothing is
// garbled by settings; collisions and noise still are.
type RTUOverTCP struct {
	svc *service
	bus *Bus
}

// ServeRTUOverTCP listens on addr ("127.0.0.1:0" when empty).
func (b *Bus) ServeRTUOverTCP(addr string) (*RTUOverTCP, error) {
	svc, err := listen("rtuovertcp server", addr)
	if err != nil {
		return nil, err
	}
	s := &RTUOverTCP{svc: svc, bus: b}
	svc.serve(s.handle)
	return s, nil
}

// Addr is the listening address.
func (s *RTUOverTCP) Addr() string { return s.svc.ln.Addr().String() }

// URL is the scan target, rtuovertcp://127.0.0.1:PORT.
func (s *RTUOverTCP) URL() string { return "rtuovertcp://" + s.Addr() }

// Close stops listening and drops every connection.
func (s *RTUOverTCP) Close() error { s.svc.close(); return nil }

func (s *RTUOverTCP) handle(c net.Conn) {
	p, err := s.bus.Attach("rtuovertcp "+c.RemoteAddr().String(), s.bus.Settings(), false)
	if err != nil {
		return
	}
	defer p.Close()
	go func() {
		for chunk := range p.Recv() {
			if _, err := c.Write(chunk); err != nil {
				c.Close()
			}
		}
	}()
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if werr := forwardFrames(p, buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// forwardFrames puts what one read from a client brought on the line. A
// master sends a request, waits for the answer or its timeout, then sends
// the next; but TCP (or a lab too busy to read at once) can hand several
// requests over in one read. Run together they would be one frame that no
// meter answers, so each whole request after the first waits for the line
// to fall quiet, as the master waited. Anything else passes through as it
// came.
func forwardFrames(p *Port, data []byte) error {
	first := true
	for len(data) > 0 {
		n := len(data)
		if l, err := modbus.PDULen(data[1:], modbus.Request); err == nil && 1+l+2 < len(data) && modbus.CRCValid(data[:1+l+2]) {
			n = 1 + l + 2
		}
		var err error
		if first && !p.hasQueued() {
			_, err = p.Write(data[:n])
		} else {
			err = p.writeWhenQuiet(data[:n])
		}
		if err != nil {
			return err
		}
		data, first = data[n:], false
	}
	return nil
}

// Gateway is a Modbus TCP gateway in front of the bus, built on the lab's
// own codec: each MBAP request goes out as an RTU frame (one transaction on
// the line at a time), the first valid answer from that unit comes back
// with the request's transaction id. No valid answer within the gateway
// timeout is exception 0x0B (target failed to respond), as real gateways
// report an absent or garbled unit; a bus it cannot use is 0x0A. Unit 0 is
// forwarded as a broadcast and never answered.
type Gateway struct {
	svc    *service
	bus    *Bus
	port   *Port
	in     framer
	frames chan gwFrame
	mu     sync.Mutex // one transaction on the line at a time
}

type gwFrame struct {
	raw []byte
	bad bool
}

// ServeGateway listens on addr ("127.0.0.1:0" when empty).
func (b *Bus) ServeGateway(addr string) (*Gateway, error) {
	svc, err := listen("Modbus TCP gateway", addr)
	if err != nil {
		return nil, err
	}
	g := &Gateway{svc: svc, bus: b, frames: make(chan gwFrame, 16)}
	g.port = &Port{bus: b, name: "gateway", settings: b.cfg.Settings}
	g.in = framer{silence: b.cfg.Settings.Silence(), onFrame: func(raw []byte, cleanFrom int, _ time.Duration) {
		select {
		case g.frames <- gwFrame{raw: raw, bad: cleanFrom > 0}:
		default:
		}
	}}
	g.port.onChar, g.port.onTick, g.port.pending, g.port.device = g.in.char, g.in.tick, g.in.waiting, g
	b.mu.Lock()
	closed := b.closed
	if !closed {
		b.addPort(g.port)
	}
	b.mu.Unlock()
	if closed {
		svc.close()
		return nil, ErrClosed
	}
	svc.serve(g.handle)
	return g, nil
}

// Addr is the listening address.
func (g *Gateway) Addr() string { return g.svc.ln.Addr().String() }

// URL is the scan target, tcp://127.0.0.1:PORT.
func (g *Gateway) URL() string { return "tcp://" + g.Addr() }

// Close stops listening and takes the gateway off the bus.
func (g *Gateway) Close() error {
	g.svc.close()
	g.port.Close()
	return nil
}

func (g *Gateway) handle(c net.Conn) {
	for {
		req, err := modbus.ReadMBAP(c)
		if err != nil {
			return // closed, or a stream that cannot be trusted any more
		}
		reply, ok := g.forward(req.Unit, req.PDU)
		if !ok {
			continue
		}
		if _, err := c.Write(modbus.EncodeMBAP(req.Transaction, req.Unit, reply)); err != nil {
			return
		}
	}
}

// forward runs one transaction on the line and returns the PDU to answer
// with (false: no answer, for a broadcast).
func (g *Gateway) forward(unit byte, req modbus.PDU) (modbus.PDU, bool) {
	if g.bus.cfg.Faults.GatewayPathUnavailable || unit > 247 {
		return modbus.ExceptionResponse(req.Function, modbus.ExGatewayPathUnavailable), true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for drained := false; !drained; {
		select {
		case <-g.frames:
		default:
			drained = true
		}
	}
	if _, err := g.port.Write(modbus.EncodeRTU(unit, req)); err != nil {
		return modbus.ExceptionResponse(req.Function, modbus.ExGatewayPathUnavailable), true
	}
	if unit == 0 {
		time.Sleep(g.port.Drain() + g.bus.cfg.Settings.Silence())
		return modbus.PDU{}, false
	}
	timeout := g.timeoutAfterRequest()
	for {
		select {
		case f := <-g.frames:
			if r, ok := g.answerIn(f, unit, req.Function); ok {
				return r, true
			}
		case <-timeout:
			// Frames the line carried before the timeout's line time are
			// already in the channel: look at them before giving up.
			for {
				select {
				case f := <-g.frames:
					if r, ok := g.answerIn(f, unit, req.Function); ok {
						return r, true
					}
					continue
				default:
				}
				return modbus.ExceptionResponse(req.Function, modbus.ExGatewayTargetNoResponse), true
			}
		case <-g.bus.done:
			return modbus.ExceptionResponse(req.Function, modbus.ExGatewayPathUnavailable), true
		}
	}
}

// timeoutAfterRequest is closed when the line time reaches the gateway
// timeout after the request's last byte. The timeout runs in line time, like
// everything else on the line: a simulation the host starved is late with
// the meter's answer and with the timeout alike, so it never answers 0x0B
// for a meter that answered in time. (A real gateway has a processor of its
// own that no load on the host can starve.)
func (g *Gateway) timeoutAfterRequest() <-chan struct{} {
	c := make(chan struct{})
	b := g.bus
	b.mu.Lock()
	b.after(g.port.txEnd+b.cfg.GatewayTimeout, func(time.Duration) { close(c) })
	b.mu.Unlock()
	return c
}

// answerIn returns the answer PDU in frame f when it is a valid answer from
// unit to function fc.
func (g *Gateway) answerIn(f gwFrame, unit, fc byte) (modbus.PDU, bool) {
	if f.bad {
		return modbus.PDU{}, false
	}
	r, err := modbus.DecodeRTU(f.raw, modbus.Response)
	if err != nil || r.Unit != unit || r.PDU.BaseFunction() != fc {
		return modbus.PDU{}, false
	}
	return modbus.PDU{Function: r.PDU.Function, Data: append([]byte(nil), r.PDU.Data...)}, true
}
