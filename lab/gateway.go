package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ecdata/ectool/probe/mqtt"
)

// GatewayConfig tunes the simulated gateway.
type GatewayConfig struct {
	// Disabled leaves the gateway out: the broker runs alone.
	Disabled bool
	// Interval between two readings of every meter. Default 2s.
	Interval time.Duration
	// Meters are the meter names, one topic level each. Default main, pv, hvac.
	Meters []string
	// Version is the MQTT version the gateway speaks. Default 5.
	Version mqtt.Version
}

// GatewayInfo is what the endpoints document says about the gateway.
type GatewayInfo struct {
	ClientID string `json:"client_id"`
	Username string `json:"username"`
	Broker   string `json:"broker"`
	Version  string `json:"mqtt_version"`
	// TelemetryFilter matches every meter's telemetry topic.
	TelemetryFilter string   `json:"telemetry_filter"`
	Topics          []string `json:"topics"`
	QoS             int      `json:"qos"`
	Retained        bool     `json:"retained"`
	IntervalMS      int64    `json:"interval_ms"`
	// StatusTopic holds "online" (retained, sent at connect) or "offline"
	// (the Last Will, or sent on a graceful stop).
	StatusTopic string `json:"status_topic"`
}

// Telemetry is one meter reading, the JSON payload of a telemetry message.
type Telemetry struct {
	Time      string  `json:"ts"`
	Site      string  `json:"site"`
	Meter     string  `json:"meter"`
	Seq       uint64  `json:"seq"`
	EnergyKWh float64 `json:"energy_kwh"`
	PowerW    float64 `json:"power_w"`
	VoltageV  float64 `json:"voltage_v"`
	CurrentA  float64 `json:"current_a"`
	PF        float64 `json:"pf"`
	FreqHz    float64 `json:"freq_hz"`
}

// Gateway is the simulated site gateway: an MQTT client that publishes one
// retained QoS 1 telemetry message per meter every interval, with a Last
// Will on its status topic.
type Gateway struct {
	site       string
	cfg        GatewayConfig
	opts       mqtt.Options
	info       GatewayInfo
	meters     []*meterSim
	client     mqtt.Client
	cancel     context.CancelFunc
	done       chan struct{}
	mu         sync.Mutex
	sent       int
	reconnects int
	lastErr    error
	stopOnce   sync.Once
}

// Name is "gateway".
func (g *Gateway) Name() string { return "gateway" }

// Start connects as user "gateway" to the broker's plain listener,
// announces "online", publishes every meter at once (so a subscriber finds
// retained values immediately) and then every interval.
func (g *Gateway) Start(ctx context.Context, s *Site) error {
	if s.Endpoints.Broker == nil {
		return errors.New("the gateway needs the broker")
	}
	cfg := s.Config.Gateway
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if len(cfg.Meters) == 0 {
		cfg.Meters = []string{"main", "pv", "hvac"}
	}
	if cfg.Version == "" {
		cfg.Version = mqtt.V5
	}
	g.site, g.cfg = s.Config.Site, cfg
	user := s.Endpoints.Broker.User("gateway")
	status := fmt.Sprintf("ec-data/%s/gateway/status", g.site)
	g.info = GatewayInfo{
		ClientID:        "gw-" + g.site,
		Username:        user.Name,
		Broker:          s.Endpoints.Broker.MQTT,
		Version:         string(cfg.Version),
		TelemetryFilter: fmt.Sprintf("ec-data/%s/+/telemetry", g.site),
		QoS:             1,
		Retained:        true,
		IntervalMS:      cfg.Interval.Milliseconds(),
		StatusTopic:     status,
	}
	for _, m := range cfg.Meters {
		g.info.Topics = append(g.info.Topics, g.topic(m))
		g.meters = append(g.meters, newMeterSim(g.site, m))
	}
	g.opts = mqtt.Options{
		Broker:         g.info.Broker,
		Version:        cfg.Version,
		ClientID:       g.info.ClientID,
		KeepAlive:      10 * time.Second,
		CleanStart:     true,
		Username:       user.Name,
		Password:       user.Password,
		HasPassword:    true,
		ConnectTimeout: 5 * time.Second,
		Will:           &mqtt.Will{Topic: status, Payload: []byte("offline"), QoS: 1, Retain: true},
	}
	if err := g.connect(ctx); err != nil {
		return err
	}
	s.Gateway = g
	s.Endpoints.Gateway = &g.info
	return nil
}

func (g *Gateway) topic(meter string) string {
	return fmt.Sprintf("ec-data/%s/%s/telemetry", g.site, meter)
}

func (g *Gateway) connect(ctx context.Context) error {
	if err := g.dial(ctx); err != nil {
		return err
	}
	lctx, lcancel := context.WithCancel(context.Background())
	g.cancel = lcancel
	g.done = make(chan struct{})
	go g.loop(lctx)
	return nil
}

// dial connects, announces "online" and publishes every meter once.
func (g *Gateway) dial(ctx context.Context) error {
	c, err := mqtt.Connect(ctx, g.opts)
	if err != nil {
		return fmt.Errorf("the gateway cannot connect to %s: %w", g.opts.Broker, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Publish(pctx, mqtt.Message{Topic: g.info.StatusTopic, Payload: []byte("online"), QoS: 1, Retain: true}); err != nil {
		_ = c.Abort()
		return fmt.Errorf("the gateway cannot announce itself online: %w", err)
	}
	g.mu.Lock()
	g.client = c
	g.mu.Unlock()
	if err := g.publishAll(ctx, time.Now()); err != nil {
		_ = c.Abort()
		return err
	}
	return nil
}

func (g *Gateway) current() mqtt.Client {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.client
}

// loop publishes every interval and, like a real gateway, reconnects when
// the broker drops it (another client taking its client id, a broker
// restart), backing off from 0.5 s to 10 s.
func (g *Gateway) loop(ctx context.Context) {
	defer close(g.done)
	t := time.NewTicker(g.cfg.Interval)
	defer t.Stop()
	for {
		c := g.current()
		select {
		case <-ctx.Done():
			return
		case <-c.Done():
			if ctx.Err() != nil {
				return
			}
			g.setErr(fmt.Errorf("the gateway lost its connection: %v", c.Err()))
			if !g.reconnect(ctx) {
				return
			}
		case now := <-t.C:
			if err := g.publishAll(ctx, now); err != nil && ctx.Err() == nil {
				g.setErr(err)
			}
		}
	}
}

func (g *Gateway) reconnect(ctx context.Context) bool {
	backoff := 500 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		if err := g.dial(ctx); err == nil {
			g.mu.Lock()
			g.reconnects++
			g.mu.Unlock()
			return true
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (g *Gateway) publishAll(ctx context.Context, now time.Time) error {
	c := g.current()
	for _, m := range g.meters {
		r := m.next(now, g.cfg.Interval)
		payload, err := json.Marshal(r)
		if err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = c.Publish(pctx, mqtt.Message{Topic: g.topic(m.name), Payload: payload, QoS: 1, Retain: true,
			Properties: mqtt.Properties{ContentType: "application/json"}})
		cancel()
		if err != nil {
			return fmt.Errorf("the gateway could not publish %s: %w", g.topic(m.name), err)
		}
		g.mu.Lock()
		g.sent++
		g.mu.Unlock()
	}
	return nil
}

func (g *Gateway) setErr(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lastErr == nil {
		g.lastErr = err
	}
}

// Info is what the endpoints document says about the gateway.
func (g *Gateway) Info() GatewayInfo { return g.info }

// Published is the number of telemetry messages the broker acknowledged.
func (g *Gateway) Published() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sent
}

// Reconnects is how many times the gateway reconnected after the broker
// dropped it.
func (g *Gateway) Reconnects() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reconnects
}

// Err is the first error that disturbed publishing, if any.
func (g *Gateway) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lastErr
}

// Abort cuts the gateway off as a power cut would: no DISCONNECT, so the
// broker publishes its Last Will ("offline" on the status topic). The
// gateway stays off.
func (g *Gateway) Abort() error {
	var err error
	g.stopOnce.Do(func() {
		g.cancel()
		<-g.done
		err = g.current().Abort()
	})
	return err
}

// Stop says "offline" on the status topic and disconnects cleanly (the
// broker then discards the Will).
func (g *Gateway) Stop() error {
	var err error
	g.stopOnce.Do(func() {
		g.cancel()
		<-g.done
		c := g.current()
		select {
		case <-c.Done():
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = c.Publish(ctx, mqtt.Message{Topic: g.info.StatusTopic, Payload: []byte("offline"), QoS: 1, Retain: true})
		err = c.Disconnect(ctx)
	})
	return err
}

// meterSim produces plausible, repeatable readings for one meter: a load
// that swings slowly around a base power with a little noise, a mains
// voltage near 230 V, and an energy register that integrates the power.
type meterSim struct {
	name      string
	site      string
	baseW     float64
	pf        float64
	energyKWh float64
	seq       uint64
	start     time.Time
	rng       *rand.Rand
}

func newMeterSim(site, name string) *meterSim {
	h := fnv.New64a()
	h.Write([]byte(site + "/" + name))
	seed := h.Sum64()
	rng := rand.New(rand.NewPCG(seed, seed>>7))
	m := &meterSim{name: name, site: site, rng: rng}
	switch name {
	case "main":
		m.baseW, m.pf = 4200, 0.97
	case "pv":
		m.baseW, m.pf = 2600, 0.99
	case "hvac":
		m.baseW, m.pf = 1500, 0.88
	default:
		m.baseW, m.pf = 500+rng.Float64()*3000, 0.9+rng.Float64()*0.09
	}
	m.energyKWh = math.Round(1000 + rng.Float64()*50000) // a register that has been counting for a while
	return m
}

func (m *meterSim) next(now time.Time, interval time.Duration) Telemetry {
	if m.start.IsZero() {
		m.start = now
	}
	m.seq++
	t := now.Sub(m.start).Seconds()
	power := m.baseW * (1 + 0.15*math.Sin(2*math.Pi*t/300) + 0.03*(m.rng.Float64()-0.5))
	voltage := 230 + 3*math.Sin(2*math.Pi*t/97) + (m.rng.Float64() - 0.5)
	current := power / (voltage * m.pf)
	m.energyKWh += power * interval.Hours() / 1000
	return Telemetry{
		Time:      now.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		Site:      m.site,
		Meter:     m.name,
		Seq:       m.seq,
		EnergyKWh: round(m.energyKWh, 3),
		PowerW:    round(power, 1),
		VoltageV:  round(voltage, 1),
		CurrentA:  round(current, 2),
		PF:        m.pf,
		FreqHz:    round(50+0.02*(m.rng.Float64()-0.5), 3),
	}
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
