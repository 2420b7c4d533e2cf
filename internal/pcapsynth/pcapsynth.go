// Package pcapsynth writes captures of TCP conversations with synthesised
// link, IPv4 and TCP headers: tests build exact corner cases with it (a
// packet split over segments, retransmissions, reordering, a lost segment,
// every link type inspect reads) and the benchmark builds its million-
// packet capture. Checksums are left 0: capture tools never validate them
// (offloading leaves them wrong in real captures too).
//
// Start with NewWriter, open a Conn, Send bytes each way, Close.
package pcapsynth

import (
	"bufio"
	"encoding/binary"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Options choose the file format and link type.
type Options struct {
	PcapNG bool
	// LinkType: Ethernet (the default), LinuxSLL, LinuxSLL2, Raw, or Loop
	// (BSD loopback, as macOS's lo0 records it).
	LinkType layers.LinkType
	// Comment goes into the pcapng section header (the lab names its
	// listeners there).
	Comment string
	// Snaplen cuts frames longer than it (0: keep everything).
	Snaplen int
}

// Writer writes frames.
type Writer struct {
	opts  Options
	bw    *bufio.Writer
	pcap  *pcapgo.Writer
	ng    *pcapgo.NgWriter
	frame []byte
	// Packets counts the frames written.
	Packets int
}

// NewWriter starts a capture on w.
func NewWriter(w io.Writer, opts Options) (*Writer, error) {
	if opts.LinkType == 0 {
		opts.LinkType = layers.LinkTypeEthernet
	}
	sw := &Writer{opts: opts, bw: bufio.NewWriterSize(w, 1<<20), frame: make([]byte, 0, 65600)}
	if opts.PcapNG {
		intf := pcapgo.NgInterface{LinkType: opts.LinkType, SnapLength: 262144, TimestampResolution: 9}
		ng, err := pcapgo.NewNgWriterInterface(sw.bw, intf, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Comment: opts.Comment, Application: "ectool pcapsynth"}})
		if err != nil {
			return nil, err
		}
		sw.ng = ng
		return sw, nil
	}
	sw.pcap = pcapgo.NewWriterNanos(sw.bw)
	if err := sw.pcap.WriteFileHeader(262144, opts.LinkType); err != nil {
		return nil, err
	}
	return sw, nil
}

// Flush writes what is buffered (call it before closing the file).
func (w *Writer) Flush() error {
	if w.ng != nil {
		if err := w.ng.Flush(); err != nil {
			return err
		}
	}
	return w.bw.Flush()
}

// TCP flags.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
)

// Segment is one TCP segment to write.
type Segment struct {
	Time     time.Time
	Src, Dst netip.AddrPort
	Seq, Ack uint32
	Flags    byte
	Window   uint16
	Payload  []byte
}

// Write writes one segment as a frame of the writer's link type.
func (w *Writer) Write(s Segment) error {
	f := AppendFrame(w.frame[:0], w.opts.LinkType, s)
	w.frame = f
	length := len(f)
	if w.opts.Snaplen > 0 && len(f) > w.opts.Snaplen {
		f = f[:w.opts.Snaplen]
	}
	ci := gopacket.CaptureInfo{Timestamp: s.Time, CaptureLength: len(f), Length: length}
	w.Packets++
	if w.ng != nil {
		return w.ng.WritePacket(ci, f)
	}
	return w.pcap.WritePacket(ci, f)
}

// AppendFrame appends one segment as a frame of link type lt to f.
func AppendFrame(f []byte, lt layers.LinkType, s Segment) []byte {
	v6 := s.Src.Addr().Is6() && !s.Src.Addr().Is4In6()
	switch lt {
	case layers.LinkTypeEthernet:
		f = append(f, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2)
		if v6 {
			f = append(f, 0x86, 0xdd)
		} else {
			f = append(f, 0x08, 0x00)
		}
	case layers.LinkTypeLinuxSLL:
		f = append(f, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 1, 0, 0)
		if v6 {
			f = append(f, 0x86, 0xdd)
		} else {
			f = append(f, 0x08, 0x00)
		}
	case layers.LinkTypeLinuxSLL2:
		proto := []byte{0x08, 0x00}
		if v6 {
			proto = []byte{0x86, 0xdd}
		}
		f = append(f, proto...)
		f = append(f, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0, 0, 0, 0, 0, 1, 0, 0)
	case layers.LinkTypeLoop:
		fam := uint32(2)
		if v6 {
			fam = 24
		}
		f = binary.BigEndian.AppendUint32(f, fam)
	}
	tcpLen := 20 + len(s.Payload)
	if v6 {
		f = append(f, 0x60, 0, 0, 0)
		f = binary.BigEndian.AppendUint16(f, uint16(tcpLen))
		f = append(f, 6, 64)
		a, b := s.Src.Addr().As16(), s.Dst.Addr().As16()
		f = append(f, a[:]...)
		f = append(f, b[:]...)
	} else {
		f = append(f, 0x45, 0)
		f = binary.BigEndian.AppendUint16(f, uint16(20+tcpLen))
		f = append(f, 0, 0, 0x40, 0, 64, 6, 0, 0)
		a, b := s.Src.Addr().As4(), s.Dst.Addr().As4()
		f = append(f, a[:]...)
		f = append(f, b[:]...)
	}
	f = binary.BigEndian.AppendUint16(f, s.Src.Port())
	f = binary.BigEndian.AppendUint16(f, s.Dst.Port())
	f = binary.BigEndian.AppendUint32(f, s.Seq)
	f = binary.BigEndian.AppendUint32(f, s.Ack)
	f = append(f, 5<<4, s.Flags)
	f = binary.BigEndian.AppendUint16(f, s.Window)
	f = append(f, 0, 0, 0, 0)
	return append(f, s.Payload...)
}

// Conn is one TCP connection: it keeps both sequence numbers.
type Conn struct {
	w              *Writer
	Client, Server netip.AddrPort
	seq            [2]uint32 // next sequence number: [0] client, [1] server
	// MSS cuts Send's payloads into segments (default 1448).
	MSS int
	// Window is the window every segment advertises (default 65535).
	Window uint16
}

// Directions for Send.
const (
	ToServer = 0
	ToClient = 1
)

// NewConn starts a connection (write its handshake with Open).
func (w *Writer) NewConn(client, server netip.AddrPort) *Conn {
	return &Conn{w: w, Client: client, Server: server, seq: [2]uint32{1000, 50000}, MSS: 1448, Window: 65535}
}

func (c *Conn) ends(dir int) (netip.AddrPort, netip.AddrPort) {
	if dir == ToServer {
		return c.Client, c.Server
	}
	return c.Server, c.Client
}

// Seq is the next sequence number of a direction.
func (c *Conn) Seq(dir int) uint32 { return c.seq[dir] }

// Open writes the three-way handshake.
func (c *Conn) Open(ts time.Time) error {
	if err := c.w.Write(Segment{Time: ts, Src: c.Client, Dst: c.Server, Seq: c.seq[0] - 1, Flags: SYN, Window: c.Window}); err != nil {
		return err
	}
	if err := c.w.Write(Segment{Time: ts, Src: c.Server, Dst: c.Client, Seq: c.seq[1] - 1, Ack: c.seq[0], Flags: SYN | ACK, Window: c.Window}); err != nil {
		return err
	}
	return c.w.Write(Segment{Time: ts, Src: c.Client, Dst: c.Server, Seq: c.seq[0], Ack: c.seq[1], Flags: ACK, Window: c.Window})
}

// Send writes payload from one side in segments of at most MSS bytes.
func (c *Conn) Send(dir int, ts time.Time, payload []byte) error {
	for len(payload) > 0 {
		n := min(len(payload), c.MSS)
		if err := c.Raw(dir, ts, c.seq[dir], payload[:n], PSH|ACK); err != nil {
			return err
		}
		c.seq[dir] += uint32(n)
		payload = payload[n:]
	}
	return nil
}

// Raw writes one segment at any sequence number without moving the
// connection's own (retransmissions, reordering, holes).
func (c *Conn) Raw(dir int, ts time.Time, seq uint32, payload []byte, flags byte) error {
	src, dst := c.ends(dir)
	return c.w.Write(Segment{Time: ts, Src: src, Dst: dst, Seq: seq, Ack: c.seq[1-dir], Flags: flags, Window: c.Window, Payload: payload})
}

// Skip moves a direction's sequence number as if n bytes were sent but not
// captured.
func (c *Conn) Skip(dir int, n int) { c.seq[dir] += uint32(n) }

// Close writes FIN from the client, then the server, and the last ACK.
func (c *Conn) Close(ts time.Time) error {
	for _, dir := range []int{ToServer, ToClient} {
		if err := c.Raw(dir, ts, c.seq[dir], nil, FIN|ACK); err != nil {
			return err
		}
		c.seq[dir]++
	}
	return c.Raw(ToServer, ts, c.seq[0], nil, ACK)
}

// Reset writes an RST from one side.
func (c *Conn) Reset(dir int, ts time.Time) error {
	return c.Raw(dir, ts, c.seq[dir], nil, RST|ACK)
}
