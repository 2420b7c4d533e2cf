package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// pcapng block types this reader knows.
const (
	blockSHB = 0x0A0D0D0A
	blockIDB = 1
	blockPB  = 2 // obsolete packet block
	blockSPB = 3
	blockISB = 5
	blockEPB = 6
)

// nextPcapng reads blocks until a packet, the end or a torn block.
func (r *Reader) nextPcapng(p *Packet) error {
	for {
		ok, err := r.nextBlock(p)
		if err != nil || ok {
			return err
		}
	}
}

// readLeadingInterfaces reads the interface blocks right after the section
// header, so Interfaces is complete before the first packet is asked for.
func (r *Reader) readLeadingInterfaces() error {
	for {
		h, err := r.r.Peek(4)
		if err != nil || r.order.Uint32(h) != blockIDB {
			return nil
		}
		var p Packet
		if _, err := r.nextBlock(&p); err != nil {
			r.done = true
			return nil
		}
	}
}

// nextBlock reads one block; ok says it was a packet (filled into p).
func (r *Reader) nextBlock(p *Packet) (bool, error) {
	start := r.off
	h, got, err := r.read(8)
	if err == io.EOF {
		return false, io.EOF
	}
	if err != nil {
		if got > 0 {
			return false, r.tear(start, "block header cut short")
		}
		return false, err
	}
	typ := binary.LittleEndian.Uint32(h)
	if typ == blockSHB {
		return false, r.readSHB(start, [2]uint32{binary.LittleEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[4:])})
	}
	if r.order == nil {
		return false, fmt.Errorf("%w: no section header", ErrNotCapture)
	}
	typ = r.order.Uint32(h)
	length := r.order.Uint32(h[4:])
	if length < 12 || length%4 != 0 || length > maxBlock {
		return false, r.tear(start, fmt.Sprintf("invalid block length %d", length))
	}
	body, _, err := r.read(int(length) - 8)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return false, r.tear(start, fmt.Sprintf("block of %d bytes cut short", length))
		}
		return false, err
	}
	if r.order.Uint32(body[len(body)-4:]) != length {
		return false, r.tear(start, "block trailer does not repeat its length")
	}
	body = body[:len(body)-4]
	ok, reason := r.block(typ, body, p)
	if reason != "" {
		return false, r.tear(start, reason)
	}
	return ok, nil
}

// readSHB reads a section header block whose first 8 bytes (type, length)
// are read: lengths holds the length read little- and big-endian, since
// the byte-order magic that follows says which it is.
func (r *Reader) readSHB(start int64, lengths [2]uint32) error {
	m, got, err := r.read(4)
	if err != nil {
		if got > 0 || err == io.ErrUnexpectedEOF || err == io.EOF {
			if start == 0 {
				return fmt.Errorf("%w: section header cut short", ErrNotCapture)
			}
			return r.tear(start, "section header cut short")
		}
		return err
	}
	switch binary.LittleEndian.Uint32(m) {
	case 0x1A2B3C4D:
		r.order = binary.LittleEndian
	case 0x4D3C2B1A:
		r.order = binary.BigEndian
	default:
		if start == 0 {
			return fmt.Errorf("%w: bad byte-order magic", ErrNotCapture)
		}
		return r.tear(start, "bad byte-order magic")
	}
	length := lengths[0]
	if r.order == binary.BigEndian {
		length = lengths[1]
	}
	if length < 28 || length%4 != 0 || length > maxBlock {
		if start == 0 {
			return fmt.Errorf("%w: section header length %d", ErrNotCapture, length)
		}
		return r.tear(start, fmt.Sprintf("invalid section header length %d", length))
	}
	body, _, err := r.read(int(length) - 12)
	if err != nil {
		if start == 0 {
			return fmt.Errorf("%w: section header cut short", ErrNotCapture)
		}
		return r.tear(start, "section header cut short")
	}
	if r.order.Uint32(body[len(body)-4:]) != length {
		return r.tear(start, "section header trailer does not repeat its length")
	}
	body = body[:len(body)-4]
	r.sectionIdx = len(r.ifaces)
	r.comment = ""
	if len(body) >= 12 {
		forOptions(r.order, body[12:], func(code uint16, v []byte) {
			if code == 1 {
				r.comment = string(v)
			}
		})
	}
	return nil
}

// forOptions calls fn for each option up to opt_endofopt.
func forOptions(order binary.ByteOrder, b []byte, fn func(code uint16, v []byte)) {
	for len(b) >= 4 {
		code, n := order.Uint16(b), int(order.Uint16(b[2:]))
		if code == 0 || 4+n > len(b) {
			return
		}
		fn(code, b[4:4+n])
		b = b[4+(n+3)&^3:]
	}
}

// block decodes one block. ok says it was a packet (filled into p);
// reason, when not empty, says why the block makes no sense (the file is
// torn there).
func (r *Reader) block(typ uint32, b []byte, p *Packet) (ok bool, reason string) {
	o := r.order
	switch typ {
	case blockIDB:
		if len(b) < 8 {
			return false, "interface block too short"
		}
		in := Interface{LinkType: layers.LinkType(o.Uint16(b)), Snaplen: o.Uint32(b[4:]), ticksPerSec: 1_000_000}
		forOptions(o, b[8:], func(code uint16, v []byte) {
			switch code {
			case 2:
				in.Name = string(v)
			case 11:
				if len(v) > 1 && v[0] == 0 {
					in.Filter = string(v[1:])
				}
			case 9:
				if len(v) >= 1 {
					in.ticksPerSec = tsResolution(v[0])
				}
			case 14:
				if len(v) >= 8 {
					in.tsOffset = int64(o.Uint64(v))
				}
			}
		})
		r.ifaces = append(r.ifaces, in)
	case blockEPB, blockPB:
		if len(b) < 20 {
			return false, "packet block too short"
		}
		var id int
		if typ == blockEPB {
			id = int(o.Uint32(b))
		} else {
			id = int(o.Uint16(b))
		}
		idx := r.sectionIdx + id
		if id < 0 || idx >= len(r.ifaces) {
			return false, fmt.Sprintf("packet for undeclared interface %d", id)
		}
		caplen, orig := o.Uint32(b[12:]), o.Uint32(b[16:])
		if int64(caplen) > int64(len(b)-20) {
			return false, "packet longer than its block"
		}
		ts := uint64(o.Uint32(b[4:]))<<32 | uint64(o.Uint32(b[8:]))
		if orig < caplen {
			orig = caplen
		}
		*p = Packet{Timestamp: r.ifaces[idx].time(ts), Interface: idx, LinkType: r.ifaces[idx].LinkType,
			Data: b[20 : 20+caplen], OrigLen: int(orig)}
		return true, ""
	case blockSPB:
		if len(b) < 4 || r.sectionIdx >= len(r.ifaces) {
			return false, "simple packet block without interface"
		}
		orig := o.Uint32(b)
		caplen := uint32(len(b) - 4)
		if sl := r.ifaces[r.sectionIdx].Snaplen; sl > 0 && caplen > sl {
			caplen = sl
		}
		if orig < caplen {
			caplen = orig
		}
		*p = Packet{Interface: r.sectionIdx, LinkType: r.ifaces[r.sectionIdx].LinkType, Data: b[4 : 4+caplen], OrigLen: int(orig)}
		return true, ""
	case blockISB:
		if len(b) < 12 {
			return false, "statistics block too short"
		}
		idx := r.sectionIdx + int(o.Uint32(b))
		if idx >= len(r.ifaces) {
			return false, "statistics for undeclared interface"
		}
		in := &r.ifaces[idx]
		st := &IfaceStats{Time: in.time(uint64(o.Uint32(b[4:]))<<32 | uint64(o.Uint32(b[8:])))}
		forOptions(o, b[12:], func(code uint16, v []byte) {
			if len(v) < 8 {
				return
			}
			x := o.Uint64(v)
			switch code {
			case 4:
				st.Received = &x
			case 5:
				st.Dropped = &x
			}
		})
		if in.First == nil {
			in.First = st
		}
		in.Last = st
	}
	return false, ""
}

// tsResolution turns if_tsresol into ticks per second.
func tsResolution(v byte) uint64 {
	if v&0x80 == 0 {
		return uint64(math.Pow10(min(int(v), 19)))
	}
	return uint64(1) << min(int(v&0x7f), 63)
}

func (in *Interface) time(ticks uint64) time.Time {
	tps := in.ticksPerSec
	sec := ticks / tps
	hi, lo := bits.Mul64(ticks%tps, 1_000_000_000)
	ns, _ := bits.Div64(hi, lo, tps)
	return time.Unix(in.tsOffset+int64(sec), int64(ns)).UTC()
}
