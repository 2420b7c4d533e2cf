package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/pcapsynth"
	"github.com/ecdata/ectool/internal/testenv"
)

// windowRing writes a ring of three files, a minute each, as `ectool
// capture` names them: in each, a gateway connects, publishes at QoS 1 and
// pings every 10 s, then leaves; a TLS connection on 8883 runs across all
// three. Packets fall on whole 10 s marks, so windows can start and end
// exactly on one. The newest packet is at inspectT0 + 3 min.
func windowRing(t *testing.T) string {
	t.Helper()
	dir := testenv.PrivateDir(t)
	broker := netip.MustParseAddrPort("10.1.0.1:1883")
	tlsClient := netip.MustParseAddrPort("10.1.0.30:40000")
	tlsSeq := [2]uint32{7000, 9000}
	for i := 0; i < 3; i++ {
		start := inspectT0.Add(time.Duration(i) * time.Minute)
		path := writeCapture(t, fmt.Sprintf("ring_%05d.pcapng", i+1), pcapsynth.Options{PcapNG: true}, func(w *pcapsynth.Writer) {
			c := w.NewConn(netip.AddrPortFrom(netip.MustParseAddr("10.1.0.20"), uint16(50000+i)), broker)
			c.Open(start)
			c.Send(pcapsynth.ToServer, start, pcapsynth.Connect(5, fmt.Sprintf("gw-%d", i), 30, true, "gw", plantedPassword))
			c.Send(pcapsynth.ToClient, start, pcapsynth.Connack(5, 0))
			tls := w.NewConn(tlsClient, netip.MustParseAddrPort("10.1.0.1:8883"))
			for k := 1; k <= 5; k++ {
				ts := start.Add(time.Duration(k) * 10 * time.Second)
				c.Send(pcapsynth.ToServer, ts, pcapsynth.Publish(5, "ec-data/site1/meter1/telemetry", []byte(fmt.Sprint(k)), 1, uint16(k), false, false))
				c.Send(pcapsynth.ToClient, ts, pcapsynth.Ack(4, 5, uint16(k), 0))
				c.Send(pcapsynth.ToServer, ts, pcapsynth.Pingreq)
				c.Send(pcapsynth.ToClient, ts, pcapsynth.Pingresp)
				// One TLS application-data record each way, continuing the
				// connection's sequence numbers from file to file.
				for dir := range tlsSeq {
					rec := []byte{0x17, 0x03, 0x03, 0x00, 0x04, 1, 2, 3, byte(k)}
					tls.Raw(dir, ts, tlsSeq[dir], rec, pcapsynth.PSH|pcapsynth.ACK)
					tlsSeq[dir] += uint32(len(rec))
				}
			}
			end := start.Add(time.Minute)
			c.Send(pcapsynth.ToServer, end, pcapsynth.Disconnect)
			c.Close(end)
		})
		name := fmt.Sprintf("ring_%05d_%s.pcapng", i+1, start.Format("20060102T150405Z"))
		if err := os.Rename(path, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// inspectDoc is what the agreement test compares of an inspection.
type inspectDoc struct {
	Checks []struct {
		ID, Status string
	}
	Details struct {
		Capture struct {
			Packets         int  `json:"packets"`
			PacketsInWindow *int `json:"packets_in_window"`
			Window          *struct {
				From, To *time.Time
			}
		}
		Connections json.RawMessage
		Topics      json.RawMessage
	}
}

func inspectJSON(t *testing.T, args ...string) (inspectDoc, []string) {
	t.Helper()
	code, out, errOut := runInspect(t, append(args, "--messages", "-o", "json")...)
	if code != ExitOK && code != ExitProblem {
		t.Fatalf("capture inspect %v: exit %d: %s", args, code, errOut)
	}
	lines := testenv.Lines(out)
	var doc struct{ Report inspectDoc }
	if len(lines) == 0 || json.Unmarshal([]byte(lines[len(lines)-1]), &doc) != nil {
		t.Fatalf("capture inspect %v: no report line:\n%s", args, out)
	}
	return doc.Report, lines[:len(lines)-1]
}

// TestExportAndInspectAgreeOnAWindow cuts windows out of one ring with
// `capture export` and inspects the ring with the same --since/--until:
// both count durations back from the ring's newest packet and keep
// [since, until), so the inspection of the window equals the inspection
// of the exported file, packet for packet, message for message.
func TestExportAndInspectAgreeOnAWindow(t *testing.T) {
	ring := windowRing(t)
	abs := func(d time.Duration) string { return inspectT0.Add(d).Format(time.RFC3339) }
	for _, w := range [][]string{
		{"--since", "95s"},
		{"--since", "90s", "--until", "30s"}, // both ends on a packet: the first kept, the last not
		{"--since", abs(40 * time.Second), "--until", abs(130 * time.Second)},
		{"--since", abs(15 * time.Second), "--until", "10s"},
	} {
		t.Run(strings.Join(w, " "), func(t *testing.T) {
			file := filepath.Join(testenv.PrivateDir(t), "window.pcapng")
			code, out, errOut := runMain(t, append([]string{"capture", "export", "--dir", ring, "-w", file, "-o", "json"}, w...)...)
			if code != ExitOK {
				t.Fatalf("export: exit %d: %s", code, errOut)
			}
			var exp struct {
				Details struct {
					Export struct {
						Packets  int
						From, To *time.Time
					}
				}
			}
			if err := json.Unmarshal([]byte(out), &exp); err != nil {
				t.Fatalf("export JSON: %v\n%s", err, out)
			}
			e := exp.Details.Export
			windowed, wmsgs := inspectJSON(t, append([]string{ring}, w...)...)
			whole, fmsgs := inspectJSON(t, file)
			c := windowed.Details.Capture
			switch {
			case e.Packets == 0 || c.PacketsInWindow == nil || *c.PacketsInWindow != e.Packets || whole.Details.Capture.Packets != e.Packets:
				t.Errorf("packets: export %d, inspect of the ring's window %v, inspect of the export %d", e.Packets, c.PacketsInWindow, whole.Details.Capture.Packets)
			case c.Window == nil || !sameTime(c.Window.From, e.From) || !sameTime(c.Window.To, e.To):
				t.Errorf("window: inspect %+v, export from %v to %v", c.Window, e.From, e.To)
			}
			if !reflect.DeepEqual(wmsgs, fmsgs) || len(wmsgs) == 0 {
				t.Errorf("messages differ: %d in the ring's window, %d in the export\nwindow: %q\nexport: %q", len(wmsgs), len(fmsgs), wmsgs, fmsgs)
			}
			if !reflect.DeepEqual(windowed.Checks, whole.Checks) || string(windowed.Details.Connections) != string(whole.Details.Connections) ||
				string(windowed.Details.Topics) != string(whole.Details.Topics) {
				t.Errorf("diagnoses differ:\nwindow: %+v\n%s\nexport: %+v\n%s", windowed.Checks, windowed.Details.Connections, whole.Checks, whole.Details.Connections)
			}
		})
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
