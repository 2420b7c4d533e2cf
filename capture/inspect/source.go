package inspect

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Packet is one captured frame. Data belongs to the Source and is valid
// only until the next call to Next: the decoder copies what it keeps.
type Packet struct {
	Time     time.Time
	LinkType layers.LinkType
	Data     []byte
	// Length is the frame's length on the wire; more than len(Data) when
	// the capture's snap length cut it.
	Length int
}

// Source yields captured packets in time order. The capture package's ring
// reader implements it too, so a ring directory is read the same way as a
// file.
type Source interface {
	// Next returns the next packet, or io.EOF at the end. An *InputError
	// reports a part that could not be read (a torn final record, a file
	// of a ring that would not open); Next may be called again for what
	// follows it.
	Next() (Packet, error)
	// Comments are the capture's own notes (pcapng section and interface
	// comments); the lab names its listeners there.
	Comments() []string
	// Name says where the packets come from, for messages.
	Name() string
	Close() error
}

// InputError is a part of the input that could not be read: a truncated
// final record (a capture killed mid-write), a damaged block. The packets
// before it are used; the inspection goes on with the other inputs.
type InputError struct {
	Name      string
	Packets   int  // packets read from this input before the problem
	Truncated bool // the input ends inside a record
	Err       error
}

func (e *InputError) Error() string {
	if e.Truncated {
		return fmt.Sprintf("%s: the last record is cut short after %d packet(s) (a capture stopped mid-write): skipped", e.Name, e.Packets)
	}
	return fmt.Sprintf("%s: unreadable after %d packet(s): %v", e.Name, e.Packets, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

// ErrNotCapture is returned (wrapped) by Open* for input that is neither
// pcap nor pcapng.
var ErrNotCapture = errors.New("not a pcap or pcapng capture")

const readBuffer = 1 << 20

// fileSource reads one pcap or pcapng stream.
type fileSource struct {
	name     string
	closer   io.Closer
	pcap     *pcapgo.Reader
	ng       *pcapgo.NgReader
	link     layers.LinkType
	ngLinks  []layers.LinkType // per pcapng interface
	comments []string
	packets  int
	done     bool
}

// OpenFile opens a pcap or pcapng file (gzip-compressed ones too).
func OpenFile(path string) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is a directory: %w", path, ErrNotCapture)
	}
	s, err := newFileSource(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.closer = f
	return s, nil
}

// OpenReader reads a pcap or pcapng stream (standard input).
func OpenReader(name string, r io.Reader) (Source, error) {
	return newFileSource(name, r)
}

func newFileSource(name string, r io.Reader) (*fileSource, error) {
	br := bufio.NewReaderSize(r, readBuffer)
	magic, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s is empty: %w", name, ErrNotCapture)
		}
		return nil, err
	}
	s := &fileSource{name: name}
	switch {
	case bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}):
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %w", name, err, ErrNotCapture)
		}
		s.ng = ng
		s.refreshInterfaces()
	case isPcapMagic(magic) || (magic[0] == 0x1f && magic[1] == 0x8b):
		p, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %w", name, err, ErrNotCapture)
		}
		s.pcap = p
		s.link = p.LinkType()
	default:
		return nil, fmt.Errorf("%s starts with % x: %w", name, magic, ErrNotCapture)
	}
	return s, nil
}

func isPcapMagic(m []byte) bool {
	switch {
	case bytes.Equal(m, []byte{0xd4, 0xc3, 0xb2, 0xa1}), bytes.Equal(m, []byte{0xa1, 0xb2, 0xc3, 0xd4}),
		bytes.Equal(m, []byte{0x4d, 0x3c, 0xb2, 0xa1}), bytes.Equal(m, []byte{0xa1, 0xb2, 0x3c, 0x4d}):
		return true
	}
	return false
}

// refreshInterfaces caches each pcapng interface's link type and gathers
// the section and interface comments.
func (s *fileSource) refreshInterfaces() {
	n := s.ng.NInterfaces()
	if n == len(s.ngLinks) && s.comments != nil {
		return
	}
	s.ngLinks = s.ngLinks[:0]
	comments := []string{}
	if c := s.ng.SectionInfo().Comment; c != "" {
		comments = append(comments, c)
	}
	for i := 0; i < n; i++ {
		intf, err := s.ng.Interface(i)
		if err != nil {
			break
		}
		s.ngLinks = append(s.ngLinks, intf.LinkType)
		if intf.Comment != "" {
			comments = append(comments, intf.Comment)
		}
	}
	s.comments = comments
}

func (s *fileSource) Name() string { return s.name }

func (s *fileSource) Comments() []string {
	if s.ng != nil {
		s.refreshInterfaces()
	}
	return s.comments
}

func (s *fileSource) Close() error {
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}

func (s *fileSource) Next() (Packet, error) {
	if s.done {
		return Packet{}, io.EOF
	}
	var (
		data []byte
		err  error
		p    Packet
	)
	if s.ng != nil {
		var ci gopacket.CaptureInfo
		data, ci, err = s.ng.ZeroCopyReadPacketData()
		if err == nil {
			if ci.InterfaceIndex >= len(s.ngLinks) {
				s.refreshInterfaces()
			}
			if ci.InterfaceIndex < len(s.ngLinks) {
				p.LinkType = s.ngLinks[ci.InterfaceIndex]
			}
			p.Time, p.Length = ci.Timestamp, ci.Length
		}
	} else {
		var ci gopacket.CaptureInfo
		data, ci, err = s.pcap.ZeroCopyReadPacketData()
		if err == nil {
			p.LinkType, p.Time, p.Length = s.link, ci.Timestamp, ci.Length
		}
	}
	if err != nil {
		s.done = true
		if errors.Is(err, io.EOF) {
			return Packet{}, io.EOF
		}
		return Packet{}, &InputError{Name: s.name, Packets: s.packets, Truncated: errors.Is(err, io.ErrUnexpectedEOF), Err: err}
	}
	s.packets++
	p.Data = data
	if p.Length < len(data) {
		p.Length = len(data)
	}
	return p, nil
}

// ringFile is one file of a ring directory.
type ringFile struct {
	path string
	seq  int64 // -1 when the name carries no sequence number
}

// ListDir returns the capture files of a directory in reading order: files
// named <prefix>_<seq>_<time>.pcap[ng] (ectool capture's and dumpcap's ring
// buffers) by sequence number, never by clock, which may have stepped; the
// others by name after them. A directory without capture files but with a
// "capture" subdirectory (a lab directory) is read through that.
func ListDir(dir string) ([]string, error) {
	files, err := listCaptureFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		sub := filepath.Join(dir, "capture")
		if st, err := os.Stat(sub); err == nil && st.IsDir() {
			if files, err = listCaptureFiles(sub); err != nil {
				return nil, err
			}
		}
	}
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.path
	}
	return out, nil
}

func listCaptureFiles(dir string) ([]ringFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []ringFile
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !isCaptureName(name) {
			continue
		}
		files = append(files, ringFile{path: filepath.Join(dir, name), seq: ringSeq(name)})
	}
	sort.SliceStable(files, func(i, j int) bool {
		a, b := files[i], files[j]
		switch {
		case a.seq >= 0 && b.seq >= 0 && a.seq != b.seq:
			return a.seq < b.seq
		case (a.seq >= 0) != (b.seq >= 0):
			return a.seq >= 0
		}
		return filepath.Base(a.path) < filepath.Base(b.path)
	})
	return files, nil
}

func isCaptureName(name string) bool {
	for _, ext := range []string{".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// ringSeq is the sequence number in <prefix>_<seq>_<time>.pcapng, or -1.
func ringSeq(name string) int64 {
	base := name
	if i := strings.Index(base, "."); i >= 0 {
		base = base[:i]
	}
	parts := strings.Split(base, "_")
	if len(parts) < 3 {
		return -1
	}
	seq, err := strconv.ParseInt(parts[len(parts)-2], 10, 64)
	if err != nil || seq < 0 {
		return -1
	}
	return seq
}

// OpenDir reads a ring directory as one source: its files one after the
// other in sequence order (a ring's files follow each other in time).
// A file that cannot be opened is reported by Next as an InputError and
// skipped.
//
// TODO(capture ring): once package capture offers its ring reader
// (capture.OpenRing), read ring directories through it so torn records and
// the ring's status are handled in one place.
func OpenDir(dir string) (Source, error) {
	paths, err := ListDir(dir)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s holds no .pcap or .pcapng file: %w", dir, ErrNotCapture)
	}
	return &seqSource{name: dir, paths: paths}, nil
}

// seqSource reads several files one after the other.
type seqSource struct {
	name     string
	paths    []string
	cur      Source
	comments []string
}

func (s *seqSource) Name() string { return s.name }

func (s *seqSource) Comments() []string {
	if s.cur == nil && len(s.paths) > 0 {
		s.open()
	}
	return s.comments
}

func (s *seqSource) open() error {
	p := s.paths[0]
	s.paths = s.paths[1:]
	src, err := OpenFile(p)
	if err != nil {
		return &InputError{Name: p, Err: err}
	}
	s.cur = src
	s.comments = appendNew(s.comments, src.Comments()...)
	return nil
}

func appendNew(list []string, items ...string) []string {
next:
	for _, it := range items {
		for _, have := range list {
			if have == it {
				continue next
			}
		}
		list = append(list, it)
	}
	return list
}

func (s *seqSource) Next() (Packet, error) {
	for {
		if s.cur == nil {
			if len(s.paths) == 0 {
				return Packet{}, io.EOF
			}
			if err := s.open(); err != nil {
				return Packet{}, err
			}
		}
		p, err := s.cur.Next()
		if err == nil {
			return p, nil
		}
		s.cur.Close()
		s.cur = nil
		if !errors.Is(err, io.EOF) {
			// A torn record ends this file only: the ring goes on.
			return Packet{}, err
		}
	}
}

func (s *seqSource) Close() error {
	if s.cur != nil {
		return s.cur.Close()
	}
	return nil
}
