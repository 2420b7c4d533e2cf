package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/ecdata/ectool/diag/exitcode"
)

// ErrNotCapture is returned for input that is neither pcap nor pcapng.
// It is an input that cannot be parsed: a usage error.
var ErrNotCapture error = exitcode.New(exitcode.KindUsage, "not a pcap or pcapng file",
	"give a pcap or pcapng file (tcpdump -w, dumpcap, ectool capture)")

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

// Reader reads the packets of one pcap or pcapng file in order. It is the
// one reader of capture files in ectool: ls, status, export, the lab's tests
// and capture inspect all read through it.
type Reader struct {
	name       string
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
// nor pcapng (nor either compressed with gzip) is ErrNotCapture (wrapped
// with the path); so is a directory.
func OpenFile(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s: %w: a directory", path, ErrNotCapture)
	}
	r, err := NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.name = path
	r.closer = f
	return r, nil
}

// NewReader reads a capture from in (a file, standard input). A capture
// compressed with gzip (tcpdump -w - | gzip, editcap's .gz) is read as it
// is; a torn record's Offset then counts uncompressed bytes.
func NewReader(in io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(in, readBuffer)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrNotCapture, err)
		}
		br = bufio.NewReaderSize(gz, readBuffer)
	}
	r := &Reader{r: br, buf: make([]byte, 0, readBuffer)}
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
		h, _, err := r.read(8)
		if err != nil {
			return nil, fmt.Errorf("%w: section header cut short", ErrNotCapture)
		}
		if err := r.readSHB(0, [2]uint32{binary.LittleEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[4:])}); err != nil {
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

// readBuffer is the read-ahead of a Reader (and its first record buffer).
const readBuffer = 64 << 10

// Name is the file's path (empty for a Reader made by NewReader).
func (r *Reader) Name() string { return r.name }

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
	var p Packet
	err := r.next(&p)
	return p, err
}

// next is Next filling p in place (the Merger's hot path copies less).
func (r *Reader) next(p *Packet) error {
	if r.done {
		return io.EOF
	}
	var err error
	if r.format == FormatPcap {
		err = r.nextPcap(p)
	} else {
		err = r.nextPcapng(p)
	}
	if err != nil {
		r.done = true
	}
	return err
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

// read returns the next n bytes, or reports how many were there (consumed,
// as io.ReadFull would). The bytes are valid until the next read: a record
// that fits the read-ahead is not copied (the hot path), a larger one is
// copied into r.buf.
func (r *Reader) read(n int) ([]byte, int, error) {
	if n <= r.r.Size() {
		b, err := r.r.Peek(n)
		got, _ := r.r.Discard(len(b))
		r.off += int64(got)
		switch {
		case err == nil:
			return b, got, nil
		case err == io.EOF && got > 0:
			err = io.ErrUnexpectedEOF
		}
		return b, got, err
	}
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

func (r *Reader) nextPcap(p *Packet) error {
	start := r.off
	h, got, err := r.read(16)
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		if got > 0 {
			return r.tear(start, "record header cut short")
		}
		return err
	}
	sec, frac := r.order.Uint32(h), r.order.Uint32(h[4:])
	incl, orig := r.order.Uint32(h[8:]), r.order.Uint32(h[12:])
	if incl > maxPcapRec || (r.snaplen > 0 && incl > r.snaplen && incl > 262144) {
		return r.tear(start, fmt.Sprintf("implausible record length %d", incl))
	}
	ns := int64(frac) * 1000
	if r.nanos {
		ns = int64(frac)
	}
	d, _, err := r.read(int(incl))
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return r.tear(start, "packet data cut short")
		}
		return err
	}
	if orig < incl {
		orig = incl
	}
	*p = Packet{Timestamp: time.Unix(int64(sec), ns).UTC(), LinkType: r.ifaces[0].LinkType, Data: d, OrigLen: int(orig)}
	return nil
}
