package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// ErrNotCapture is returned for input that is neither pcap nor pcapng.
var ErrNotCapture = errors.New("not a pcap or pcapng file")

// Packet is one captured packet as a reader yields it.
type Packet struct {
	Timestamp time.Time
	// Interface indexes Reader.Interfaces (0 in a classic pcap file).
	Interface int
	LinkType  layers.LinkType
	// Data is the captured bytes, valid until the next call to Next.
	Data []byte
	// OrigLen is the packet's length on the wire (≥ len(Data)).
	OrigLen int
}

// Interface is a capture interface a file describes (a pcapng interface
// description block, or the header of a classic pcap file).
type Interface struct {
	Name     string          `json:"name,omitempty"`
	LinkType layers.LinkType `json:"link_type"`
	Snaplen  uint32          `json:"snaplen"`
	Filter   string          `json:"filter,omitempty"`
	// First and Last are the first and last statistics blocks seen for it
	// (nil when none): their counters run from the capture's start.
	First, Last *IfaceStats `json:"-"`

	ticksPerSec uint64 // if_tsresol
	tsOffset    int64  // seconds
}

// IfaceStats are a pcapng interface statistics block's counters.
type IfaceStats struct {
	Time     time.Time
	Received *uint64 // packets the kernel saw (nil when not given)
	Dropped  *uint64 // packets the kernel dropped (nil when unavailable)
}

// Torn describes where a file stops making sense: the last record was cut
// short (a power cut, kill -9, a copy in progress) or garbage follows.
type Torn struct {
	Offset int64  `json:"offset"` // where the torn record starts
	Bytes  int64  `json:"bytes"`  // bytes from there to the end
	Reason string `json:"reason"`
}

func (t *Torn) String() string {
	return fmt.Sprintf("torn record at byte %d (%d bytes: %s)", t.Offset, t.Bytes, t.Reason)
}

// Reader reads the packets of one pcap or pcapng file in order.
type Reader struct {
	r          *bufio.Reader
	closer     io.Closer
	off        int64
	format     string
	order      binary.ByteOrder
	ifaces     []Interface
	sectionIdx int // index of the current section's first interface
	comment    string
	torn       *Torn
	buf        []byte
	done       bool
	// classic pcap
	nanos   bool
	snaplen uint32
}

// OpenFile opens a capture file for reading. A file that is neither pcap
// nor pcapng is ErrNotCapture (wrapped with the path).
func OpenFile(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.closer = f
	return r, nil
}

// NewReader reads a capture from r (a file, stdin).
func NewReader(in io.Reader) (*Reader, error) {
	r := &Reader{r: bufio.NewReaderSize(in, 64<<10), buf: make([]byte, 0, 64<<10)}
	head, err := r.r.Peek(4)
	if err != nil {
		if len(head) == 0 {
			return nil, fmt.Errorf("%w: empty", ErrNotCapture)
		}
		return nil, fmt.Errorf("%w: %d bytes", ErrNotCapture, len(head))
	}
	switch {
	case binary.LittleEndian.Uint32(head) == blockSHB:
		r.format = FormatPcapng
		if _, _, err := r.read(8); err != nil {
			return nil, fmt.Errorf("%w: section header cut short", ErrNotCapture)
		}
		if err := r.readSHB(0); err != nil {
			return nil, err
		}
		if err := r.readLeadingInterfaces(); err != nil {
			return nil, err
		}
	default:
		if err := r.readPcapHeader(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Close closes the underlying file (if OpenFile opened it).
func (r *Reader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// Format is "pcapng" or "pcap".
func (r *Reader) Format() string { return r.format }

// Interfaces are the interfaces described so far.
func (r *Reader) Interfaces() []Interface { return r.ifaces }

// Comment is the (last) section header's comment ("" in classic pcap).
func (r *Reader) Comment() string { return r.comment }

// Listeners are the listeners named in the section comment.
func (r *Reader) Listeners() []Listener { return ParseListeners(r.comment) }

// Torn is the torn record found at the end, once Next returned io.EOF
// (nil when the file ended cleanly).
func (r *Reader) Torn() *Torn { return r.torn }

// Offset is how many bytes were consumed so far.
func (r *Reader) Offset() int64 { return r.off }

// Next returns the next packet, or io.EOF at the end of the file, torn or
// not. Other errors are I/O errors.
func (r *Reader) Next() (Packet, error) {
	if r.done {
		return Packet{}, io.EOF
	}
	var p Packet
	var err error
	if r.format == FormatPcap {
		p, err = r.nextPcap()
	} else {
		p, err = r.nextPcapng()
	}
	if err != nil {
		r.done = true
	}
	return p, err
}

// tear records a torn tail starting at off and consumes the rest.
func (r *Reader) tear(off int64, reason string) error {
	n, err := io.Copy(io.Discard, r.r)
	r.off += n
	if err != nil {
		return err
	}
	r.torn = &Torn{Offset: off, Bytes: r.off - off, Reason: reason}
	return io.EOF
}

// read fills n bytes into r.buf (reused) or reports how many were there.
func (r *Reader) read(n int) ([]byte, int, error) {
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	got, err := io.ReadFull(r.r, b)
	r.off += int64(got)
	return b, got, err
}

// Limits that tell a real length from garbage.
const (
	maxBlock   = 16 << 20
	maxPcapRec = 16 << 20
)

func (r *Reader) readPcapHeader() error {
	b, got, err := r.read(24)
	if err != nil {
		return fmt.Errorf("%w: %d-byte header", ErrNotCapture, got)
	}
	switch m := binary.LittleEndian.Uint32(b); m {
	case 0xa1b2c3d4:
		r.order = binary.LittleEndian
	case 0xa1b23c4d:
		r.order, r.nanos = binary.LittleEndian, true
	case 0xd4c3b2a1:
		r.order = binary.BigEndian
	case 0x4d3cb2a1:
		r.order, r.nanos = binary.BigEndian, true
	default:
		return fmt.Errorf("%w: magic %08x", ErrNotCapture, m)
	}
	r.format = FormatPcap
	r.snaplen = r.order.Uint32(b[16:])
	r.ifaces = []Interface{{LinkType: layers.LinkType(r.order.Uint32(b[20:]) & 0xffff), Snaplen: r.snaplen}}
	return nil
}

func (r *Reader) nextPcap() (Packet, error) {
	start := r.off
	h, got, err := r.read(16)
	if err == io.EOF {
		return Packet{}, io.EOF
	}
	if err != nil {
		if got > 0 {
			return Packet{}, r.tear(start, "record header cut short")
		}
		return Packet{}, err
	}
	sec, frac := r.order.Uint32(h), r.order.Uint32(h[4:])
	incl, orig := r.order.Uint32(h[8:]), r.order.Uint32(h[12:])
	if incl > maxPcapRec || (r.snaplen > 0 && incl > r.snaplen && incl > 262144) {
		return Packet{}, r.tear(start, fmt.Sprintf("implausible record length %d", incl))
	}
	ns := int64(frac) * 1000
	if r.nanos {
		ns = int64(frac)
	}
	d, _, err := r.read(int(incl))
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return Packet{}, r.tear(start, "packet data cut short")
		}
		return Packet{}, err
	}
	if orig < incl {
		orig = incl
	}
	return Packet{Timestamp: time.Unix(int64(sec), ns).UTC(), LinkType: r.ifaces[0].LinkType, Data: d, OrigLen: int(orig)}, nil
}
