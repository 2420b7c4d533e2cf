package inspect_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

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

func TestRingDirectoryIsReadInSequenceOrderNotByClock(t *testing.T) {
	dir := t.TempDir()
	// seq 2 holds the later packets but an earlier clock in its name (the
	// clock stepped back); seq 10 sorts after 9 numerically, not as text.
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
		src := synth(t, pcapsynth.Options{PcapNG: true}, func(w *pcapsynth.Writer) { pingSession(w, uint16(50000+i), f.start, f.id, 1) })
		data, _ := os.ReadFile(src)
		os.WriteFile(filepath.Join(dir, f.name), data, 0o600)
	}
	os.WriteFile(filepath.Join(dir, "status.json"), []byte("{}"), 0o600)
	got, err := inspect.ListDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, filepath.Base(p))
	}
	if want := []string{files[0].name, files[1].name, files[2].name}; !reflect.DeepEqual(names, want) {
		t.Errorf("order %v, want %v", names, want)
	}
	src, err := inspect.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := inspect.Inspect(context.Background(), src, inspect.Options{})
	if err != nil || len(res.Connections) != 3 {
		t.Fatalf("%v: %d connections", err, len(res.Connections))
	}
	// A lab directory is read through its capture subdirectory.
	lab := t.TempDir()
	os.Rename(dir, filepath.Join(lab, "capture"))
	if got, err := inspect.ListDir(lab); err != nil || len(got) != 3 {
		t.Errorf("lab dir: %v %v", got, err)
	}
}

func TestSeveralFilesMergeByTime(t *testing.T) {
	a := synth(t, pcapsynth.Options{}, func(w *pcapsynth.Writer) { pingSession(w, 50000, t0, "a", 4) })
	b := synth(t, pcapsynth.Options{PcapNG: true}, func(w *pcapsynth.Writer) {
		pingSession(w, 50001, t0.Add(1500*time.Millisecond), "b", 4)
	})
	sa, _ := inspect.OpenFile(a)
	sb, _ := inspect.OpenFile(b)
	var order []string
	_, err := inspect.Inspect(context.Background(), inspect.Merge(sa, sb), inspect.Options{OnMessage: func(m *inspect.Message) error {
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

func TestNotACaptureIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.pcap")
	os.WriteFile(path, []byte("GET / HTTP/1.1\r\n"), 0o600)
	if _, err := inspect.OpenFile(path); !errors.Is(err, inspect.ErrNotCapture) {
		t.Errorf("text file: %v, want ErrNotCapture", err)
	}
	os.WriteFile(path, nil, 0o600)
	if _, err := inspect.OpenFile(path); !errors.Is(err, inspect.ErrNotCapture) {
		t.Errorf("empty file: %v, want ErrNotCapture", err)
	}
}

func TestListenerCommentGivesPortProtocols(t *testing.T) {
	for _, tc := range []struct {
		comment string
		want    map[uint16]inspect.Protocol
	}{
		{"ectool lab listeners: mqtt=41883 mqtts=41884 ws=41885 mtls=41886",
			map[uint16]inspect.Protocol{41883: "mqtt", 41884: "tls", 41885: "ws", 41886: "tls"}},
		{"broker mqtt://127.0.0.1:1884, wss://127.0.0.1:8443/mqtt", map[uint16]inspect.Protocol{1884: "mqtt", 8443: "tls"}},
		{"recorded by ectool capture on eth0", nil},
	} {
		if got := inspect.ParsePortProtocols([]string{tc.comment}); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %v, want %v", tc.comment, got, tc.want)
		}
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
