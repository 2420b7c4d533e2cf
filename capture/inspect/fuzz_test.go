package inspect

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/ecdata/ectool/capture"
	"github.com/ecdata/ectool/internal/pcapsynth"
	"github.com/ecdata/ectool/internal/testenv"
)

// Fuzz input for the stream decoder: one options byte, then records of
// [control, length, payload...]. Control bits: 0 direction (to the
// client), 1 retransmit the previous bytes, 2 leave a hole, 3 FIN, 4 RST,
// 5 ten seconds pass, 6 send ahead of the stream (out of order), 7 zero
// window. Options: bit 0 the general reassembly path, bit 1 a handshake.

const (
	ctlToClient = 1 << iota
	ctlRetransmit
	ctlHole
	ctlFIN
	ctlRST
	ctlLater
	ctlAhead
	ctlZeroWin
)

// fuzzSeeds turns the payloads of captures into fuzz inputs: the
// suricata-verify and Zeek fixtures (read at run time, never copied) and
// captures the package's own tests synthesise.
func fuzzSeeds(f *testing.F) {
	dir := filepath.Join(testenv.SharedDir(f), "fixtures", "pcap")
	paths, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*.pcap"))
	more, _ := filepath.Glob(filepath.Join(dir, "*", "*.pcap"))
	for _, p := range append(paths, more...) {
		if seed := seedFromCapture(p); len(seed) > 1 {
			f.Add(seed)
		}
	}
	f.Add(seedFromCapture(ownCapture(f)))
	f.Add([]byte{2, 0, 2, 0x10, 0})
}

// ownCapture synthesises a small MQTT 5 session with split packets.
func ownCapture(f *testing.F) string {
	path := filepath.Join(f.TempDir(), "own.pcap")
	fh, err := os.Create(path)
	if err != nil {
		f.Fatal(err)
	}
	w, _ := pcapsynth.NewWriter(fh, pcapsynth.Options{})
	c := w.NewConn(netip.MustParseAddrPort("10.0.0.2:40000"), netip.MustParseAddrPort("10.0.0.1:1883"))
	c.MSS = 9
	ts := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c.Open(ts)
	c.Send(pcapsynth.ToServer, ts, pcapsynth.Connect(5, "fuzz", 30, true, "u", "p"))
	c.Send(pcapsynth.ToClient, ts, pcapsynth.Connack(5, 0))
	c.Send(pcapsynth.ToServer, ts, pcapsynth.Publish(5, "a/b", []byte("hello world"), 2, 7, true, false))
	c.Send(pcapsynth.ToClient, ts, pcapsynth.Ack(5, 5, 7, 0))
	c.Send(pcapsynth.ToServer, ts, pcapsynth.Ack(6, 5, 7, 0))
	c.Send(pcapsynth.ToClient, ts, pcapsynth.Ack(7, 5, 7, 0))
	c.Close(ts)
	w.Flush()
	fh.Close()
	return path
}

func seedFromCapture(path string) []byte {
	src, err := capture.OpenFile(path)
	if err != nil {
		return nil
	}
	defer src.Close()
	fd := newFrameDecoder()
	var seg segment
	var first *segment
	seed := []byte{2}
	for {
		p, err := src.Next()
		if err == io.EOF || err != nil {
			break
		}
		if fd.decode(&p, &seg) != frameTCP || len(seg.payload) == 0 {
			continue
		}
		if first == nil {
			s := seg
			first = &s
		}
		ctl := byte(0)
		if seg.sport != first.sport {
			ctl |= ctlToClient
		}
		for b := seg.payload; len(b) > 0; {
			n := min(len(b), 255)
			seed = append(seed, ctl, byte(n))
			seed = append(seed, b[:n]...)
			b = b[n:]
		}
	}
	return seed
}

func FuzzStreamDecoder(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(runFuzzStream)
}

func runFuzzStream(t *testing.T, data []byte) {
	{
		if len(data) < 1 {
			return
		}
		opts := Options{MaxBufferedPagesTotal: 8, MaxBufferedPagesPerConnection: 4, MaxPacketBuffer: 512, MaxBufferTotal: 2048}
		if data[0]&1 != 0 {
			opts.Reassembly = ReassemblyFull
		}
		d, err := NewDecoder(opts)
		if err != nil {
			t.Fatal(err)
		}
		client := netip.MustParseAddrPort("10.0.0.2:40000")
		broker := netip.MustParseAddrPort("10.0.0.1:1883")
		ends := [2][2]netip.AddrPort{{client, broker}, {broker, client}}
		seq := [2]uint32{1000, 9000}
		ts := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		var frame []byte
		send := func(dir int, s uint32, flags byte, win uint16, payload []byte) {
			frame = pcapsynth.AppendFrame(frame[:0], layers.LinkTypeEthernet, pcapsynth.Segment{Time: ts, Src: ends[dir][0], Dst: ends[dir][1],
				Seq: s, Ack: seq[1-dir], Flags: flags, Window: win, Payload: payload})
			d.Packet(&capture.Packet{Timestamp: ts, LinkType: layers.LinkTypeEthernet, Data: frame, OrigLen: len(frame)})
			if got, bound := d.BufferedBytes(), d.BufferBound(); got > bound {
				t.Fatalf("buffered %d bytes, bound %d", got, bound)
			}
		}
		if data[0]&2 != 0 {
			send(0, seq[0]-1, pcapsynth.SYN, 65535, nil)
			send(1, seq[1]-1, pcapsynth.SYN|pcapsynth.ACK, 65535, nil)
		}
		rest := data[1:]
		for len(rest) >= 2 {
			ctl, n := rest[0], int(rest[1])
			rest = rest[2:]
			n = min(n, len(rest))
			payload := rest[:n]
			rest = rest[n:]
			dir := int(ctl & ctlToClient)
			flags := byte(pcapsynth.ACK | pcapsynth.PSH)
			win := uint16(65535)
			if ctl&ctlZeroWin != 0 {
				win = 0
			}
			if ctl&ctlLater != 0 {
				ts = ts.Add(10 * time.Second)
			}
			if ctl&ctlHole != 0 {
				seq[dir] += uint32(n%7 + 1)
			}
			s := seq[dir]
			switch {
			case ctl&ctlRetransmit != 0:
				s -= uint32(n)
			case ctl&ctlAhead != 0:
				s += uint32(n)
			default:
				seq[dir] += uint32(n)
			}
			if ctl&ctlFIN != 0 {
				flags |= pcapsynth.FIN
			}
			if ctl&ctlRST != 0 {
				flags |= pcapsynth.RST
			}
			send(dir, s, flags, win, payload)
		}
		res := d.Finish()
		if res.Input.Packets == 0 && len(data) > 3 {
			t.Fatalf("no packet counted")
		}
	}
}

// FuzzPacketDecode holds the fast path to the general decoder: whatever
// the fast path accepts, it decodes exactly as mochi's codec does.
func FuzzPacketDecode(f *testing.F) {
	for _, p := range [][]byte{
		pcapsynth.Publish(4, "a/b", []byte("x"), 1, 3, false, false),
		pcapsynth.Publish(5, "a/b", []byte("x"), 0, 0, true, false),
		pcapsynth.Publish(3, "t", nil, 2, 9, false, true),
		pcapsynth.Ack(4, 4, 1, 0), pcapsynth.Ack(6, 5, 2, 0), pcapsynth.Ack(5, 5, 3, 0x80),
		pcapsynth.Pingreq, pcapsynth.Pingresp, {0x30, 3, 0, 1, 0xff}, {0x32, 4, 0, 0, 0, 1},
	} {
		for _, level := range []byte{3, 4, 5} {
			f.Add(level, p)
		}
	}
	f.Fuzz(func(t *testing.T, level byte, pkt []byte) {
		level = 3 + level%3
		_, rem, hlen, ok, bad := fixedHeader(pkt)
		if !ok || bad || hlen+rem != len(pkt) {
			return
		}
		raw := rawPDU{first: pkt[0], hlen: hlen, total: len(pkt), body: pkt[hlen:]}
		var fast, slow Message
		fd := packetDecoder{}
		fd.decode(level, &raw, &fast)
		sd := packetDecoder{slowOnly: true}
		sd.decode(level, &raw, &slow)
		// When the fast path took the packet, the general decoder must see
		// it the same way.
		if !fd.tookFast {
			return
		}
		if slow.Malformed != "" {
			t.Fatalf("fast path accepted % x (level %d), mochi says %q", pkt, level, slow.Malformed)
		}
		a := fmt.Sprintf("%v %v %d %v %q %d %v %v %v %d %q %d %q", fast.Type, fast.HasPacketID, fast.PacketID, fast.HasReason, fast.Reason, fast.ReasonCode,
			fast.QoS, fast.Retain, fast.Dup, fast.PayloadSize, fast.Topic, len(fast.Payload), fast.Version)
		b := fmt.Sprintf("%v %v %d %v %q %d %v %v %v %d %q %d %q", slow.Type, slow.HasPacketID, slow.PacketID, slow.HasReason, slow.Reason, slow.ReasonCode,
			slow.QoS, slow.Retain, slow.Dup, slow.PayloadSize, slow.Topic, len(slow.Payload), slow.Version)
		if a != b || !reflect.DeepEqual(fast.Payload, slow.Payload) && len(fast.Payload)+len(slow.Payload) > 0 {
			t.Fatalf("% x level %d:\nfast %s\nslow %s", pkt, level, a, b)
		}
	})
}
