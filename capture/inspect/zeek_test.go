package inspect_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ecdata/ectool/capture/inspect"
	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/testenv"
)

// zeekLog reads a Zeek TSV log into rows keyed by its #fields names.
func zeekLog(t *testing.T, path string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	var rows []map[string]string
	for _, line := range strings.Split(string(b), "\n") {
		if f, ok := strings.CutPrefix(line, "#fields\t"); ok {
			fields = strings.Split(f, "\t")
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		vals := strings.Split(line, "\t")
		row := map[string]string{}
		for i, f := range fields {
			if i < len(vals) {
				row[f] = vals[i]
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// TestZeekMQTT31LogsMatchEctool compares ectool's decode of Zeek's
// mqtt.pcap (MQTT 3.1, Paho clients) with the connect, publish and
// subscribe logs Zeek's test suite keeps beside it.
func TestZeekMQTT31LogsMatchEctool(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "fixtures", "pcap", "zeek")
	recs, res := bothPaths(t, filepath.Join(dir, "mqtt.pcap"))

	connects := zeekLog(t, filepath.Join(dir, "mqtt_connect.log"))
	if len(connects) == 0 {
		t.Fatal("mqtt_connect.log has no rows")
	}
	for _, row := range connects {
		c := connectionAt(res, row["id.orig_h"], row["id.orig_p"])
		if c == nil {
			t.Errorf("zeek connect %v: ectool has no connection from %s:%s", row, row["id.orig_h"], row["id.orig_p"])
			continue
		}
		if c.ClientID == nil || *c.ClientID != row["client_id"] {
			t.Errorf("stream %d: client id %v, zeek %q", c.Stream, c.ClientID, row["client_id"])
		}
		if c.Version != row["proto_version"] {
			t.Errorf("stream %d: version %q, zeek %q", c.Stream, c.Version, row["proto_version"])
		}
		if c.Connack == nil || !strings.EqualFold(c.Connack.Reason, row["connect_status"]) {
			t.Errorf("stream %d: connack %+v, zeek %q", c.Stream, c.Connack, row["connect_status"])
		}
		if !strings.HasSuffix(c.Broker, ":"+row["id.resp_p"]) {
			t.Errorf("stream %d: broker %s, zeek port %s", c.Stream, c.Broker, row["id.resp_p"])
		}
	}
	if len(res.Connections) != len(connects) {
		t.Errorf("ectool sees %d connections, zeek %d", len(res.Connections), len(connects))
	}

	publishes := zeekLog(t, filepath.Join(dir, "mqtt_publish.log"))
	var got []record
	for _, r := range recs {
		if r.Type == inspect.Publish {
			got = append(got, r)
		}
	}
	if len(got) != len(publishes) {
		t.Fatalf("ectool decodes %d PUBLISH, zeek logs %d", len(got), len(publishes))
	}
	for i, row := range publishes {
		r := got[i]
		fromClient := row["from_client"] == "T"
		n, _ := strconv.Atoi(row["payload_len"])
		switch {
		case r.ToBroker != fromClient, r.Retain != (row["retain"] == "T"), r.QoS != 0 || row["qos"] != "at most once",
			r.Topic != row["topic"], string(r.Payload) != row["payload"], r.PayloadSize != n:
			t.Errorf("publish %d: ectool to_broker=%v retain=%v qos=%d topic=%q payload=%q (%d), zeek %v",
				i, r.ToBroker, r.Retain, r.QoS, r.Topic, r.Payload, r.PayloadSize, row)
		}
		if r.Malformed != "" {
			t.Errorf("publish %d malformed: %s", i, r.Malformed)
		}
	}

	subs := zeekLog(t, filepath.Join(dir, "mqtt_subscribe.log"))
	for _, row := range subs {
		var sub, ack *record
		for i := range recs {
			r := &recs[i]
			if r.Type == inspect.Subscribe && len(r.Filters) > 0 && r.Filters[0].Filter == row["topics"] {
				sub = r
			}
			if sub != nil && r.Type == inspect.Suback && r.PacketID == sub.PacketID && r.Stream == sub.Stream {
				ack = r
				break
			}
		}
		if sub == nil || ack == nil {
			t.Errorf("zeek subscribe %v: ectool has no SUBSCRIBE/SUBACK pair", row)
			continue
		}
		if strconv.Itoa(int(sub.Filters[0].QoS)) != row["qos_levels"] || len(ack.ReasonCodes) != 1 ||
			strconv.Itoa(int(ack.ReasonCodes[0])) != row["granted_qos_level"] {
			t.Errorf("subscribe: ectool qos %d granted %v, zeek %v", sub.Filters[0].QoS, ack.ReasonCodes, row)
		}
	}
	rep := report.New("capture inspect", "zeek", nil)
	res.Report(rep, []uint16{1883})
	for _, c := range rep.Checks {
		if c.Status == report.Failed {
			t.Errorf("%s failed on a clean capture: %v", c.ID, c.Evidence)
		}
	}
}

func connectionAt(res *inspect.Result, host, port string) *inspect.Connection {
	for _, c := range res.Connections {
		if c.Client == host+":"+port {
			return c
		}
	}
	return nil
}

// TestSuricataConnack134 is suricata-verify's mqtt-connect-rules-2 seen by
// ectool: the broker answers CONNECT with 0x86, so inspect.connect fails
// naming the reason.
func TestSuricataConnack134(t *testing.T) {
	path := filepath.Join(testenv.SharedDir(t), "fixtures", "pcap", "suricata-verify", "mqtt-connect-rules-2", "mqtt5_pub_jpeg_connack134.pcap")
	_, res := decodeFile(t, path, inspect.Options{})
	rep := report.New("capture inspect", "x", nil)
	res.Report(rep, []uint16{1883})
	rep.Finish()
	if rep.FirstFailure == nil || rep.FirstFailure.ID != inspect.CheckConnect {
		t.Fatalf("first failure %+v, want inspect.connect", rep.FirstFailure)
	}
	if res.Refused.Count != 1 || res.Refused.First[0].Code == nil || *res.Refused.First[0].Code != 0x86 {
		t.Fatalf("refusals %+v, want one 0x86", res.Refused)
	}
	if !strings.Contains(res.Refused.First[0].What, "bad user name or password") {
		t.Errorf("refusal says %q", res.Refused.First[0].What)
	}
}
