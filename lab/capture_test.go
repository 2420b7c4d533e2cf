package lab

import (
	"net/url"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/capture"
	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/testenv"
)

// The lab records its own broker: tshark's MQTT counts on the ring equal a
// scripted exchange's, TLS is recorded as TLS records, the files name the
// listeners, and the ring has its lock and status like `ectool capture`'s.
func TestLabRecordsItsBrokerForTshark(t *testing.T) {
	tshark := testenv.Require(t, "tshark")
	s := startLab(t, Config{Dir: t.TempDir(), Gateway: GatewayConfig{Disabled: true}, Bus: BusConfig{Disabled: true}})
	ep := s.Endpoints.Capture
	if ep == nil || ep.Error != "" || len(ep.Listeners) != 4 {
		t.Fatalf("capture endpoints: %+v", ep)
	}
	admin := s.Endpoints.Broker.User("admin")
	const n = 5
	for i := 0; i < n; i++ {
		out, code := runPeer(t, "mosquitto_pub", subArgs(t, s, "admin", "-t", "ectool/t", "-m", strings.Repeat("x", 3000), "-q", "1")...)
		if code != 0 {
			t.Fatalf("mosquitto_pub: %s", out)
		}
	}
	tlsURL, _ := url.Parse(s.Endpoints.Broker.MQTTS)
	if out, code := runPeer(t, "mosquitto_pub", "-h", tlsURL.Hostname(), "-p", tlsURL.Port(), "--cafile", s.Endpoints.Broker.CAFile,
		"-u", "admin", "-P", admin.Password, "-t", "ectool/t", "-m", "tls", "-q", "1"); code != 0 {
		t.Fatalf("mosquitto_pub over TLS: %s", out)
	}
	// While the lab runs, the ring is live.
	r, err := capture.OpenRing(ep.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range capture.CheckRing(r, time.Now()).Checks {
		if c.ID == capture.CheckRunning || c.ID == capture.CheckFresh {
			if c.Status != report.OK {
				t.Errorf("%s: %s %v", c.ID, c.Status, c.Evidence)
			}
		}
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	r, _ = capture.OpenRing(ep.Dir)
	files := r.Summarize()
	if len(files) == 0 || len(files[0].Listeners) != 4 {
		t.Fatalf("ring files: %+v", files)
	}
	plain, _ := url.Parse(s.Endpoints.Broker.MQTT)
	counts := map[string]int{}
	for _, f := range r.Files {
		out, err := exec.Command(tshark, "-r", f.Path, "-d", "tcp.port=="+plain.Port()+",mqtt", "-Y", "mqtt",
			"-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-e", "mqtt.msgtype").Output()
		if err != nil {
			t.Fatalf("tshark %s: %v", f.Name, err)
		}
		for _, l := range testenv.Lines(string(out)) {
			for _, typ := range strings.Split(l, ",") {
				counts[typ]++
			}
		}
	}
	want := map[string]int{"1": n, "2": n, "3": n, "4": n, "14": n} // CONNECT CONNACK PUBLISH PUBACK DISCONNECT
	if !equalCounts(counts, want) {
		t.Fatalf("tshark MQTT message types %v, want %v", counts, want)
	}
	hellos := 0
	for _, f := range r.Files {
		out, _ := exec.Command(tshark, "-r", f.Path, "-d", "tcp.port=="+tlsURL.Port()+",tls", "-Y", "tls.handshake.type==1", "-T", "fields", "-e", "frame.number").Output()
		hellos += len(testenv.Lines(string(out)))
	}
	if hellos != 1 {
		t.Fatalf("%d TLS ClientHellos recorded, want 1", hellos)
	}
	// Segments stay within 1448 bytes, and no TCP problem shows.
	for _, f := range r.Files {
		out, _ := exec.Command(tshark, "-r", f.Path, "-Y", "tcp.len > 1448 or tcp.analysis.flags", "-T", "fields", "-e", "frame.number").Output()
		if lines := testenv.Lines(string(out)); len(lines) > 0 {
			t.Fatalf("%s: %d segments over 1448 bytes or with TCP analysis flags (frames %v)", f.Name, len(lines), lines[:min(5, len(lines))])
		}
	}
}

func equalCounts(a, b map[string]int) bool {
	keys := func(m map[string]int) []string {
		var k []string
		for x := range m {
			k = append(k, x)
		}
		sort.Strings(k)
		return k
	}
	if strings.Join(keys(a), ",") != strings.Join(keys(b), ",") {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestLabWithoutCaptureRecordsNothing(t *testing.T) {
	dir := t.TempDir()
	s := startLab(t, Config{Dir: dir, Capture: CaptureConfig{Disabled: true}, Gateway: GatewayConfig{Disabled: true}, Bus: BusConfig{Disabled: true}})
	if s.Endpoints.Capture != nil {
		t.Fatalf("capture endpoints with --no-capture: %+v", s.Endpoints.Capture)
	}
	if _, err := capture.ListRing(dir+"/capture", ""); err == nil {
		t.Fatal("a capture directory exists with --no-capture")
	}
}
