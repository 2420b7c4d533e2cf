package inspect_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/capture/inspect"
	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/pcapsynth"
)

// checkStatus inspects a synthesised capture and returns each check's
// status and the result.
func checkStatus(t *testing.T, fn func(w *pcapsynth.Writer)) (map[string]report.Status, *inspect.Result, *report.Report) {
	t.Helper()
	path := synth(t, pcapsynth.Options{}, fn)
	_, res := decodeFile(t, path, inspect.Options{})
	rep := report.New("capture inspect", path, nil)
	res.Report(rep, []uint16{1883})
	rep.Finish()
	st := map[string]report.Status{}
	for _, c := range rep.Checks {
		st[c.ID] = c.Status
	}
	return st, res, rep
}

func session(w *pcapsynth.Writer, port uint16, ts time.Time, level byte, id string, keepAlive uint16) *pcapsynth.Conn {
	c := w.NewConn(netip.AddrPortFrom(clientAddr.Addr(), port), brokerAddr)
	c.Open(ts)
	c.Send(pcapsynth.ToServer, ts, pcapsynth.Connect(level, id, keepAlive, true, "", ""))
	c.Send(pcapsynth.ToClient, ts, pcapsynth.Connack(level, 0))
	return c
}

func wantStatus(t *testing.T, st map[string]report.Status, want map[string]report.Status) {
	t.Helper()
	for id, s := range want {
		if st[id] != s {
			t.Errorf("%s is %s, want %s", id, st[id], s)
		}
	}
}

func TestFiveConnectsWithinAMinuteFailReconnects(t *testing.T) {
	st, res, _ := checkStatus(t, func(w *pcapsynth.Writer) {
		for i := 0; i < 6; i++ {
			ts := t0.Add(time.Duration(i) * 10 * time.Second)
			c := session(w, uint16(50000+i), ts, 4, "gw-flappy", 60)
			c.Reset(pcapsynth.ToServer, ts.Add(time.Second))
		}
		// Four within a minute is not yet a storm.
		for i := 0; i < 4; i++ {
			ts := t0.Add(time.Duration(i) * 15 * time.Second)
			session(w, uint16(51000+i), ts, 4, "gw-ok", 60).Close(ts.Add(time.Second))
		}
	})
	wantStatus(t, st, map[string]report.Status{inspect.CheckReconnects: report.Failed})
	if res.Reconnects.Count != 1 || res.Reconnects.First[0].ClientID != "gw-flappy" {
		t.Errorf("reconnects %+v", res.Reconnects)
	}
}

func TestSilenceBeyondKeepAliveWarnsAndBrokerCloseIsKeepAliveExpiry(t *testing.T) {
	st, res, _ := checkStatus(t, func(w *pcapsynth.Writer) {
		c := session(w, 50000, t0, 4, "gw-quiet", 10)
		c.Send(pcapsynth.ToServer, t0.Add(5*time.Second), pcapsynth.Pingreq)
		c.Send(pcapsynth.ToClient, t0.Add(5*time.Second), pcapsynth.Pingresp)
		// Silent 16 s > 1.5 × 10 s: the broker closes.
		c.Raw(pcapsynth.ToClient, t0.Add(21*time.Second), c.Seq(pcapsynth.ToClient), nil, pcapsynth.FIN|pcapsynth.ACK)
		ok := session(w, 50001, t0, 4, "gw-chatty", 10)
		for i := 1; i <= 3; i++ {
			ok.Send(pcapsynth.ToServer, t0.Add(time.Duration(i)*10*time.Second), pcapsynth.Pingreq)
		}
		ok.Close(t0.Add(31 * time.Second))
	})
	wantStatus(t, st, map[string]report.Status{inspect.CheckKeepAlive: report.Warning})
	if res.KeepAlive.Count != 1 || res.KeepAlive.First[0].ClientID != "gw-quiet" {
		t.Errorf("keepalive findings %+v", res.KeepAlive)
	}
	for _, c := range res.Connections {
		if *c.ClientID == "gw-quiet" && (c.End.How != "keepalive_expiry" || c.End.By != "broker") {
			t.Errorf("gw-quiet ended %+v, want keepalive_expiry by broker", c.End)
		}
	}
}

// connack5 is an MQTT 5 CONNACK announcing a maximum packet size.
func connack5MaxPacket(size uint32) []byte {
	props := append([]byte{0x27}, binary.BigEndian.AppendUint32(nil, size)...)
	return pcapsynth.Packet(0x20, append([]byte{0, 0, byte(len(props))}, props...))
}

func TestPacketOverTheBrokersMaximumFailsSize(t *testing.T) {
	st, res, _ := checkStatus(t, func(w *pcapsynth.Writer) {
		c := w.NewConn(clientAddr, brokerAddr)
		c.Open(t0)
		c.Send(pcapsynth.ToServer, t0, pcapsynth.Connect(5, "gw-big", 60, true, "", ""))
		c.Send(pcapsynth.ToClient, t0, connack5MaxPacket(100))
		c.Send(pcapsynth.ToServer, t0, pcapsynth.Publish(5, "big", make([]byte, 200), 0, 0, false, false))
		c.Send(pcapsynth.ToServer, t0, pcapsynth.Publish(5, "small", make([]byte, 20), 0, 0, false, false))
		c.Close(t0)
	})
	wantStatus(t, st, map[string]report.Status{inspect.CheckSize: report.Failed})
	if res.Size.Count != 1 || res.Size.First[0].Topic != "big" {
		t.Errorf("size findings %+v", res.Size)
	}
}

func TestRefusedFilterWarnsSubscribe(t *testing.T) {
	st, res, _ := checkStatus(t, func(w *pcapsynth.Writer) {
		c := session(w, 50000, t0, 4, "dash", 60)
		c.Send(pcapsynth.ToServer, t0, pcapsynth.Subscribe(4, 1, "secret/#", 1))
		c.Send(pcapsynth.ToClient, t0, pcapsynth.Suback(4, 1, 0x80))
		c.Send(pcapsynth.ToServer, t0, pcapsynth.Subscribe(4, 2, "open/#", 1))
		c.Send(pcapsynth.ToClient, t0, pcapsynth.Suback(4, 2, 1))
		c.Close(t0)
	})
	wantStatus(t, st, map[string]report.Status{inspect.CheckSubscribe: report.Warning})
	if res.Subscribe.Count != 1 || res.Subscribe.First[0].Topic != "secret/#" {
		t.Errorf("subscribe findings %+v", res.Subscribe)
	}
}

func TestQoSFlowsLostOpenAndResumed(t *testing.T) {
	t.Run("lost with a long tail fails, a short tail warns", func(t *testing.T) {
		st, res, _ := checkStatus(t, func(w *pcapsynth.Writer) {
			c := session(w, 50000, t0, 4, "gw-1", 60)
			c.Send(pcapsynth.ToServer, t0, pcapsynth.Publish(4, "a", []byte("1"), 1, 1, false, false))
			c.Send(pcapsynth.ToServer, t0.Add(58*time.Second), pcapsynth.Publish(4, "a", []byte("2"), 1, 2, false, false))
			c.Send(pcapsynth.ToServer, t0.Add(59*time.Second), pcapsynth.Pingreq)
			c.Send(pcapsynth.ToClient, t0.Add(60*time.Second), pcapsynth.Pingresp)
		})
		wantStatus(t, st, map[string]report.Status{inspect.CheckQoS: report.Failed})
		if res.QoS.Count != 1 || res.QoS.First[0].PacketID != 1 || res.QoSOpen.Count != 1 {
			t.Errorf("lost %+v open %+v", res.QoS, res.QoSOpen)
		}
	})
	t.Run("a resumed session acknowledges the resent publish", func(t *testing.T) {
		st, res, _ := checkStatus(t, func(w *pcapsynth.Writer) {
			c := session(w, 50000, t0, 4, "gw-1", 60)
			c.Send(pcapsynth.ToServer, t0, pcapsynth.Publish(4, "a", []byte("1"), 1, 7, false, false))
			c.Reset(pcapsynth.ToServer, t0.Add(time.Second))
			ts := t0.Add(30 * time.Second)
			n := w.NewConn(netip.AddrPortFrom(clientAddr.Addr(), 50001), brokerAddr)
			n.Open(ts)
			n.Send(pcapsynth.ToServer, ts, pcapsynth.Connect(4, "gw-1", 60, false, "", ""))
			n.Send(pcapsynth.ToClient, ts, pcapsynth.Packet(0x20, []byte{1, 0}))
			n.Send(pcapsynth.ToServer, ts, pcapsynth.Publish(4, "a", []byte("1"), 1, 7, false, true))
			n.Send(pcapsynth.ToClient, ts, pcapsynth.Ack(4, 4, 7, 0))
			n.Close(ts.Add(60 * time.Second))
		})
		wantStatus(t, st, map[string]report.Status{inspect.CheckQoS: report.OK})
		if res.QoS.Count != 0 || res.Connections[1].QoS.Completed != 1 || res.Connections[1].QoS.Dup != 1 {
			t.Errorf("qos %+v; second connection %+v", res.QoS, res.Connections[1].QoS)
		}
	})
	t.Run("a refused publish fails", func(t *testing.T) {
		st, res, _ := checkStatus(t, func(w *pcapsynth.Writer) {
			c := session(w, 50000, t0, 5, "gw-1", 60)
			c.Send(pcapsynth.ToServer, t0, pcapsynth.Publish(5, "denied/x", []byte("1"), 1, 1, false, false))
			c.Send(pcapsynth.ToClient, t0, pcapsynth.Ack(4, 5, 1, 0x87))
			c.Close(t0)
		})
		wantStatus(t, st, map[string]report.Status{inspect.CheckQoS: report.Failed})
		if res.QoS.Count != 1 || !strings.Contains(res.QoS.First[0].What, "not authorized") {
			t.Errorf("qos findings %+v", res.QoS)
		}
	})
}

func TestRetransmissionsAndZeroWindowsWarnTCP(t *testing.T) {
	st, res, _ := checkStatus(t, func(w *pcapsynth.Writer) {
		c := session(w, 50000, t0, 4, "gw-1", 60)
		p := pcapsynth.Publish(4, "a", []byte("1"), 0, 0, false, false)
		seq := c.Seq(pcapsynth.ToServer)
		c.Send(pcapsynth.ToServer, t0, p)
		c.Raw(pcapsynth.ToServer, t0.Add(200*time.Millisecond), seq, p, pcapsynth.PSH|pcapsynth.ACK)
		c.Window = 0
		c.Raw(pcapsynth.ToClient, t0.Add(300*time.Millisecond), c.Seq(pcapsynth.ToClient), nil, pcapsynth.ACK)
		c.Window = 65535
		c.Close(t0.Add(time.Second))
	})
	wantStatus(t, st, map[string]report.Status{inspect.CheckTCP: report.Warning})
	if res.TCP.Retransmissions != 1 || res.TCP.ZeroWindows != 1 {
		t.Errorf("tcp %+v", res.TCP)
	}
}

// TestMalformedPacketsFailDecode holds each malformed packet to the words
// that report it (a table in mochi's style: bytes beside what they must
// give).
func TestMalformedPacketsFailDecode(t *testing.T) {
	for _, tc := range []struct {
		name  string
		level byte
		pkt   []byte
		want  string
	}{
		{"reserved type 0", 4, []byte{0x00, 0x00}, "type 0 is reserved"},
		{"QoS 3", 4, []byte{0x36, 0x05, 0, 1, 'a', 0, 1}, "qos out of range"},
		{"QoS 1 without packet id", 4, pcapsynth.Publish(4, "a", nil, 1, 0, false, false), "without a packet identifier"},
		{"wildcard in a topic", 4, pcapsynth.Publish(4, "a/#", []byte("x"), 0, 0, false, false), "wildcards"},
		{"PUBACK flags", 4, []byte{0x42, 0x02, 0, 1}, "flags"},
		{"SUBSCRIBE bad filter", 4, pcapsynth.Subscribe(4, 1, "a/#/b", 0), "# must be"},
		{"SUBSCRIBE without filters", 4, []byte{0x82, 0x02, 0, 1}, "without a topic filter"},
		{"PUBACK of 3 bytes in 3.1.1", 4, []byte{0x40, 0x03, 0, 1, 0}, "exactly 2"},
		{"unknown PUBACK reason in 5", 5, []byte{0x40, 0x03, 0, 1, 0x42}, "not valid there"},
		{"MQTT 5 property not allowed in PUBLISH", 5, []byte{0x30, 0x06, 0, 1, 'a', 2, 0x11, 0}, "not valid for packet type"},
		{"AUTH in 3.1.1", 4, []byte{0xf0, 0x00}, "only in MQTT 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, res, _ := checkStatus(t, func(w *pcapsynth.Writer) {
				c := session(w, 50000, t0, tc.level, "gw-bad", 60)
				c.Send(pcapsynth.ToServer, t0, tc.pkt)
				c.Send(pcapsynth.ToServer, t0, pcapsynth.Pingreq)
				c.Close(t0)
			})
			wantStatus(t, st, map[string]report.Status{inspect.CheckDecode: report.Failed})
			if res.Decode.Count != 1 || !strings.Contains(res.Decode.First[0].What, tc.want) {
				t.Errorf("decode findings %+v, want one saying %q", res.Decode, tc.want)
			}
			if res.Connections[0].Types["pingreq"] != 1 {
				t.Errorf("the PINGREQ after the malformed packet was not decoded: %v", res.Connections[0].Types)
			}
		})
	}
}

func TestCleanSessionPassesEveryCheck(t *testing.T) {
	st, _, rep := checkStatus(t, func(w *pcapsynth.Writer) {
		for i, level := range []byte{3, 4, 5} {
			c := session(w, uint16(50000+i), t0, level, fmt.Sprintf("gw-%d", level), 60)
			for id := uint16(1); id <= 3; id++ {
				ts := t0.Add(time.Duration(id) * time.Second)
				c.Send(pcapsynth.ToServer, ts, pcapsynth.Publish(level, "ec/x", []byte("v"), 2, id, id == 1, false))
				c.Send(pcapsynth.ToClient, ts, pcapsynth.Ack(5, level, id, 0))
				c.Send(pcapsynth.ToServer, ts, pcapsynth.Ack(6, level, id, 0))
				c.Send(pcapsynth.ToClient, ts, pcapsynth.Ack(7, level, id, 0))
			}
			c.Send(pcapsynth.ToServer, t0.Add(5*time.Second), pcapsynth.Disconnect)
			c.Close(t0.Add(5 * time.Second))
		}
	})
	for id, s := range st {
		if s != report.OK {
			t.Errorf("%s is %s on a clean capture", id, s)
		}
	}
	if rep.ExitCode(false) != 0 {
		t.Errorf("exit %d", rep.ExitCode(false))
	}
}
