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
	"net/netip"
	"os"
	"time"

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
	pubs, err := generate(w, *packets, *clients)
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

type gateway struct {
	c    *pcapsynth.Conn
	id   uint16
	name string
}

// generate writes the conversation; it returns the PUBLISH count.
func generate(w *pcapsynth.Writer, packets, clients int) (int, error) {
	broker := netip.MustParseAddrPort("10.0.0.1:1883")
	ts := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	sub := w.NewConn(netip.MustParseAddrPort("10.0.9.9:40000"), broker)
	if err := open(sub, ts, "dashboard"); err != nil {
		return 0, err
	}
	if err := sub.Send(pcapsynth.ToServer, ts, pcapsynth.Subscribe(4, 1, "ec-data/#", 0)); err != nil {
		return 0, err
	}
	if err := sub.Send(pcapsynth.ToClient, ts, pcapsynth.Suback(4, 1, 0)); err != nil {
		return 0, err
	}
	gws := make([]*gateway, clients)
	for i := range gws {
		addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(1 + i/250), byte(1 + i%250)}), uint16(41000+i))
		g := &gateway{c: w.NewConn(addr, broker), name: fmt.Sprintf("gw-%04d", i)}
		if err := open(g.c, ts, g.name); err != nil {
			return 0, err
		}
		gws[i] = g
	}
	payload := []byte(`{"p_w":1234.5,"e_kwh":98765.43,"v":[230.1,229.8,231.0],"ts":1764547200}`)
	pubs := 0
	for n := 0; w.Packets < packets; n++ {
		g := gws[n%len(gws)]
		ts = ts.Add(time.Millisecond)
		topic := "ec-data/site1/" + g.name + "/telemetry"
		qos := byte(n % 2)
		g.id++
		if g.id == 0 {
			g.id = 1
		}
		p := pcapsynth.Publish(4, topic, payload, qos, g.id, false, false)
		var err error
		if n%17 == 0 {
			// A packet split over two segments.
			err = g.c.Send(pcapsynth.ToServer, ts, p[:10])
			if err == nil {
				err = g.c.Send(pcapsynth.ToServer, ts, p[10:])
			}
		} else {
			err = g.c.Send(pcapsynth.ToServer, ts, p)
		}
		if err != nil {
			return pubs, err
		}
		pubs++
		if qos == 1 {
			err = g.c.Send(pcapsynth.ToClient, ts, pcapsynth.Ack(4, 4, g.id, 0))
		} else {
			err = g.c.Raw(pcapsynth.ToClient, ts, g.c.Seq(pcapsynth.ToClient), nil, pcapsynth.ACK)
		}
		if err == nil {
			// Delivery to the dashboard at QoS 0, and its pure ACK.
			err = sub.Send(pcapsynth.ToClient, ts, pcapsynth.Publish(4, topic, payload, 0, 0, false, false))
		}
		if err == nil {
			err = sub.Raw(pcapsynth.ToServer, ts, sub.Seq(pcapsynth.ToServer), nil, pcapsynth.ACK)
		}
		pubs++
		if err == nil && n%500 == 0 {
			err = g.c.Send(pcapsynth.ToServer, ts, pcapsynth.Pingreq)
			if err == nil {
				err = g.c.Send(pcapsynth.ToClient, ts, pcapsynth.Pingresp)
			}
		}
		if err != nil {
			return pubs, err
		}
	}
	return pubs, nil
}

func open(c *pcapsynth.Conn, ts time.Time, id string) error {
	if err := c.Open(ts); err != nil {
		return err
	}
	if err := c.Send(pcapsynth.ToServer, ts, pcapsynth.Connect(4, id, 60, true, "", "")); err != nil {
		return err
	}
	return c.Send(pcapsynth.ToClient, ts, pcapsynth.Connack(4, 0))
}
