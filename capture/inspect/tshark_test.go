package inspect_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/ecdata/ectool/capture/inspect"
	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/testenv"
)

// TestCountsEqualTsharksOnMosquittoTraffic records, with tcpdump on lo,
// mosquitto serving ectool's and mosquitto's own clients (MQTT 3.1.1 and
// 5, QoS 0, 1 and 2, a retained message, a client killed without
// DISCONNECT whose Will is then published), and compares ectool's counts
// per packet type, per QoS and per topic with tshark's.
func TestCountsEqualTsharksOnMosquittoTraffic(t *testing.T) {
	ectool := testenv.Binary(t)
	pub := testenv.Require(t, "mosquitto_pub")
	sub := testenv.Require(t, "mosquitto_sub")
	testenv.Require(t, "tshark")
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{NoQueueLimits: true})
	dump := startTcpdump(t, b.Port)
	port := strconv.Itoa(b.Port)

	const delivered = 10 + 10 + 10 + 1 + 1 + 1 // three ectool runs, two mosquitto_pub, the Will
	subA := start(t, sub, "-h", b.Host, "-p", port, "-V", "mqttv311", "-q", "2", "-i", "watcher", "-t", "t/#", "-C", strconv.Itoa(delivered), "-d")
	subA.waitFor("received SUBACK", 1, 10*time.Second)

	run(t, ectool, "mqtt", "pub", "-b", b.URL, "--mqtt-version", "3.1.1", "-t", "t/a", "-m", "hello", "-q", "1", "--count", "10")
	run(t, ectool, "mqtt", "pub", "-b", b.URL, "--mqtt-version", "5", "-t", "t/b", "-m", `{"p":1200}`, "-q", "2", "--count", "10")
	run(t, ectool, "mqtt", "pub", "-b", b.URL, "--mqtt-version", "5", "-t", "t/c", "-m", "zero", "-q", "0", "--count", "10")
	run(t, pub, "-h", b.Host, "-p", port, "-V", "mqttv5", "-t", "t/r", "-m", "kept", "-r", "-q", "1")
	run(t, pub, "-h", b.Host, "-p", port, "-V", "mqttv311", "-t", "t/d", "-m", "two", "-q", "2")

	// A client killed without DISCONNECT: the broker publishes its Will.
	victim := start(t, sub, "-h", b.Host, "-p", port, "-V", "mqttv5", "-i", "victim", "-k", "5", "-t", "t/r", "-q", "1",
		"--will-topic", "t/will", "--will-payload", "gone", "-d")
	victim.waitFor("received PUBLISH", 1, 10*time.Second) // the retained message
	_ = victim.cmd.Process.Kill()
	<-victim.done

	subA.wait(20 * time.Second)
	file := dump.stop()

	recs, res := bothPaths(t, file, inspect.Options{Ports: []uint16{uint16(b.Port)}})
	et, eq, etop := ectoolCounts(recs)
	tt, tq, ttop, tstreams := tsharkCountsByStream(t, file, b.Port, "")
	sameCounts(t, "packet type", et, tt)
	sameCounts(t, "stream/type", ectoolStreams(recs), tstreams)
	sameCounts(t, "publish QoS", eq, tq)
	sameCounts(t, "topic", etop, ttop)
	if et["3"] < 2*delivered {
		t.Errorf("only %d PUBLISH decoded, want at least %d", et["3"], 2*delivered)
	}

	rep := report.New("capture inspect", file, nil)
	res.Report(rep, []uint16{uint16(b.Port)})
	for _, c := range rep.Checks {
		if c.Status == report.Failed {
			t.Errorf("%s failed: %v", c.ID, c.Evidence)
		}
	}
	var victimConn *inspect.Connection
	for _, c := range res.Connections {
		if c.ClientID != nil && *c.ClientID == "victim" {
			victimConn = c
		}
	}
	if victimConn == nil {
		t.Fatal("no connection of client victim")
	}
	if victimConn.End.How != "fin" || victimConn.End.By != "client" || victimConn.Will == nil || victimConn.Will.Topic != "t/will" {
		t.Errorf("victim: end %+v will %+v, want fin by client with Will t/will", victimConn.End, victimConn.Will)
	}
	for _, tp := range res.Topics {
		if tp.Topic == "t/r" && tp.Retained != 2 {
			t.Errorf("t/r: %d retained publishes, want 2 (the publish and the delivery to the new subscriber)", tp.Retained)
		}
	}
}

// TestCountsEqualTsharksOnACaptureJoinedMidSession starts the capture
// while an MQTT 5 publisher and subscriber are already connected: no
// CONNECT in the file, so ectool infers the version, and tshark is told it
// (mqtt.default_version).
func TestCountsEqualTsharksOnACaptureJoinedMidSession(t *testing.T) {
	ectool := testenv.Binary(t)
	sub := testenv.Require(t, "mosquitto_sub")
	testenv.Require(t, "tshark")
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{NoQueueLimits: true})
	port := strconv.Itoa(b.Port)

	const n = 60
	subA := start(t, sub, "-h", b.Host, "-p", port, "-V", "mqttv5", "-q", "1", "-t", "m/#", "-C", strconv.Itoa(n), "-v", "-d")
	subA.waitFor("received SUBACK", 1, 10*time.Second)
	pubber := start(t, ectool, "mqtt", "pub", "-b", b.URL, "--mqtt-version", "5", "-t", "m/x", "-m", "reading", "-q", "1",
		"--count", strconv.Itoa(n), "--rate", "20")
	subA.waitFor("m/x reading", 5, 10*time.Second)
	dump := startTcpdump(t, b.Port)
	subA.wait(20 * time.Second)
	pubber.wait(20 * time.Second)
	file := dump.stop()

	recs, res := bothPaths(t, file, inspect.Options{Ports: []uint16{uint16(b.Port)}})
	et, eq, etop := ectoolCounts(recs)
	tt, tq, ttop := tsharkCounts(t, file, b.Port, "MQTT v5.0")
	sameCounts(t, "packet type", et, tt)
	sameCounts(t, "publish QoS", eq, tq)
	sameCounts(t, "topic", etop, ttop)
	if et["3"] == 0 {
		t.Fatal("no PUBLISH decoded after joining mid-session")
	}
	for _, c := range res.Connections {
		if c.PacketsToBroker+c.PacketsToClient == 0 {
			continue // the end-of-capture marker: a connection that sent nothing
		}
		if c.Version != "5" || c.VersionFrom != "inferred" {
			t.Errorf("stream %d: version %q from %q, want 5 inferred", c.Stream, c.Version, c.VersionFrom)
		}
		if c.Malformed != 0 {
			t.Errorf("stream %d: %d malformed packets after resynchronising", c.Stream, c.Malformed)
		}
	}
}
