package capture

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ecdata/ectool/diag/exitcode"
)

// ExportResult says what an export wrote.
type ExportResult struct {
	Path    string    `json:"path"`
	Format  string    `json:"format"`
	Packets int       `json:"packets"`
	First   time.Time `json:"first,omitzero"`
	Last    time.Time `json:"last,omitzero"`
	// From and To are the window clipped to ([From, To); zero is open).
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// RingFirst, RingLast and RingPackets are the span the ring holds.
	RingFirst   time.Time  `json:"ring_first,omitzero"`
	RingLast    time.Time  `json:"ring_last,omitzero"`
	RingPackets int        `json:"ring_packets"`
	Files       int        `json:"files"`
	Torn        []TornFile `json:"torn,omitempty"`
}

// ErrEmptyWindow: the window holds no packet (the result names the span the
// ring holds).
var ErrEmptyWindow error = exitcode.New(exitcode.KindProblem, "no packet in the window", "")

// ErrMixedLinkTypes: the window holds packets of more than one link type,
// which classic pcap cannot carry (pcapng can).
var ErrMixedLinkTypes = errors.New("classic pcap holds one link type")

// Export merges the ring's files by timestamp, keeps the packets inside w
// (durations count back from the newest packet in the ring) and writes them
// to path as pcapng (or classic pcap when format is FormatPcap). Nothing is
// written when the window is empty (ErrEmptyWindow).
func Export(r *Ring, w Window, path, format string) (*ExportResult, error) {
	res := &ExportResult{Path: path, Format: format, Files: len(r.Files)}
	// First pass: the newest packet (durations count back from it).
	first, err := r.Packets()
	if err != nil {
		return res, err
	}
	newest, err := Newest(first)
	first.Close()
	if err != nil {
		return res, err
	}
	win := w.Resolve(newest)
	res.From, res.To = win.From, win.To
	m, err := r.Packets()
	if err != nil {
		return res, err
	}
	defer m.Close()
	var out *exportWriter
	defer func() {
		if out != nil {
			out.abort()
		}
	}()
	for {
		p, err := m.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, err
		}
		res.RingPackets++
		if res.RingFirst.IsZero() || p.Timestamp.Before(res.RingFirst) {
			res.RingFirst = p.Timestamp
		}
		if p.Timestamp.After(res.RingLast) {
			res.RingLast = p.Timestamp
		}
		if !win.Contains(p.Timestamp) {
			continue
		}
		if out == nil {
			if out, err = newExportWriter(path, format, FormatListeners(m.Listeners())); err != nil {
				return res, err
			}
		}
		if err := out.write(m.Interfaces(), p); err != nil {
			return res, err
		}
		if res.Packets == 0 {
			res.First = p.Timestamp
		}
		res.Last = p.Timestamp
		res.Packets++
	}
	res.Torn = m.Torn()
	if out == nil {
		return res, ErrEmptyWindow
	}
	err = out.close()
	out = nil
	return res, err
}

// exportWriter writes the merged packets, adding each interface to the
// output the first time one of its packets is written.
type exportWriter struct {
	f      *os.File
	path   string
	format string
	ng     *pcapgo.NgWriter
	pc     *pcapgo.Writer
	ids    map[int]int
	lt     uint16
	// ltName is the interface whose link type the pcap file took.
	ltName string
	// comment carries the files' listener lines into the export.
	comment string
}

func newExportWriter(path, format, comment string) (*exportWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	return &exportWriter{f: f, path: path, format: format, comment: comment, ids: map[int]int{}}, nil
}

func (e *exportWriter) write(ifaces []Interface, p RingPacket) error {
	ci := gopacket.CaptureInfo{Timestamp: p.Timestamp, CaptureLength: len(p.Data), Length: p.OrigLen}
	in := ifaces[p.Interface]
	if e.format == FormatPcap {
		if e.pc == nil {
			e.pc = pcapgo.NewWriterNanos(e.f)
			e.lt, e.ltName = uint16(in.LinkType), in.Name
			if err := e.pc.WriteFileHeader(max(in.Snaplen, DefaultSnaplen), in.LinkType); err != nil {
				return err
			}
		}
		if uint16(in.LinkType) != e.lt {
			return fmt.Errorf("%w, but the window holds %s (%s) and %s (%s): write pcapng", ErrMixedLinkTypes,
				LinkTypeName(layers.LinkType(e.lt)), e.ltName, LinkTypeName(in.LinkType), in.Name)
		}
		return e.pc.WritePacket(ci, p.Data)
	}
	id, ok := e.ids[p.Interface]
	if !ok {
		ngi := pcapgo.NgInterface{Name: in.Name, LinkType: in.LinkType, SnapLength: in.Snaplen, Filter: in.Filter}
		var err error
		if e.ng == nil {
			opts := pcapgo.DefaultNgWriterOptions
			opts.SectionInfo.Application = "ectool capture export"
			opts.SectionInfo.Comment = e.comment
			e.ng, err = pcapgo.NewNgWriterInterface(e.f, ngi, opts)
			id = 0
		} else {
			id, err = e.ng.AddInterface(ngi)
		}
		if err != nil {
			return err
		}
		e.ids[p.Interface] = id
	}
	ci.InterfaceIndex = id
	return e.ng.WritePacket(ci, p.Data)
}

func (e *exportWriter) close() error {
	var err error
	if e.ng != nil {
		err = e.ng.Flush()
	}
	if serr := e.f.Sync(); err == nil {
		err = serr
	}
	if cerr := e.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// abort removes a half-written export.
func (e *exportWriter) abort() {
	e.f.Close()
	_ = os.Remove(e.path)
}
