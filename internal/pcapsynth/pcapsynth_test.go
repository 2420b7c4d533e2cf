package pcapsynth

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/ecdata/ectool/internal/testenv"
)

// TestTsharkReadsWhatPcapsynthWrites holds the synthetic frames to an
// independent reader: tshark decodes the MQTT packets of every link type
// and format as written, so inspect's tests on these files do not share
// a bug with their writer.
func TestTsharkReadsWhatPcapsynthWrites(t *testing.T) {
	tshark := testenv.Require(t, "tshark")
	for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw, layers.LinkTypeLoop} {
		// pcap with IPv4 and pcapng with IPv6 (tshark starts slowly: two
		// files per link type cover both formats and both IP versions).
		for _, ng := range []bool{false, true} {
			{
				v6 := ng
				name := fmt.Sprintf("%s-ng%v-v6%v", lt, ng, v6)
				t.Run(name, func(t *testing.T) {
					path := filepath.Join(t.TempDir(), "x.pcap")
					f, err := os.Create(path)
					if err != nil {
						t.Fatal(err)
					}
					w, err := NewWriter(f, Options{LinkType: lt, PcapNG: ng, Comment: "synthetic"})
					if err != nil {
						t.Fatal(err)
					}
					cl, br := netip.MustParseAddrPort("10.0.0.2:40000"), netip.MustParseAddrPort("10.0.0.1:1883")
					if v6 {
						cl, br = netip.MustParseAddrPort("[fd00::2]:40000"), netip.MustParseAddrPort("[fd00::1]:1883")
					}
					c := w.NewConn(cl, br)
					c.MSS = 5
					ts := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
					c.Open(ts)
					c.Send(ToServer, ts, Connect(4, "synth", 60, true, "", ""))
					c.Send(ToClient, ts, Connack(4, 0))
					c.Send(ToServer, ts, Publish(4, "a/b", []byte("hello"), 1, 1, false, false))
					c.Send(ToClient, ts, Ack(4, 4, 1, 0))
					c.Close(ts)
					w.Flush()
					f.Close()
					out, err := exec.Command(tshark, "-r", path, "-T", "fields", "-e", "mqtt.msgtype", "-E", "occurrence=a").CombinedOutput()
					if err != nil {
						t.Fatalf("tshark: %v\n%s", err, out)
					}
					var types []string
					for _, l := range strings.Split(string(out), "\n") {
						if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Running as") {
							types = append(types, l)
						}
					}
					if got := strings.Join(types, " "); got != "1 2 3 4" {
						t.Errorf("tshark reads MQTT types %q, want 1 2 3 4", got)
					}
				})
			}
		}
	}
}
