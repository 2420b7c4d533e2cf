package pcapsynth

import (
	"fmt"
	"net/netip"
	"time"
)

type gateway struct {
	c    *Conn
	id   uint16
	name string
}

// Telemetry writes gateways publishing telemetry at QoS 0 and 1 to a
// broker that acknowledges and delivers every reading to a dashboard,
// with keep-alive pings, pure ACK segments and one packet in 17 split
// over two segments, until w holds at least packets frames. It returns
// the PUBLISH count (both ways).
func Telemetry(w *Writer, packets, clients int) (int, error) {
	broker := netip.MustParseAddrPort("10.0.0.1:1883")
	ts := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	sub := w.NewConn(netip.MustParseAddrPort("10.0.9.9:40000"), broker)
	if err := open(sub, ts, "dashboard"); err != nil {
		return 0, err
	}
	if err := sub.Send(ToServer, ts, Subscribe(4, 1, "ec-data/#", 0)); err != nil {
		return 0, err
	}
	if err := sub.Send(ToClient, ts, Suback(4, 1, 0)); err != nil {
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
		p := Publish(4, topic, payload, qos, g.id, false, false)
		var err error
		if n%17 == 0 {
			// A packet split over two segments.
			err = g.c.Send(ToServer, ts, p[:10])
			if err == nil {
				err = g.c.Send(ToServer, ts, p[10:])
			}
		} else {
			err = g.c.Send(ToServer, ts, p)
		}
		if err != nil {
			return pubs, err
		}
		pubs++
		if qos == 1 {
			err = g.c.Send(ToClient, ts, Ack(4, 4, g.id, 0))
		} else {
			err = g.c.Raw(ToClient, ts, g.c.Seq(ToClient), nil, ACK)
		}
		if err == nil {
			// Delivery to the dashboard at QoS 0, and its pure ACK.
			err = sub.Send(ToClient, ts, Publish(4, topic, payload, 0, 0, false, false))
		}
		if err == nil {
			err = sub.Raw(ToServer, ts, sub.Seq(ToServer), nil, ACK)
		}
		pubs++
		if err == nil && n%500 == 0 {
			err = g.c.Send(ToServer, ts, Pingreq)
			if err == nil {
				err = g.c.Send(ToClient, ts, Pingresp)
			}
			if err == nil {
				err = sub.Send(ToServer, ts, Pingreq)
			}
			if err == nil {
				err = sub.Send(ToClient, ts, Pingresp)
			}
		}
		if err != nil {
			return pubs, err
		}
	}
	return pubs, nil
}

func open(c *Conn, ts time.Time, id string) error {
	if err := c.Open(ts); err != nil {
		return err
	}
	if err := c.Send(ToServer, ts, Connect(4, id, 60, true, "", "")); err != nil {
		return err
	}
	return c.Send(ToClient, ts, Connack(4, 0))
}
