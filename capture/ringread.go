package capture

import (
	"container/heap"
	"errors"
	"io"
	"os"
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
func OpenRing(dir string) (*Ring, error) {
	files, err := ListRing(dir, "")
	if err != nil {
		return nil, &DirError{Dir: dir, Op: "reading", Err: err}
	}
	r := &Ring{Dir: dir, Files: files}
	r.Status, r.StatusErr = ReadStatus(dir)
	if errors.Is(r.StatusErr, os.ErrNotExist) {
		r.StatusErr = errNoStatus
	}
	return r, nil
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

// RingPacket is a packet from a merged ring: Interface indexes
// Merger.Interfaces (interfaces of all files, the same one counted once).
type RingPacket struct {
	Packet
	// File is the ring file it came from (an index into Ring.Files).
	File int
}

// Merger yields the packets of several files merged by timestamp (ties in
// file order), like mergecap. Each file is read in its own order.
type Merger struct {
	curs    []*cursor
	h       cursorHeap
	last    *cursor
	ifaces  []Interface
	ifKey   map[ifaceKey]int
	skipped []TornFile
}

type ifaceKey struct {
	name    string
	lt      uint16
	snaplen uint32
}

type cursor struct {
	file  int
	name  string
	rd    *Reader
	p     Packet
	ifMap []int
	err   error
}

// Packets merges every file of the ring by timestamp.
func (r *Ring) Packets() (*Merger, error) {
	paths := make([]string, len(r.Files))
	for i, f := range r.Files {
		paths[i] = f.Path
	}
	return mergeFiles(paths, true)
}

// MergeFiles opens capture files and merges them by timestamp. A file that
// is not a capture is ErrNotCapture (wrapped with its path).
func MergeFiles(paths []string) (*Merger, error) { return mergeFiles(paths, false) }

// mergeFiles opens paths; lenient (a ring being written) skips a file whose
// header is not complete yet and reports it as torn at 0.
func mergeFiles(paths []string, lenient bool) (*Merger, error) {
	m := &Merger{ifKey: map[ifaceKey]int{}}
	for i, p := range paths {
		rd, err := OpenFile(p)
		if err != nil && lenient && errors.Is(err, ErrNotCapture) {
			size := int64(0)
			if fi, serr := os.Stat(p); serr == nil {
				size = fi.Size()
			}
			m.skipped = append(m.skipped, TornFile{File: p, Torn: Torn{Offset: 0, Bytes: size, Reason: err.Error()}})
			continue
		}
		if err != nil {
			m.Close()
			return nil, err
		}
		c := &cursor{file: i, name: p, rd: rd}
		m.curs = append(m.curs, c)
		if m.advance(c) {
			heap.Push(&m.h, c)
		}
	}
	return m, nil
}

// advance reads c's next packet; false at its end.
func (m *Merger) advance(c *cursor) bool {
	p, err := c.rd.Next()
	if err != nil {
		if err != io.EOF {
			c.err = err
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
	p.Interface = c.ifMap[p.Interface]
	c.p = p
	return true
}

// Next returns the earliest remaining packet, or io.EOF. Its Data is valid
// until the next call.
func (m *Merger) Next() (RingPacket, error) {
	if m.last != nil {
		if m.advance(m.last) {
			heap.Push(&m.h, m.last)
		} else if m.last.err != nil {
			return RingPacket{}, m.last.err
		}
		m.last = nil
	}
	if m.h.Len() == 0 {
		return RingPacket{}, io.EOF
	}
	c := heap.Pop(&m.h).(*cursor)
	m.last = c
	return RingPacket{Packet: c.p, File: c.file}, nil
}

// Interfaces are the distinct interfaces seen so far, indexed by
// RingPacket.Interface.
func (m *Merger) Interfaces() []Interface { return m.ifaces }

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

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	if !h[i].p.Timestamp.Equal(h[j].p.Timestamp) {
		return h[i].p.Timestamp.Before(h[j].p.Timestamp)
	}
	return h[i].file < h[j].file
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
