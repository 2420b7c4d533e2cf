package inspect_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/capture/inspect"
	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/pcapsynth"
	"github.com/ecdata/ectool/internal/testenv"
)

type labInfo struct {
	Broker struct {
		MQTT, MQTTS, WS, MTLS string
		CAFile                string `json:"ca_file"`
		ClientCert            string `json:"client_cert_file"`
		ClientKey             string `json:"client_key_file"`
		Users                 []struct {
			Username     string
			PasswordFile string `json:"password_file"`
		}
	}
	Capture struct {
		Dir string
	}
}

func portOf(t *testing.T, raw string) int {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(u.Port())
	return p
}

// TestLabRingDecodesWithoutPorts drives the lab's broker (its gateway
// publishing over plain MQTT 5, a subscriber over WebSocket, publishes over
// TLS and mutual TLS, a wrong password) and inspects the lab's own
// recording without --ports: the listener lines of its pcapng comment
// (capture.FormatListeners), carried into `capture export`'s file, say
// which ephemeral port carries what. tshark, told the ports, is the oracle.
func TestLabRingDecodesWithoutPorts(t *testing.T) {
	ectool := testenv.Binary(t)
	testenv.Require(t, "tshark")
	lab := start(t, ectool, "lab", "--duration", "2m", "--interval", "500ms", "-o", "json")
	lab.waitFor(`"schema":"ectool.lab/v1"`, 1, 60*time.Second)
	var info labInfo
	line := ""
	for _, l := range strings.Split(lab.output(), "\n") {
		if strings.Contains(l, `"schema":"ectool.lab/v1"`) {
			line = l
		}
	}
	if err := json.Unmarshal([]byte(line), &info); err != nil || info.Capture.Dir == "" {
		t.Fatalf("lab output (%v): want its endpoints with the capture ring\n%s", err, lab.output())
	}
	b := info.Broker
	tech := ""
	for _, u := range b.Users {
		if u.Username == "tech" {
			tech = u.PasswordFile
		}
	}
	ports := map[string]int{"mqtt": portOf(t, b.MQTT), "mqtts": portOf(t, b.MQTTS), "ws": portOf(t, b.WS), "mtls": portOf(t, b.MTLS)}

	sub := start(t, ectool, "mqtt", "sub", "-b", b.WS, "-u", "tech", "--password-file", tech, "-t", "ec-data/lab/#", "--count", "4", "--timeout", "30s")
	run(t, ectool, "mqtt", "pub", "-b", b.MQTTS, "--ca", b.CAFile, "-u", "tech", "--password-file", tech, "-t", "ectool/inspect/tls", "-m", "x", "-q", "1")
	run(t, ectool, "mqtt", "pub", "-b", b.MTLS, "--ca", b.CAFile, "--cert", b.ClientCert, "--key", b.ClientKey, "-u", "tech", "--password-file", tech,
		"-t", "ectool/inspect/mtls", "-m", "y", "-q", "1")
	wrong := filepath.Join(t.TempDir(), "wrong")
	writeFile(t, wrong, "not-the-password\n")
	if out, err := exec.Command(ectool, "mqtt", "pub", "-b", b.MQTT, "-u", "tech", "--password-file", wrong, "--client-id", "tour-wrong-pw",
		"-t", "ectool/x", "-m", "z").CombinedOutput(); err == nil {
		t.Fatalf("a wrong password was accepted: %s", out)
	}
	sub.wait(40 * time.Second)
	testenv.WaitRingFlushed(t, info.Capture.Dir, time.Now(), 30*time.Second)
	// One snapshot for both tools: the ring goes on recording the gateway.
	file := filepath.Join(t.TempDir(), "lab.pcapng")
	run(t, ectool, "capture", "export", "--dir", info.Capture.Dir, "-w", file)

	// No --ports: the default 1883 and 8883 are not the lab's.
	recs, res := decodeFile(t, file, inspect.Options{})
	byProto := map[string]int{}
	for _, c := range res.Connections {
		byProto[c.Protocol]++
		if c.Protocol == "tls" && (c.TLS == nil || !c.TLS.Complete) {
			t.Errorf("stream %d: TLS %+v, want a completed handshake", c.Stream, c.TLS)
		}
	}
	if byProto["mqtt"] < 2 || byProto["ws"] != 1 || byProto["tls"] != 2 {
		t.Errorf("connections per protocol %v, want the gateway and the wrong password on mqtt, one ws, two tls", byProto)
	}
	wsPublishes := 0
	for _, r := range recs {
		if r.Type == inspect.Publish && !r.ToBroker && r.Dst.Port() != 0 {
			for _, c := range res.Connections {
				if c.Stream == r.Stream && c.Protocol == "ws" {
					wsPublishes++
				}
			}
		}
	}
	if wsPublishes < 4 {
		t.Errorf("%d PUBLISH delivered over WebSocket decoded, want at least the 4 the subscriber counted", wsPublishes)
	}
	// tshark on the mqtt listener (the ring holds every CONNECT: the lab
	// records from before its broker starts), and on the ws listener
	// through tshark's own WebSocket unmasking (tshark 4.0 does not hand
	// WebSocket payloads to its MQTT dissector: the payloads it extracts are
	// replayed as plain TCP for it).
	onPort := func(port int) []record {
		var out []record
		for _, r := range recs {
			if int(r.Src.Port()) == port || int(r.Dst.Port()) == port {
				out = append(out, r)
			}
		}
		return out
	}
	et, eq, etop := ectoolCounts(onPort(ports["mqtt"]))
	tt, tq, ttop := tsharkCounts(t, file, ports["mqtt"], "")
	sameCounts(t, "mqtt listener packet type", et, tt)
	sameCounts(t, "mqtt listener publish QoS", eq, tq)
	sameCounts(t, "mqtt listener topic", etop, ttop)
	replay := wsPayloadsAsTCP(t, file, ports["ws"])
	et, eq, etop = ectoolCounts(onPort(ports["ws"]))
	tt, tq, ttop = tsharkCounts(t, replay, 1883, "")
	sameCounts(t, "ws listener packet type", et, tt)
	sameCounts(t, "ws listener publish QoS", eq, tq)
	sameCounts(t, "ws listener topic", etop, ttop)

	rep := report.New("capture inspect", file, nil)
	res.Report(rep, nil)
	rep.Finish()
	if rep.FirstFailure == nil || rep.FirstFailure.ID != inspect.CheckConnect || res.Refused.Count != 1 ||
		res.Refused.First[0].ClientID != "tour-wrong-pw" || res.Refused.First[0].Code == nil || *res.Refused.First[0].Code != 0x86 {
		t.Errorf("first failure %+v, refusals %+v: want inspect.connect naming tour-wrong-pw and 0x86", rep.FirstFailure, res.Refused)
	}
}

// wsPayloadsAsTCP extracts, with tshark, the unmasked payloads of the
// WebSocket frames on port and writes them as one plain TCP connection
// to port 1883, each frame's payload a segment in its direction.
func wsPayloadsAsTCP(t *testing.T, file string, port int) string {
	t.Helper()
	tshark := testenv.Require(t, "tshark")
	out := run(t, tshark, "-r", file, "-d", fmt.Sprintf("tcp.port==%d,http", port), "-Y", fmt.Sprintf("tcp.port==%d && websocket", port),
		"-T", "fields", "-e", "tcp.dstport", "-e", "data.data", "-E", "occurrence=a")
	return synth(t, pcapsynth.Options{}, func(w *pcapsynth.Writer) {
		c := w.NewConn(netip.MustParseAddrPort("10.9.0.2:40000"), netip.MustParseAddrPort("10.9.0.1:1883"))
		c.Open(t0)
		for _, l := range strings.Split(out, "\n") {
			cols := strings.Split(l, "\t")
			if len(cols) < 2 || cols[1] == "" {
				continue
			}
			dir := pcapsynth.ToClient
			if cols[0] == strconv.Itoa(port) {
				dir = pcapsynth.ToServer
			}
			for _, h := range strings.Split(cols[1], ",") {
				b, err := hex.DecodeString(strings.ReplaceAll(h, ":", ""))
				if err != nil {
					t.Fatalf("tshark payload %q: %v", h, err)
				}
				c.Send(dir, t0, b)
			}
		}
	})
}
