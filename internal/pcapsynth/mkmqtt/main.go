// Command mkmqtt writes a synthetic MQTT capture for scripts/bench/inspect.sh:
// gateways publishing telemetry at QoS 0 and 1 to a broker that acknowledges
// and delivers each reading to a subscriber, with keep-alive pings, pure
// ACK segments and some packets split over two segments, until the capture
// holds -packets frames. It prints what it wrote, so the benchmark can
// check both tools count the same.
//
//	go run ./internal/pcapsynth/mkmqtt -packets 1000000 -o /tmp/mqtt-1m.pcap
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ecdata/ectool/internal/pcapsynth"
)

func main() {
	packets := flag.Int("packets", 1000000, "frames to write (at least)")
	clients := flag.Int("clients", 50, "publishing gateways")
	out := flag.String("o", "mqtt.pcap", "output file")
	ng := flag.Bool("pcapng", false, "write pcapng instead of pcap")
	flag.Parse()
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w, err := pcapsynth.NewWriter(f, pcapsynth.Options{PcapNG: *ng})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pubs, err := pcapsynth.Telemetry(w, *packets, *clients)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("packets=%d publishes=%d\n", w.Packets, pubs)
}
