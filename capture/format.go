package capture

import (
	"runtime"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// File formats a ring can be written in.
const (
	FormatPcapng = "pcapng"
	FormatPcap   = "pcap"
)

// IfaceSpec is an interface a writer records: its name, link type and the
// snap length and filter it is captured with.
type IfaceSpec struct {
	Name     string
	LinkType layers.LinkType
	Snaplen  uint32
	Filter   string
}

// Counters are an interface's kernel counters since the capture started.
// Available is false when the kernel would not say (SOL_PACKET options
// refused, as under qemu-user).
type Counters struct {
	Received  uint64
	Dropped   uint64
	Available bool
	Start     time.Time
}

// encoder writes one file's blocks into a buffer. Sizes are computed, not
// measured, so the writer knows a file's size before bytes reach the disk.
type encoder interface {
	header(ifaces []IfaceSpec, comment string) error
	packet(iface int, ts time.Time, data []byte, orig int) error
	stats(iface int, now time.Time, c Counters) error
	recordSize(caplen int) int64
	statsSize() int64
	flush() error
}

// ngEncoder writes pcapng with gopacket's NgWriter: one section, one
// interface description block per interface, enhanced packet blocks and
// interface statistics blocks.
type ngEncoder struct {
	out *memBuf
	w   *pcapgo.NgWriter
}

func (e *ngEncoder) header(ifaces []IfaceSpec, comment string) error {
	opts := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Hardware: runtime.GOARCH, OS: runtime.GOOS, Application: "ectool capture", Comment: comment,
	}}
	var err error
	for i, in := range ifaces {
		ngi := pcapgo.NgInterface{Name: in.Name, LinkType: in.LinkType, SnapLength: in.Snaplen, Filter: in.Filter, OS: runtime.GOOS}
		if i == 0 {
			e.w, err = pcapgo.NewNgWriterInterface(e.out, ngi, opts)
		} else {
			_, err = e.w.AddInterface(ngi)
		}
		if err != nil {
			return err
		}
	}
	return e.w.Flush()
}

func (e *ngEncoder) packet(iface int, ts time.Time, data []byte, orig int) error {
	return e.w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: orig, InterfaceIndex: iface}, data)
}

func (e *ngEncoder) stats(iface int, now time.Time, c Counters) error {
	s := pcapgo.NgInterfaceStatistics{LastUpdate: now, StartTime: c.Start, EndTime: now,
		PacketsReceived: pcapgo.NgNoValue64, PacketsDropped: pcapgo.NgNoValue64}
	if c.Available {
		s.PacketsReceived, s.PacketsDropped = c.Received, c.Dropped
	}
	return e.w.WriteInterfaceStats(iface, s)
}

func (e *ngEncoder) recordSize(caplen int) int64 { return 32 + int64(caplen+3)&^3 }

// statsSize is the largest statistics block: header, four 8-byte options,
// end of options.
func (e *ngEncoder) statsSize() int64 { return 24 + 4*12 + 4 }

func (e *ngEncoder) flush() error { return e.w.Flush() }

// pcapEncoder writes classic pcap with nanosecond timestamps (one link
// type, no interface names, no statistics).
type pcapEncoder struct {
	out *memBuf
	w   *pcapgo.Writer
}

func (e *pcapEncoder) header(ifaces []IfaceSpec, _ string) error {
	e.w = pcapgo.NewWriterNanos(e.out)
	return e.w.WriteFileHeader(ifaces[0].Snaplen, ifaces[0].LinkType)
}

func (e *pcapEncoder) packet(_ int, ts time.Time, data []byte, orig int) error {
	return e.w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: orig}, data)
}

func (e *pcapEncoder) stats(int, time.Time, Counters) error { return nil }
func (e *pcapEncoder) recordSize(caplen int) int64          { return 16 + int64(caplen) }
func (e *pcapEncoder) statsSize() int64                     { return 0 }
func (e *pcapEncoder) flush() error                         { return nil }

// memBuf collects encoded bytes until the ring writes them to the file, so
// a full disk never poisons an encoder's own buffer.
type memBuf struct{ b []byte }

func (m *memBuf) Write(p []byte) (int, error) {
	m.b = append(m.b, p...)
	return len(p), nil
}
