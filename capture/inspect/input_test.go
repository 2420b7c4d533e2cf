package inspect_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ecdata/ectool/capture"
	"github.com/ecdata/ectool/capture/inspect"
	"github.com/ecdata/ectool/internal/pcapsynth"
)

// pingSession writes one client's session: CONNECT, n PINGREQ a second
// apart, from ts.
func pingSession(w *pcapsynth.Writer, port uint16, ts time.Time, id string, n int) {
	c := session(w, port, ts, 4, id, 60)
	for i := 1; i <= n; i++ {
		c.Send(pcapsynth.ToServer, ts.Add(time.Duration(i)*time.Second), pcapsynth.Pingreq)
	}
}

func TestTruncatedFinalRecordIsReportedAndSkipped(t *testing.T) {
	for _, ng := range []bool{false, true} {
		t.Run(fmt.Sprintf("pcapng=%v", ng), func(t *testing.T) {
			path := synth(t, pcapsynth.Options{PcapNG: ng}, func(w *pcapsynth.Writer) { pingSession(w, 50000, t0, "gw", 5) })
			st, _ := os.Stat(path)
			if err := os.Truncate(path, st.Size()-7); err != nil {
				t.Fatal(err)
			}
			recs, res := decodeFile(t, path, inspect.Options{})
			if len(res.Input.Problems) != 1 || !res.Input.Problems[0].Truncated {
				t.Fatalf("input problems %+v, want one truncated record", res.Input.Problems)
			}
			// The torn record is the fifth PINGREQ.
			if countType(recs, inspect.Pingreq) != 4 {
				t.Errorf("%d PINGREQ before the torn record, want 4", countType(recs, inspect.Pingreq))
			}
		})
	}
}

// inspectRing inspects a directory the way `capture inspect DIR` does:
// through the capture package's ring reader.
func inspectRing(t *testing.T, dir string) *inspect.Result {
	t.Helper()
	r, err := capture.OpenRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := capture.NewMerger()
	m.AddRing(r)
	defer m.Close()
	res, err := inspect.Inspect(context.Background(), m, inspect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestRingDirectoryIsReadThroughTheCaptureReader: a ring directory (a
// clock stepped back between its files, the last one torn), the same ring
// inside a lab directory, and a directory of captures no ring writer named
// are all read by package capture's reader; the torn record is reported
// once, as capture reports it.
func TestRingDirectoryIsReadThroughTheCaptureReader(t *testing.T) {
	dir := t.TempDir()
	files := []struct {
		name  string
		start time.Time
		id    string
	}{
		{"ring_00009_20261201T030000Z.pcapng", t0, "first"},
		{"ring_00010_20261201T020000Z.pcapng", t0.Add(time.Minute), "second"},
		{"ring_00011_20261201T010000Z.pcapng", t0.Add(2 * time.Minute), "third"},
	}
	for i, f := range files {
		src := synth(t, pcapsynth.Options{PcapNG: true}, func(w *pcapsynth.Writer) { pingSession(w, uint16(50000+i), f.start, f.id, 3) })
		data, _ := os.ReadFile(src)
		if i == len(files)-1 {
			data = data[:len(data)-7] // a writer killed mid-record
		}
		os.WriteFile(filepath.Join(dir, f.name), data, 0o600)
	}
	os.WriteFile(filepath.Join(dir, "status.json"), []byte("{}"), 0o600)
	check := func(t *testing.T, res *inspect.Result) {
		t.Helper()
		if len(res.Connections) != 3 {
			t.Errorf("%d connections, want 3", len(res.Connections))
		}
		if len(res.Input.Problems) != 1 || !res.Input.Problems[0].Truncated || filepath.Base(res.Input.Problems[0].Input) != files[2].name ||
			res.Input.Problems[0].Offset == 0 {
			t.Errorf("input problems %+v, want the torn record of %s, once", res.Input.Problems, files[2].name)
		}
	}
	t.Run("ring", func(t *testing.T) { check(t, inspectRing(t, dir)) })
	lab := t.TempDir()
	if err := os.Rename(dir, filepath.Join(lab, "capture")); err != nil {
		t.Fatal(err)
	}
	t.Run("lab directory", func(t *testing.T) { check(t, inspectRing(t, lab)) })
	// Captures copied off a gateway under names no ring writer gives.
	loose := t.TempDir()
	for i, name := range []string{"night.pcap", "morning.pcapng", "notes.txt"} {
		src := synth(t, pcapsynth.Options{PcapNG: i == 1}, func(w *pcapsynth.Writer) { pingSession(w, uint16(50010+i), t0, name, 2) })
		data, _ := os.ReadFile(src)
		os.WriteFile(filepath.Join(loose, name), data, 0o600)
	}
	if res := inspectRing(t, loose); len(res.Connections) != 2 || len(res.Input.Problems) != 0 {
		t.Errorf("a directory of captures: %d connections, problems %+v; want 2 and none", len(res.Connections), res.Input.Problems)
	}
}

func TestSeveralFilesMergeByTime(t *testing.T) {
	a := synth(t, pcapsynth.Options{}, func(w *pcapsynth.Writer) { pingSession(w, 50000, t0, "a", 4) })
	b := synth(t, pcapsynth.Options{PcapNG: true}, func(w *pcapsynth.Writer) {
		pingSession(w, 50001, t0.Add(1500*time.Millisecond), "b", 4)
	})
	m, err := capture.MergeFiles([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var order []string
	_, err = inspect.Inspect(context.Background(), m, inspect.Options{OnMessage: func(m *inspect.Message) error {
		if m.Type == inspect.Pingreq {
			order = append(order, m.ClientID)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "a", "b", "a", "b", "a", "b", "b"}; !reflect.DeepEqual(order, want) {
		t.Errorf("PINGREQ order %v, want %v", order, want)
	}
}

// TestGzipAndStandardInputAreRead: a gzip-compressed capture, and one
// read from a stream (standard input), decode like the file itself.
func TestGzipAndStandardInputAreRead(t *testing.T) {
	path := synth(t, pcapsynth.Options{PcapNG: true}, func(w *pcapsynth.Writer) { pingSession(w, 50000, t0, "gz", 3) })
	data, _ := os.ReadFile(path)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	gzPath := filepath.Join(t.TempDir(), "night.pcapng.gz")
	os.WriteFile(gzPath, gz.Bytes(), 0o600)
	_, want := decodeFile(t, path, inspect.Options{})
	_, got := decodeFile(t, gzPath, inspect.Options{})
	rd, err := capture.NewReader(bytes.NewReader(gz.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	m := capture.NewMerger()
	m.AddReader("standard input", rd)
	stdin, err := inspect.Inspect(context.Background(), m, inspect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*inspect.Result{"gzip file": got, "stream": stdin} {
		if r.Input.Packets != want.Input.Packets || r.Messages != want.Messages || len(r.Connections) != 1 {
			t.Errorf("%s: %d packets, %d messages; the file: %d and %d", name, r.Input.Packets, r.Messages, want.Input.Packets, want.Messages)
		}
	}
	if !reflect.DeepEqual(stdin.Inputs, []string{"standard input"}) {
		t.Errorf("inputs %v", stdin.Inputs)
	}
}

func TestNotACaptureIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.pcap")
	os.WriteFile(path, []byte("GET / HTTP/1.1\r\n"), 0o600)
	if _, err := capture.MergeFiles([]string{path}); !errors.Is(err, capture.ErrNotCapture) {
		t.Errorf("text file: %v, want ErrNotCapture", err)
	}
	os.WriteFile(path, nil, 0o600)
	if _, err := capture.MergeFiles([]string{path}); !errors.Is(err, capture.ErrNotCapture) {
		t.Errorf("empty file: %v, want ErrNotCapture", err)
	}
}

// TestListenerLinesGivePortProtocols reads the lab's own listener lines
// (capture.FormatListeners, the format capture/doc.go documents) through
// capture.ParseListeners.
func TestListenerLinesGivePortProtocols(t *testing.T) {
	ls := []capture.Listener{
		{Name: "mqtt", URL: "mqtt://127.0.0.1:41883", Addr: netip.MustParseAddrPort("127.0.0.1:41883"), Protocol: capture.ProtoMQTT},
		{Name: "mqtts", URL: "mqtts://127.0.0.1:41884", Addr: netip.MustParseAddrPort("127.0.0.1:41884"), Protocol: capture.ProtoMQTTTLS},
		{Name: "ws", URL: "ws://127.0.0.1:41885/mqtt", Addr: netip.MustParseAddrPort("127.0.0.1:41885"), Protocol: capture.ProtoMQTTWS},
		{Name: "mtls", URL: "mqtts://127.0.0.1:41886", Addr: netip.MustParseAddrPort("127.0.0.1:41886"), Protocol: capture.ProtoMQTTTLS},
	}
	comment := "ectool lab: the broker's own traffic, synthesised IP/TCP\n" + capture.FormatListeners(ls) +
		"ectool-listener name=coap url=coap://127.0.0.1:5683 protocol=coap\n"
	want := map[uint16]inspect.Protocol{41883: "mqtt", 41884: "tls", 41885: "ws", 41886: "tls"}
	if got := inspect.PortProtocols(capture.ParseListeners(comment)); !reflect.DeepEqual(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
	if got := inspect.PortProtocols(capture.ParseListeners("recorded by ectool capture on eth0")); got != nil {
		t.Errorf("a comment without listeners: %v", got)
	}
}

func TestTopicFilterMatching(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/+/c", "a/b/c", true}, {"a/+/c", "a/b/d", false}, {"a/#", "a", true}, {"a/#", "a/b/c", true},
		{"#", "$SYS/x", false}, {"+/x", "$SYS/x", false}, {"$SYS/#", "$SYS/x", true}, {"a/b", "a/b/c", false},
		{"+", "a", true}, {"+", "a/b", false}, {"a/+", "a/", true},
	} {
		if got := inspect.TopicMatches(tc.filter, tc.topic); got != tc.want {
			t.Errorf("TopicMatches(%q, %q) = %v", tc.filter, tc.topic, got)
		}
	}
}

func TestClientAndTopicFiltersNarrowTheDiagnosis(t *testing.T) {
	path := synth(t, pcapsynth.Options{}, func(w *pcapsynth.Writer) {
		for i, id := range []string{"gw-a", "gw-b"} {
			c := session(w, uint16(50000+i), t0, 4, id, 60)
			c.Send(pcapsynth.ToServer, t0, pcapsynth.Publish(4, "ec/"+id+"/x", []byte("1"), 1, 1, false, false))
			c.Send(pcapsynth.ToClient, t0, pcapsynth.Ack(4, 4, 1, 0))
			c.Send(pcapsynth.ToServer, t0, pcapsynth.Publish(4, "other/"+id, []byte("1"), 1, 2, false, false))
			c.Send(pcapsynth.ToClient, t0, pcapsynth.Ack(4, 4, 2, 0))
		}
	})
	recs, res := decodeFile(t, path, inspect.Options{Clients: []string{"gw-b"}, Topics: []string{"ec/#"}})
	if len(res.Connections) != 1 || *res.Connections[0].ClientID != "gw-b" || len(res.Topics) != 1 || res.Topics[0].Topic != "ec/gw-b/x" {
		t.Errorf("connections %d, topics %+v", len(res.Connections), res.Topics)
	}
	var types []string
	for _, r := range recs {
		types = append(types, r.Type.String())
	}
	if !reflect.DeepEqual(types, []string{"publish", "puback"}) {
		t.Errorf("messages %v, want gw-b's publish on ec/ and its puback", types)
	}
}
