package inspect_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ecdata/ectool/capture/inspect"
	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/testenv"
)

// suricataSkip lists the suricata-verify fixtures whose checks ectool
// cannot be compared with, and why. A fixture neither here nor with an
// mqtt or anomaly filter fails the test.
var suricataSkip = map[string]string{
	"mqtt-connect-rules-2":  "checks only rule alerts on the CONNACK reason code (TestSuricataConnack134 asserts ectool's own verdict on it)",
	"mqtt-frames-truncated": "checks only Suricata's frame keywords (alerts by sid) for messages over its own max-msg-length",
}

// suricataFieldSkip are fields that describe Suricata itself, not the
// traffic: a filter using one is not compared.
var suricataFieldSkip = map[string]string{
	"truncated":      "Suricata's own message length limit",
	"skipped_length": "Suricata's own message length limit",
}

// anomalyChecks maps Suricata anomaly events to the ectool check (and the
// evidence field) that reports the same condition.
var anomalyChecks = map[string]struct{ check, field string }{
	"invalid_qos_level":    {inspect.CheckDecode, "count"},
	"unassigned_msg_type":  {inspect.CheckDecode, "count"},
	"malformed_traffic":    {inspect.CheckDecode, "count"},
	"missing_connect":      {inspect.CheckConnect, "connack_without_connect"},
	"unintroduced_message": {inspect.CheckConnect, "packets_before_connack"},
}

// suricataDiverges are filters where Suricata decodes a packet wrongly
// and ectool agrees with the specification (and with tshark 4.0): the
// filter is compared with ectool's value for that field instead.
var suricataDiverges = map[string]struct {
	field string
	value any
	why   string
}{
	"mqtt5-sub-userpass#5":   disconnectReason1,
	"mqtt5-unsub-qos1#9":     disconnectReason1,
	"mqtt5-unsub-qos2#9":     disconnectReason1,
	"mqtt5-unsub-userpass#9": disconnectReason1,
}

var disconnectReason1 = struct {
	field string
	value any
	why   string
}{"mqtt.disconnect.reason_code", 4, "the DISCONNECT is e0 01 04: a remaining length of 1 is the reason code alone (MQTT 5, 3.14.2.1), 0x04 disconnect with Will; Suricata reads the reason code only when properties follow and logs 0, tshark shows 4"}

type suricataTest struct {
	Checks []struct {
		Filter struct {
			Count int            `yaml:"count"`
			Match map[string]any `yaml:"match"`
		} `yaml:"filter"`
	} `yaml:"checks"`
}

func TestSuricataVerifyFixturesMatchEctoolsDecode(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "fixtures", "pcap", "suricata-verify")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			checkSuricataFixture(t, filepath.Join(dir, name), name)
		})
	}
	if n < 30 {
		t.Errorf("only %d suricata-verify fixtures found in %s", n, dir)
	}
}

func checkSuricataFixture(t *testing.T, dir, name string) {
	raw, err := os.ReadFile(filepath.Join(dir, "test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var st suricataTest
	if err := yaml.Unmarshal(raw, &st); err != nil {
		t.Fatalf("test.yaml: %v", err)
	}
	pcaps, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
	if len(pcaps) != 1 {
		t.Fatalf("want one pcap in %s, found %v", dir, pcaps)
	}
	recs, res := bothPaths(t, pcaps[0])
	rep := report.New("capture inspect", name, nil)
	res.Report(rep, []uint16{1883, 8883})
	compared := 0
	for i, c := range st.Checks {
		f := c.Filter
		switch f.Match["event_type"] {
		case "mqtt":
			if d, ok := suricataDiverges[fmt.Sprintf("%s#%d", name, i)]; ok {
				t.Logf("filter %d: %s compared as %v: %s", i, d.field, d.value, d.why)
				f.Match[d.field] = d.value
			}
			if why := skippedFilter(f.Match); why != "" {
				t.Logf("filter %d not compared: %s", i, why)
				continue
			}
			compared++
			compareMQTTFilter(t, i, f.Count, f.Match, recs)
		case "anomaly":
			compared++
			ev, _ := f.Match["anomaly.event"].(string)
			m, ok := anomalyChecks[ev]
			if !ok {
				t.Errorf("filter %d: Suricata anomaly %q has no ectool check in anomalyChecks", i, ev)
				continue
			}
			if got := evidenceInt(rep, m.check, m.field); got != f.Count {
				t.Errorf("filter %d: anomaly %s: want %s %s = %d, got %d", i, ev, m.check, m.field, f.Count, got)
			}
		}
	}
	if why, skip := suricataSkip[name]; skip {
		if compared > 0 {
			t.Errorf("%s is in suricataSkip but has %d comparable filters", name, compared)
		}
		t.Logf("not compared: %s", why)
		return
	}
	if compared == 0 {
		t.Errorf("%s has no mqtt or anomaly filter and is not in suricataSkip", name)
	}
}

func skippedFilter(match map[string]any) string {
	for k := range match {
		parts := strings.Split(k, ".")
		if why, ok := suricataFieldSkip[parts[len(parts)-1]]; ok {
			return fmt.Sprintf("%s is %s", k, why)
		}
	}
	return ""
}

// compareMQTTFilter counts, per packet type the filter names, ectool's
// packets matching every field of that type: each count must equal the
// filter's (Suricata logs a request and its answer as one event, so one
// event holds at most one packet of each type).
func compareMQTTFilter(t *testing.T, i, count int, match map[string]any, recs []record) {
	byType := map[string]map[string]any{}
	for k, v := range match {
		if k == "event_type" {
			continue
		}
		if k == "has-key" {
			typ := strings.TrimPrefix(v.(string), "mqtt.")
			if byType[typ] == nil {
				byType[typ] = map[string]any{}
			}
			continue
		}
		rest, ok := strings.CutPrefix(k, "mqtt.")
		if !ok {
			t.Errorf("filter %d: field %s is not an mqtt field", i, k)
			continue
		}
		typ, field, _ := strings.Cut(rest, ".")
		if byType[typ] == nil {
			byType[typ] = map[string]any{}
		}
		byType[typ][field] = v
	}
	types := make([]string, 0, len(byType))
	for typ := range byType {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		fields := byType[typ]
		got := 0
		for _, r := range recs {
			if r.Type.String() != typ {
				continue
			}
			if matchesAll(t, i, r, fields) {
				got++
			}
		}
		if got != count {
			t.Errorf("filter %d: %d %s packet(s) match %v, Suricata counts %d", i, got, typ, fields, count)
		}
	}
}

func matchesAll(t *testing.T, i int, r record, fields map[string]any) bool {
	ok := true
	for field, want := range fields {
		if field == "password" {
			want = passwordShape{Present: true, Length: len(fmt.Sprint(want))}
		}
		got, known := suricataField(r, field)
		if !known {
			t.Errorf("filter %d: no mapping for Suricata field %s.%s", i, r.Type, field)
			return false
		}
		if !sameValue(want, got) {
			ok = false
		}
	}
	return ok
}

// sameValue compares a YAML value with ectool's through their JSON forms.
func sameValue(want, got any) bool {
	w, _ := json.Marshal(want)
	g, _ := json.Marshal(got)
	return string(w) == string(g)
}

func evidenceInt(rep *report.Report, id, field string) int {
	for _, c := range rep.Checks {
		if c.ID == id {
			switch v := c.Evidence[field].(type) {
			case int:
				return v
			}
			return 0
		}
	}
	return -1
}
