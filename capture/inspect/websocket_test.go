package inspect_test

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/capture/inspect"
	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/pcapsynth"
)

// wsFrame is one WebSocket frame; the client masks its frames.
func wsFrame(fin bool, opcode byte, payload []byte, mask bool) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	m := byte(0)
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		f = append(f, m|byte(n))
	case n < 65536:
		f = append(f, m|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, m|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	if !mask {
		return append(f, payload...)
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	f = append(f, key[:]...)
	for i, c := range payload {
		f = append(f, c^key[i%4])
	}
	return f
}

const upgradeRequest = "GET /mqtt?token=Pl4nted HTTP/1.1\r\nHost: broker\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Version: 13\r\n\r\n"

func TestMQTTOverWebSocketFragmentedMaskedAndSplit(t *testing.T) {
	broker := netip.MustParseAddrPort("192.168.1.1:9001")
	path := synth(t, pcapsynth.Options{}, func(w *pcapsynth.Writer) {
		c := w.NewConn(clientAddr, broker)
		c.MSS = 11 // frames and packets split over segments
		c.Open(t0)
		c.Send(pcapsynth.ToServer, t0, []byte(upgradeRequest))
		c.Send(pcapsynth.ToClient, t0, []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"))
		connect := pcapsynth.Connect(4, "ws-gw", 60, true, "", "")
		// The CONNECT in two fragments with a ping between them.
		c.Send(pcapsynth.ToServer, t0, wsFrame(false, 2, connect[:5], true))
		c.Send(pcapsynth.ToServer, t0, wsFrame(true, 9, []byte("hb"), true))
		c.Send(pcapsynth.ToServer, t0, wsFrame(true, 0, connect[5:], true))
		c.Send(pcapsynth.ToClient, t0, wsFrame(true, 2, pcapsynth.Connack(4, 0), false))
		// Two publishes in one frame, their acknowledgements in another.
		two := append(pcapsynth.Publish(4, "ws/a", []byte("1"), 1, 1, false, false), pcapsynth.Publish(4, "ws/b", []byte("2"), 1, 2, false, false)...)
		c.Send(pcapsynth.ToServer, t0.Add(time.Second), wsFrame(true, 2, two, true))
		c.Send(pcapsynth.ToClient, t0.Add(time.Second), wsFrame(true, 2, append(pcapsynth.Ack(4, 4, 1, 0), pcapsynth.Ack(4, 4, 2, 0)...), false))
		c.Send(pcapsynth.ToServer, t0.Add(2*time.Second), wsFrame(true, 8, []byte{0x03, 0xe8}, true))
		c.Close(t0.Add(2 * time.Second))

		// An upgrade the broker refuses.
		r := w.NewConn(netip.MustParseAddrPort("192.168.1.21:50001"), broker)
		r.Open(t0)
		r.Send(pcapsynth.ToServer, t0, []byte(upgradeRequest))
		r.Send(pcapsynth.ToClient, t0, []byte("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"))
		r.Close(t0)
	})
	recs, res := bothPaths(t, path)
	if n := countType(recs, inspect.Publish); n != 2 {
		t.Errorf("%d PUBLISH over WebSocket, want 2", n)
	}
	if n := countType(recs, inspect.Connect); n != 1 || recs[0].ClientID != "ws-gw" {
		t.Errorf("CONNECT: %d, %+v", n, recs)
	}
	if len(res.Connections) != 2 {
		t.Fatalf("%d connections", len(res.Connections))
	}
	c := res.Connections[0]
	if c.Protocol != "ws" || c.WebSocket == nil || c.WebSocket.Path != "/mqtt" || c.WebSocket.Status != 101 || c.WebSocket.Subprotocol != "mqtt" {
		t.Errorf("websocket %+v", c.WebSocket)
	}
	if c.End.ReasonCode == nil || *c.End.ReasonCode != 1000 || c.QoS.Completed != 2 {
		t.Errorf("end %+v qos %+v", c.End, c.QoS)
	}
	if strings.Contains(c.WebSocket.Path, "token") {
		t.Errorf("the query string (a token) was kept: %q", c.WebSocket.Path)
	}
	if res.LearnedPorts[9001] != inspect.ProtoWS {
		t.Errorf("learned ports %v: 9001 should be learned from the upgrade", res.LearnedPorts)
	}
	rep := report.New("capture inspect", path, nil)
	res.Report(rep, nil)
	rep.Finish()
	if rep.FirstFailure == nil || rep.FirstFailure.ID != inspect.CheckConnect || !strings.Contains(res.Refused.First[0].What, "HTTP 401") {
		t.Errorf("first failure %+v refusals %+v", rep.FirstFailure, res.Refused)
	}
}

func TestWebSocketJoinedMidSessionOnAKnownPort(t *testing.T) {
	broker := netip.MustParseAddrPort("192.168.1.1:9001")
	path := synth(t, pcapsynth.Options{}, func(w *pcapsynth.Writer) {
		c := w.NewConn(clientAddr, broker)
		for i := uint16(1); i <= 3; i++ {
			ts := t0.Add(time.Duration(i) * time.Second)
			c.Send(pcapsynth.ToServer, ts, wsFrame(true, 2, pcapsynth.Publish(5, "ws/x", []byte("v"), 1, i, false, false), true))
			c.Send(pcapsynth.ToClient, ts, wsFrame(true, 2, pcapsynth.Ack(4, 5, i, 0), false))
		}
	})
	recs, res := bothPaths(t, path, inspect.Options{PortProtocols: map[uint16]inspect.Protocol{9001: inspect.ProtoWS}})
	if n := countType(recs, inspect.Publish); n != 3 || res.Connections[0].Protocol != "ws" || res.Connections[0].QoS.Completed != 3 {
		t.Errorf("%d PUBLISH, connection %+v", n, res.Connections[0])
	}
}
