package capture

import (
	"container/heap"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Ring is a ring directory opened for reading: its files in sequence order
// and the writer's status (nil when status.json is missing or unreadable).
type Ring struct {
	Dir    string
	Files  []RingFile
	Status *Status
	// StatusErr says why Status is nil.
	StatusErr error
}

// OpenRing lists a ring directory. A missing or unreadable directory is a
// *DirError; an empty one is a Ring without files.
//
// Two other directories open as rings, so every command reads what a
// technician points it at: a lab directory (its ring is <dir>/capture), and
// a directory of captures not written by a RingWriter (copied off a
// gateway, dumpcap's or tcpdump's rings): its .pcap, .pcapng and .cap files,
// gzip-compressed or not, those with a dumpcap-style _<seq>_ in their name
// by that number, the others by name after them.
func OpenRing(dir string) (*Ring, error) {
	files, err := ListRing(dir, "")
	if err != nil {
		return nil, &DirError{Dir: dir, Op: "reading", Err: err}
	}
	if len(files) == 0 {
		sub := filepath.Join(dir, "capture")
		if sf, err := ListRing(sub, ""); err == nil && (len(sf) > 0 || fileExists(filepath.Join(sub, StatusFile))) {
			dir, files = sub, sf
		}
	}
	if len(files) == 0 {
		if files, err = listCaptureFiles(dir); err != nil {
			return nil, &DirError{Dir: dir, Op: "reading", Err: err}
		}
	}
	r := &Ring{Dir: dir, Files: files}
	r.Status, r.StatusErr = ReadStatus(dir)
	if errors.Is(r.StatusErr, os.ErrNotExist) {
		r.StatusErr = errNoStatus
	}
	return r, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// captureExt are the names of capture files a directory may hold.
var captureExt = []string{".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz"}

// listCaptureFiles lists the capture files of a directory that no
// RingWriter named: by a dumpcap-style sequence number where the name has
// one, then by name.
func listCaptureFiles(dir string) ([]RingFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []RingFile
	hasSeq := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !hasCaptureExt(name) {
			continue
		}
		f := RingFile{Path: filepath.Join(dir, name), Name: name}
		f.Seq, hasSeq[name] = dumpcapSeq(name)
		if fi, err := e.Info(); err == nil {
			f.Size = fi.Size()
		}
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case hasSeq[a.Name] != hasSeq[b.Name]:
			return hasSeq[a.Name]
		case hasSeq[a.Name] && a.Seq != b.Seq:
			return a.Seq < b.Seq
		}
		return a.Name < b.Name
	})
	return out, nil
}

func hasCaptureExt(name string) bool {
	for _, ext := range captureExt {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// dumpcapSeq reads the sequence number of <prefix>_<seq>_<time>.<ext>.
func dumpcapSeq(name string) (uint64, bool) {
	base, _, _ := strings.Cut(name, ".")
	parts := strings.Split(base, "_")
	if len(parts) < 3 {
		return 0, false
	}
	seq, err := strconv.ParseUint(parts[len(parts)-2], 10, 64)
	return seq, err == nil
}

// FileSummary is what reading one ring file found (the rows of `capture ls`).
type FileSummary struct {
	Seq        uint64    `json:"seq"`
	Name       string    `json:"name"`
	Format     string    `json:"format,omitempty"`
	Size       int64     `json:"bytes"`
	Packets    int       `json:"packets"`
	First      time.Time `json:"first,omitzero"`
	Last       time.Time `json:"last,omitzero"`
	Interfaces []string  `json:"interfaces,omitempty"`
	Torn       *Torn     `json:"torn,omitempty"`
	// ClockStep: this file starts before the previous one ended (the clock
	// was set back, or packets arrived out of order across a rotation).
	ClockStep bool   `json:"clock_step,omitempty"`
	Error     string `json:"error,omitempty"`
	// KernelReceived and KernelDropped are the kernel's counts while this
	// file was written (from its statistics blocks); CountersKnown is false
	// when they are missing (a torn file, an unavailable counter).
	KernelReceived uint64 `json:"kernel_received"`
	KernelDropped  uint64 `json:"kernel_dropped"`
	CountersKnown  bool   `json:"counters_known"`
	// Listeners are those named in the section comment (the lab's).
	Listeners []Listener `json:"listeners,omitempty"`

	ifaces []Interface
}

// Summarize reads every file of the ring once. The file being written (the
// status's current file) takes its end counters from status.json.
func (r *Ring) Summarize() []FileSummary {
	out := make([]FileSummary, 0, len(r.Files))
	var prevLast time.Time
	for _, f := range r.Files {
		s := summarizeFile(f)
		if r.Status != nil && r.Status.Running && f.Name == r.Status.CurrentFile {
			s.liveCounters(r.Status)
		}
		if !prevLast.IsZero() && !s.First.IsZero() && s.First.Before(prevLast) {
			s.ClockStep = true
		}
		if !s.Last.IsZero() {
			prevLast = s.Last
		}
		out = append(out, s)
	}
	return out
}

func summarizeFile(f RingFile) FileSummary {
	s := FileSummary{Seq: f.Seq, Name: f.Name, Size: f.Size}
	rd, err := OpenFile(f.Path)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	defer rd.Close()
	s.Format = rd.Format()
	for {
		p, err := rd.Next()
		if err != nil {
			if err != io.EOF {
				s.Error = err.Error()
			}
			break
		}
		if s.Packets == 0 || p.Timestamp.Before(s.First) {
			s.First = p.Timestamp
		}
		if p.Timestamp.After(s.Last) {
			s.Last = p.Timestamp
		}
		s.Packets++
	}
	s.Torn = rd.Torn()
	s.ifaces = rd.Interfaces()
	s.Listeners = rd.Listeners()
	for _, in := range s.ifaces {
		s.Interfaces = append(s.Interfaces, in.Name)
	}
	s.fileCounters()
	return s
}

// fileCounters sums, over interfaces, the counters between the file's first
// and last statistics blocks. Counters missing from the first block (the
// capture had just started) count from zero.
func (s *FileSummary) fileCounters() {
	s.CountersKnown = len(s.ifaces) > 0
	for _, in := range s.ifaces {
		if in.Last == nil || in.First == in.Last || in.Last.Dropped == nil || in.Last.Received == nil {
			s.CountersKnown = false
			continue
		}
		d0, r0 := baseline(in.First)
		s.KernelDropped += *in.Last.Dropped - min(d0, *in.Last.Dropped)
		s.KernelReceived += *in.Last.Received - min(r0, *in.Last.Received)
	}
}

func baseline(st *IfaceStats) (dropped, received uint64) {
	if st != nil && st.Dropped != nil && st.Received != nil {
		return *st.Dropped, *st.Received
	}
	return 0, 0
}

// liveCounters completes the file being written with status.json's
// counters (its closing statistics blocks are not written yet).
func (s *FileSummary) liveCounters(st *Status) {
	s.CountersKnown = len(s.ifaces) > 0 && len(s.ifaces) == len(st.Interfaces)
	s.KernelDropped, s.KernelReceived = 0, 0
	for i, in := range s.ifaces {
		if !s.CountersKnown {
			break
		}
		cur := st.Interfaces[i]
		if cur.KernelDropped == nil || cur.KernelReceived == nil {
			s.CountersKnown = false
			break
		}
		d0, r0 := baseline(in.First)
		s.KernelDropped += *cur.KernelDropped - min(d0, *cur.KernelDropped)
		s.KernelReceived += *cur.KernelReceived - min(r0, *cur.KernelReceived)
	}
}

// Span is the first and last packet time over summaries, and the packets.
func Span(sums []FileSummary) (first, last time.Time, packets int) {
	for _, s := range sums {
		if s.Packets == 0 {
			continue
		}
		if first.IsZero() || s.First.Before(first) {
			first = s.First
		}
		if s.Last.After(last) {
			last = s.Last
		}
		packets += s.Packets
	}
	return first, last, packets
}

// RingPacket is a packet from a Merger: Interface indexes
// Merger.Interfaces (interfaces of all files, the same one counted once).
type RingPacket struct {
	Packet
	// File counts the files in the order they were added, those skipped
	// included: for Ring.Packets, an index into Ring.Files.
	File int
}

// Merger yields the packets of several captures merged by timestamp (ties
// in the order they were added), like mergecap. Each is read in its own
// order. Build one with Ring.Packets or MergeFiles, or NewMerger and its
// Add methods (capture inspect merges files, rings and standard input).
type Merger struct {
	curs       []*cursor
	h          cursorHeap
	last       *cursor
	ifaces     []Interface
	ifKey      map[ifaceKey]int
	skipped    []TornFile
	unreadable []FileError
	pending    []error
	inputs     []string
	files      int
}

type ifaceKey struct {
	name    string
	lt      uint16
	snaplen uint32
}

type cursor struct {
	name  string
	rd    *Reader
	p     RingPacket
	ifMap []int
}

// FileError is a file of the input that could not be opened or read
// (permission, a disk error); the other files are read.
type FileError struct {
	File string `json:"file"`
	Err  error  `json:"-"`
}

func (e *FileError) Error() string { return e.File + ": " + e.Err.Error() }

func (e *FileError) Unwrap() error { return e.Err }

// fileError names path once (an *fs.PathError names it already).
func fileError(path string, err error) *FileError {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &FileError{File: path, Err: err}
}

// NewMerger is an empty Merger: add its inputs before the first Next.
func NewMerger() *Merger { return &Merger{ifKey: map[ifaceKey]int{}} }

// Packets merges every file of the ring by timestamp. A file whose header
// is not written yet is skipped and reported by Torn, one rotated away
// since the listing is skipped; one that cannot be opened is an error.
func (r *Ring) Packets() (*Merger, error) {
	m := NewMerger()
	m.AddRing(r)
	if u := m.Unreadable(); len(u) > 0 {
		m.Close()
		return nil, &u[0]
	}
	return m, nil
}

// MergeFiles opens capture files and merges them by timestamp. A file that
// is not a capture is ErrNotCapture (wrapped with its path).
func MergeFiles(paths []string) (*Merger, error) {
	m := NewMerger()
	for _, p := range paths {
		if err := m.AddFile(p); err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

// AddFile opens a capture file and adds it. A file that is not a capture is
// ErrNotCapture (wrapped with its path); a missing or unreadable one is the
// open error. Nothing is added on error.
func (m *Merger) AddFile(path string) error {
	rd, err := OpenFile(path)
	if err != nil {
		return err
	}
	m.inputs = append(m.inputs, path)
	m.add(path, rd)
	return nil
}

// AddReader adds a capture opened by the caller (standard input); name
// says where it comes from in Torn and errors. Close closes it.
func (m *Merger) AddReader(name string, rd *Reader) {
	m.inputs = append(m.inputs, name)
	m.add(name, rd)
}

// AddRing adds every file of a ring, which may be being written: a file
// whose header is not complete yet is reported by Torn (torn at 0), one
// rotated away since the listing is skipped, and one that cannot be opened
// (permission, I/O) is reported by Unreadable; the others are read.
func (m *Merger) AddRing(r *Ring) {
	m.inputs = append(m.inputs, r.Dir)
	for _, f := range r.Files {
		rd, err := OpenFile(f.Path)
		switch {
		case err == nil:
			m.add(f.Path, rd)
			continue
		case errors.Is(err, fs.ErrNotExist):
			// The writer deleted its oldest file after the listing.
		case errors.Is(err, ErrNotCapture):
			size := int64(0)
			if fi, serr := os.Stat(f.Path); serr == nil {
				size = fi.Size()
			}
			m.skipped = append(m.skipped, TornFile{File: f.Path, Torn: Torn{Offset: 0, Bytes: size, Reason: err.Error()}})
		default:
			m.unreadable = append(m.unreadable, *fileError(f.Path, err))
		}
		m.files++
	}
}

func (m *Merger) add(name string, rd *Reader) {
	c := &cursor{name: name, rd: rd, p: RingPacket{File: m.files}}
	m.files++
	m.curs = append(m.curs, c)
	if m.advance(c) {
		heap.Push(&m.h, c)
	}
}

// advance reads c's next packet; false at its end or on a read error,
// which the next call to Next returns.
func (m *Merger) advance(c *cursor) bool {
	if err := c.rd.next(&c.p.Packet); err != nil {
		if err != io.EOF {
			m.pending = append(m.pending, fileError(c.name, err))
		}
		return false
	}
	for len(c.ifMap) < len(c.rd.ifaces) {
		in := c.rd.ifaces[len(c.ifMap)]
		k := ifaceKey{in.Name, uint16(in.LinkType), in.Snaplen}
		idx, ok := m.ifKey[k]
		if !ok {
			idx = len(m.ifaces)
			m.ifKey[k] = idx
			m.ifaces = append(m.ifaces, in)
		}
		c.ifMap = append(c.ifMap, idx)
	}
	c.p.Interface = c.ifMap[c.p.Interface]
	return true
}

// Next returns the earliest remaining packet, or io.EOF. Its Data is valid
// until the next call. A read error is a *FileError: that file ends there,
// and Next may be called again for the others.
func (m *Merger) Next() (RingPacket, error) {
	if c := m.last; c != nil {
		m.last = nil
		if m.advance(c) {
			// Most packets follow one from the same file (one input, or a
			// ring whose files follow each other): no heap work for them.
			if len(m.pending) == 0 && (m.h.Len() == 0 || !m.h.less(m.h[0], c)) {
				m.last = c
				return c.p, nil
			}
			heap.Push(&m.h, c)
		}
	}
	if len(m.pending) > 0 {
		err := m.pending[0]
		m.pending = m.pending[1:]
		return RingPacket{}, err
	}
	if m.h.Len() == 0 {
		return RingPacket{}, io.EOF
	}
	c := heap.Pop(&m.h).(*cursor)
	m.last = c
	return c.p, nil
}

// Interfaces are the distinct interfaces seen so far, indexed by
// RingPacket.Interface.
func (m *Merger) Interfaces() []Interface { return m.ifaces }

// Inputs name what was added, in order: file paths, ring directories, the
// names given to AddReader.
func (m *Merger) Inputs() []string { return m.inputs }

// Unreadable lists the ring files that could not be opened.
func (m *Merger) Unreadable() []FileError { return m.unreadable }

// TornFile names a file and its torn tail.
type TornFile struct {
	File string `json:"file"`
	Torn
}

// Torn lists the torn tails found so far (complete once Next gave io.EOF).
func (m *Merger) Torn() []TornFile {
	out := append([]TornFile(nil), m.skipped...)
	for _, c := range m.curs {
		if t := c.rd.Torn(); t != nil {
			out = append(out, TornFile{File: c.name, Torn: *t})
		}
	}
	return out
}

// Listeners are the listeners named by any file's section comment, once.
func (m *Merger) Listeners() []Listener {
	seen := map[Listener]bool{}
	var out []Listener
	for _, c := range m.curs {
		for _, l := range c.rd.Listeners() {
			if !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
	}
	return out
}

// Close closes every file.
func (m *Merger) Close() {
	for _, c := range m.curs {
		c.rd.Close()
	}
}

type cursorHeap []*cursor

func (h cursorHeap) Len() int           { return len(h) }
func (h cursorHeap) Less(i, j int) bool { return h.less(h[i], h[j]) }

// less orders cursors by their packet's time, then by the order added.
func (cursorHeap) less(a, b *cursor) bool {
	if !a.p.Timestamp.Equal(b.p.Timestamp) {
		return a.p.Timestamp.Before(b.p.Timestamp)
	}
	return a.p.File < b.p.File
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
