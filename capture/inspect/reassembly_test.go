package inspect_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/ecdata/ectool/capture/inspect"
	"github.com/ecdata/ectool/internal/pcapsynth"
)

var (
	t0         = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	clientAddr = netip.MustParseAddrPort("192.168.1.20:50000")
	brokerAddr = netip.MustParseAddrPort("192.168.1.1:1883")
)

// synth builds a capture file with fn and returns its path.
func synth(t testing.TB, opts pcapsynth.Options, fn func(w *pcapsynth.Writer)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "synth.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapsynth.NewWriter(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	fn(w)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

// publishes are n QoS 1 publishes on topics a/0, a/1, ... and their PUBACKs.
func publishes(level byte, n int) (toBroker, toClient [][]byte) {
	for i := 1; i <= n; i++ {
		toBroker = append(toBroker, pcapsynth.Publish(level, fmt.Sprintf("a/%d", i), bytes.Repeat([]byte{'x'}, 10+i), 1, uint16(i), false, false))
		toClient = append(toClient, pcapsynth.Ack(4, level, uint16(i), 0))
	}
	return toBroker, toClient
}

// summary is a decode in a form two decodes can be compared by: each
// direction's packets in order.
func summary(recs []record) string {
	var b strings.Builder
	for _, dir := range []bool{true, false} {
		for _, r := range recs {
			if r.ToBroker == dir {
				fmt.Fprintf(&b, "%v %s id=%d %s %d %q\n", dir, r.Type, r.PacketID, r.Topic, r.PayloadSize, r.Malformed)
			}
		}
	}
	return b.String()
}

// bothPaths decodes a capture with the fast path and the general one and
// wants the same packets from both.
func bothPaths(t *testing.T, path string, opts ...inspect.Options) ([]record, *inspect.Result) {
	t.Helper()
	var o inspect.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	fast, res := decodeFile(t, path, o)
	o.Reassembly = inspect.ReassemblyFull
	full, _ := decodeFile(t, path, o)
	if a, b := summary(fast), summary(full); a != b {
		t.Errorf("fast path and gopacket reassembly differ:\nfast:\n%s\nfull:\n%s", a, b)
	}
	return fast, res
}

func countType(recs []record, typ inspect.PacketType) int {
	n := 0
	for _, r := range recs {
		if r.Type == typ && r.Malformed == "" {
			n++
		}
	}
	return n
}

func TestPacketsSplitOverSegmentsAndSeveralInOne(t *testing.T) {
	up, down := publishes(4, 20)
	for _, mss := range []int{1, 3, 7, 1448} {
		t.Run(fmt.Sprintf("mss%d", mss), func(t *testing.T) {
			path := synth(t, pcapsynth.Options{}, func(w *pcapsynth.Writer) {
				c := w.NewConn(clientAddr, brokerAddr)
				c.MSS = mss
				c.Open(t0)
				c.Send(pcapsynth.ToServer, t0, pcapsynth.Connect(4, "gw1", 60, true, "", ""))
				c.Send(pcapsynth.ToClient, t0, pcapsynth.Connack(4, 0))
				// All publishes in one write: several packets per segment.
				c.Send(pcapsynth.ToServer, t0.Add(time.Second), bytes.Join(up, nil))
				c.Send(pcapsynth.ToClient, t0.Add(time.Second), bytes.Join(down, nil))
				c.Close(t0.Add(2 * time.Second))
			})
			recs, res := bothPaths(t, path)
			if n := countType(recs, inspect.Publish); n != 20 {
				t.Errorf("%d PUBLISH decoded, want 20", n)
			}
			if n := countType(recs, inspect.Puback); n != 20 {
				t.Errorf("%d PUBACK decoded, want 20", n)
			}
			if len(res.Connections) != 1 || res.Connections[0].QoS.Completed != 20 || res.Decode.Count != 0 {
				t.Errorf("connections %+v, decode problems %+v", res.Connections, res.Decode)
			}
		})
	}
}

func TestRetransmittedAndOverlappingSegmentsAreDecodedOnce(t *testing.T) {
	up, down := publishes(4, 6)
	path := synth(t, pcapsynth.Options{}, func(w *pcapsynth.Writer) {
		c := w.NewConn(clientAddr, brokerAddr)
		c.Open(t0)
		c.Send(pcapsynth.ToServer, t0, pcapsynth.Connect(4, "gw1", 60, true, "", ""))
		c.Send(pcapsynth.ToClient, t0, pcapsynth.Connack(4, 0))
		for i, p := range up {
			seq := c.Seq(pcapsynth.ToServer)
			c.Send(pcapsynth.ToServer, t0.Add(time.Second), p)
			switch i {
			case 1: // the same segment again
				c.Raw(pcapsynth.ToServer, t0.Add(time.Second), seq, p, pcapsynth.PSH|pcapsynth.ACK)
			case 3: // its tail again, with the next packet's head: an overlap
				next := up[4]
				c.Raw(pcapsynth.ToServer, t0.Add(time.Second), seq+5, append(append([]byte{}, p[5:]...), next[:4]...), pcapsynth.PSH|pcapsynth.ACK)
			}
			c.Send(pcapsynth.ToClient, t0.Add(time.Second), down[i])
		}
		c.Close(t0.Add(2 * time.Second))
	})
	recs, res := bothPaths(t, path)
	if n := countType(recs, inspect.Publish); n != 6 {
		t.Errorf("%d PUBLISH decoded, want 6", n)
	}
	if res.TCP.Retransmissions < 2 {
		t.Errorf("%d retransmissions counted, want at least 2", res.TCP.Retransmissions)
	}
}

func TestReorderedSegmentsGoThroughTheReassembler(t *testing.T) {
	up, down := publishes(4, 5)
	path := synth(t, pcapsynth.Options{}, func(w *pcapsynth.Writer) {
		c := w.NewConn(clientAddr, brokerAddr)
		c.Open(t0)
		c.Send(pcapsynth.ToServer, t0, pcapsynth.Connect(4, "gw1", 60, true, "", ""))
		c.Send(pcapsynth.ToClient, t0, pcapsynth.Connack(4, 0))
		// Publishes 2 and 3 arrive swapped.
		c.Send(pcapsynth.ToServer, t0.Add(time.Second), up[0])
		seq := c.Seq(pcapsynth.ToServer)
		c.Raw(pcapsynth.ToServer, t0.Add(time.Second), seq+uint32(len(up[1])), up[2], pcapsynth.PSH|pcapsynth.ACK)
		c.Raw(pcapsynth.ToServer, t0.Add(time.Second), seq, up[1], pcapsynth.PSH|pcapsynth.ACK)
		c.Skip(pcapsynth.ToServer, len(up[1])+len(up[2]))
		c.Send(pcapsynth.ToServer, t0.Add(time.Second), bytes.Join(up[3:], nil))
		c.Send(pcapsynth.ToClient, t0.Add(time.Second), bytes.Join(down, nil))
		c.Close(t0.Add(2 * time.Second))
	})
	recs, res := bothPaths(t, path)
	var topics []string
	for _, r := range recs {
		if r.Type == inspect.Publish {
			topics = append(topics, r.Topic)
		}
	}
	if got := strings.Join(topics, " "); got != "a/1 a/2 a/3 a/4 a/5" {
		t.Errorf("publishes in stream order: %s", got)
	}
	if res.QoS.Count != 0 || res.Connections[0].QoS.Completed != 5 {
		t.Errorf("qos findings %+v, completed %d", res.QoS, res.Connections[0].QoS.Completed)
	}
}

// A segment the capture lost: the packets after it are still decoded
// (acknowledged hole: at once; a hole nobody acknowledged: after GapWait).
func TestLostSegmentIsSkippedAndTheStreamResynchronises(t *testing.T) {
	for _, acked := range []bool{true, false} {
		t.Run(fmt.Sprintf("acked=%v", acked), func(t *testing.T) {
			up, _ := publishes(4, 8)
			path := synth(t, pcapsynth.Options{}, func(w *pcapsynth.Writer) {
				c := w.NewConn(clientAddr, brokerAddr)
				c.Open(t0)
				c.Send(pcapsynth.ToServer, t0, pcapsynth.Connect(4, "gw1", 60, true, "", ""))
				c.Send(pcapsynth.ToClient, t0, pcapsynth.Connack(4, 0))
				ts := t0.Add(time.Second)
				for i, p := range up {
					if i == 3 {
						c.Skip(pcapsynth.ToServer, len(p)) // never captured
						if acked {
							c.Raw(pcapsynth.ToClient, ts, c.Seq(pcapsynth.ToClient), nil, pcapsynth.ACK)
						}
						continue
					}
					ts = ts.Add(2 * time.Second)
					c.Send(pcapsynth.ToServer, ts, p)
				}
				c.Close(ts.Add(10 * time.Second))
			})
			recs, res := bothPaths(t, path)
			if n := countType(recs, inspect.Publish); n != 7 {
				t.Errorf("%d PUBLISH decoded, want the 7 captured", n)
			}
			if res.Decode.Count != 0 {
				t.Errorf("a hole between packets is not a decode error: %+v", res.Decode)
			}
			if res.Input.Holes != 1 {
				t.Errorf("%d stream holes reported, want 1", res.Input.Holes)
			}
		})
	}
}

func TestStreamJoinedMidPacketResynchronises(t *testing.T) {
	up, down := publishes(5, 10)
	path := synth(t, pcapsynth.Options{}, func(w *pcapsynth.Writer) {
		c := w.NewConn(clientAddr, brokerAddr)
		// No handshake, no CONNECT: the capture starts inside publish 1.
		c.Raw(pcapsynth.ToServer, t0, c.Seq(pcapsynth.ToServer), up[0][7:], pcapsynth.PSH|pcapsynth.ACK)
		c.Skip(pcapsynth.ToServer, len(up[0])-7)
		for i, p := range up[1:] {
			c.Send(pcapsynth.ToServer, t0.Add(time.Duration(i)*time.Second), p)
			c.Send(pcapsynth.ToClient, t0.Add(time.Duration(i)*time.Second), down[i+1])
		}
	})
	recs, res := bothPaths(t, path)
	if n := countType(recs, inspect.Publish); n != 9 {
		t.Errorf("%d PUBLISH decoded, want 9", n)
	}
	c := res.Connections[0]
	if c.Version != "5" || c.VersionFrom != "inferred" || !c.MidSession || res.Decode.Count != 0 {
		t.Errorf("connection %+v decode %+v", c, res.Decode)
	}
}

func TestEveryLinkTypeAndFormat(t *testing.T) {
	up, down := publishes(4, 3)
	for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw, layers.LinkTypeLoop} {
		for _, ng := range []bool{false, true} {
			for _, v6 := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/ng=%v/v6=%v", lt, ng, v6), func(t *testing.T) {
					cl, br := clientAddr, brokerAddr
					if v6 {
						cl, br = netip.MustParseAddrPort("[fd00::20]:50000"), netip.MustParseAddrPort("[fd00::1]:1883")
					}
					path := synth(t, pcapsynth.Options{LinkType: lt, PcapNG: ng}, func(w *pcapsynth.Writer) {
						c := w.NewConn(cl, br)
						c.Open(t0)
						c.Send(pcapsynth.ToServer, t0, pcapsynth.Connect(4, "gw1", 60, true, "", ""))
						c.Send(pcapsynth.ToClient, t0, pcapsynth.Connack(4, 0))
						for i := range up {
							c.Send(pcapsynth.ToServer, t0, up[i])
							c.Send(pcapsynth.ToClient, t0, down[i])
						}
						c.Close(t0)
					})
					recs, res := decodeFile(t, path, inspect.Options{})
					if n := countType(recs, inspect.Publish); n != 3 || len(res.Connections) != 1 || res.Connections[0].Client != cl.String() {
						t.Errorf("%d PUBLISH, connections %+v", n, res.Connections)
					}
				})
			}
		}
	}
}
