package inspect

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/ecdata/ectool/capture"
)

// Decoder turns packets into a diagnosis. Feed it with Packet in capture
// order, then call Finish. Inspect does this for a Source.
type Decoder struct {
	opts   Options
	frames *frameDecoder
	seg    segment

	conns   map[connKey]*conn
	streams int
	ports   map[uint16]Protocol // decoded ports and what they carry
	learned map[uint16]Protocol // ports found by a recognised CONNECT

	asm    *assembly // gopacket's reassembler, made at the first need
	limits bufferLimits

	pkt packetDecoder
	msg Message
	an  *analysis

	stopErr   error
	lastFlush time.Time
	// lastTS is the newest packet time seen in the window (captures are
	// not always in order: merged files, several interfaces).
	lastTS time.Time
}

// NewDecoder prepares a decoder. Options are checked here: a bad one is
// an error before any packet is read.
func NewDecoder(o Options) (*Decoder, error) {
	opts, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Decoder{
		opts: opts, frames: newFrameDecoder(), conns: map[connKey]*conn{},
		ports: map[uint16]Protocol{}, learned: map[uint16]Protocol{},
		limits: bufferLimits{perStream: opts.MaxPacketBuffer, total: opts.MaxBufferTotal, headKeep: min(4096, opts.MaxPacketBuffer/2)},
	}
	for _, p := range opts.Ports {
		d.ports[p] = ""
	}
	for p, proto := range opts.PortProtocols {
		d.ports[p] = proto
	}
	d.an = newAnalysis(&d.opts)
	d.an.res.Window = opts.Window
	if opts.Reassembly == ReassemblyFull {
		d.asm = newAssembly(d)
	}
	return d, nil
}

// Inspect reads m (capture files, ring directories, standard input, merged
// by time: see package capture) to its end and returns the diagnosis. The
// listeners the captures name (the lab ring's comment) say what their
// ports carry unless o.PortProtocols does. Parts of the input that cannot
// be read are reported in the result, not returned as errors; an error
// means the inspection could not go on (the context ended, OnMessage
// failed).
func Inspect(ctx context.Context, m *capture.Merger, o Options) (*Result, error) {
	if len(o.PortProtocols) == 0 {
		o.PortProtocols = PortProtocols(m.Listeners())
	}
	d, err := NewDecoder(o)
	if err != nil {
		return nil, err
	}
	d.an.res.Inputs = append(d.an.res.Inputs, m.Inputs()...)
	for n := 0; ; n++ {
		if n&0xfff == 0 && ctx.Err() != nil {
			return d.Finish(), ctx.Err()
		}
		p, err := m.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			d.an.readError(err)
			continue
		}
		d.Packet(&p.Packet)
		if d.stopErr != nil {
			return d.Finish(), d.stopErr
		}
	}
	d.an.inputEnd(m)
	return d.Finish(), nil
}

// Packet decodes one captured frame. Its Data is not kept: what the
// decoder needs later is copied.
func (d *Decoder) Packet(p *capture.Packet) {
	an := d.an
	an.res.Input.Packets++
	if !d.opts.Window.Contains(p.Timestamp) {
		an.res.Input.OutsideWindow++
		return
	}
	// After the window: a connection still open ends with the window, as
	// it ends with the file capture export writes of it.
	if p.Timestamp.After(d.lastTS) {
		d.lastTS = p.Timestamp
	}
	an.seen(p.Timestamp)
	switch d.frames.decode(p, &d.seg) {
	case frameTCP:
	case frameFragment:
		an.res.Input.Fragments++
		return
	case frameLinkUnknown:
		an.linkUnknown(p.LinkType)
		return
	case frameBroken:
		an.res.Input.Broken++
		return
	default:
		an.res.Input.NotTCP++
		return
	}
	d.segment(&d.seg)
	if d.asm != nil && d.asm.active {
		d.asm.maintain(p.Timestamp)
	}
	if p.Timestamp.Sub(d.lastFlush) > d.opts.IdleTimeout/2 {
		d.lastFlush = p.Timestamp
		d.idle(p.Timestamp)
	}
}

// idle frees the buffers of connections silent for IdleTimeout.
func (d *Decoder) idle(now time.Time) {
	limit := now.Add(-d.opts.IdleTimeout)
	for _, c := range d.conns {
		if c.handler != nil && !c.idled && !c.done && c.lastSeen.Before(limit) {
			c.idled = true
			c.handler.release()
		}
	}
}

// Finish ends the inspection: streams still waiting on a hole are
// flushed, open flows and connections are judged against the end of the
// capture, and the result is returned.
func (d *Decoder) Finish() *Result {
	if d.asm != nil {
		d.asm.flushAll()
	}
	for _, c := range d.conns {
		c.finish()
	}
	if len(d.learned) > 0 {
		d.an.res.LearnedPorts = d.learned
	}
	d.an.res.Input.BufferDrops = d.limits.dropped
	d.an.finish()
	return d.an.res
}

// BufferedBytes is what the decoder holds of streams at this moment:
// out-of-order segments in the reassembler and packets split over
// segments. BufferBound is the most it may hold.
func (d *Decoder) BufferedBytes() int {
	n := d.limits.used
	if d.asm != nil {
		n += d.asm.pagesUsed() * pageBytes
	}
	return n
}

// BufferBound is the bound BufferedBytes never passes between packets.
func (d *Decoder) BufferBound() int {
	return d.opts.MaxBufferTotal + d.opts.MaxBufferedPagesTotal*pageBytes
}

// message hands a decoded control packet to OnMessage.
func (d *Decoder) message(m *Message) {
	if d.opts.OnMessage == nil || d.stopErr != nil {
		return
	}
	if err := d.opts.OnMessage(m); err != nil {
		d.stopErr = err
	}
}
