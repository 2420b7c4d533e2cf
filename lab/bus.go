package lab

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/ecdata/ectool/lab/bus"
)

// Port offsets of the RS-485 bus's endpoints (the bus takes 10-19).
const (
	OffsetRTUOverTCP = 10
	OffsetModbusTCP  = 11
)

// BusConfig tunes the simulated RS-485 Modbus bus (package lab/bus).
type BusConfig struct {
	// Disabled leaves the bus out.
	Disabled bool
	// Scenario names the bus scenario (bus.Scenarios); default "default":
	// meters 1, 2, 3 and two meters colliding at 17, 9600 8N1.
	Scenario string
	// Settings, when not empty, replaces the scenario's line settings
	// ("19200 8E1").
	Settings string
	// NoPTY leaves the PTY out even where the OS has them.
	NoPTY bool
}

// config resolves the scenario and settings.
func (c BusConfig) config() (bus.Config, error) {
	name := c.Scenario
	if name == "" {
		name = "default"
	}
	cfg, err := bus.Scenario(name)
	if err != nil {
		return cfg, &FieldError{"bus-scenario", err.Error()}
	}
	if c.Settings != "" {
		s, err := bus.ParseSettings(c.Settings)
		if err != nil {
			return cfg, &FieldError{"bus-settings", err.Error()}
		}
		cfg.Settings = s
	}
	return cfg, nil
}

// BusEndpoints say how to reach the simulated bus: the same line as a PTY
// (Linux, macOS), through a transparent serial server (rtuovertcp://) and
// behind a Modbus TCP gateway (tcp://).
type BusEndpoints struct {
	Scenario    string `json:"scenario"`
	Description string `json:"description"`
	// Settings are the line settings, "9600 8N1", also given field by field.
	Settings string `json:"settings"`
	Baud     int    `json:"baud"`
	DataBits int    `json:"data_bits"`
	Parity   string `json:"parity"`
	StopBits int    `json:"stop_bits"`
	// PTY is the serial device to scan (rtu:///dev/pts/N); PTYLink is a
	// stable symbolic link to it in the lab directory. PTYUnavailable says
	// why there is none.
	PTY            string `json:"pty,omitempty"`
	PTYLink        string `json:"pty_link,omitempty"`
	PTYUnavailable string `json:"pty_unavailable,omitempty"`
	// RTUOverTCP is the bus through a transparent serial server.
	RTUOverTCP string `json:"rtuovertcp"`
	// ModbusTCP is the bus behind a Modbus TCP gateway (0x0B for absent units).
	ModbusTCP string `json:"modbus_tcp"`
	// Meters on the line; Collided lists unit ids shared by two meters.
	Meters   []BusMeter `json:"meters"`
	Collided []int      `json:"collided_unit_ids"`
	// Faults injected, in words.
	Faults []string `json:"faults"`
}

// BusMeter is one simulated meter as the endpoints document lists it.
type BusMeter struct {
	UnitID    int     `json:"unit_id"`
	Label     string  `json:"label"`
	Vendor    string  `json:"vendor"`
	Product   string  `json:"product"`
	Serial    uint32  `json:"serial"`
	LatencyMS float64 `json:"latency_ms"`
	// SerialRegisters say where the serial number can be read (scan
	// --id-register takes the reference).
	SerialRegisters []BusRegister `json:"serial_registers"`
	// Profile is the meter profile whose registers it serves (ectool
	// modbus read --meter), "" when none.
	Profile string `json:"profile,omitempty"`
	Note    string `json:"note,omitempty"`
}

// BusRegister is a register a lab meter serves, in the notation of
// --reg and --id-register.
type BusRegister struct {
	Reference string `json:"reference"`
	Table     string `json:"table"`
	Address   int    `json:"address"`
	Type      string `json:"type"`
	Order     string `json:"order"`
	// Map is "lab" for the map every lab meter has, else the profile
	// whose maker's register it is.
	Map string `json:"map"`
}

// busComponent runs lab/bus as a site component.
type busComponent struct {
	b   *bus.Bus
	pty *bus.PTY
	rtu *bus.RTUOverTCP
	gw  *bus.Gateway
}

func (c *busComponent) Name() string { return "bus" }

func (c *busComponent) Start(ctx context.Context, s *Site) error {
	cfg, err := s.Config.Bus.config()
	if err != nil {
		return err
	}
	if c.b, err = bus.New(cfg); err != nil {
		return err
	}
	cfg = c.b.Config()
	set := cfg.Settings
	ep := &BusEndpoints{
		Scenario: cfg.Name, Description: cfg.Description,
		Settings: set.String(), Baud: set.Baud, DataBits: set.DataBits, Parity: string(rune(set.Parity)), StopBits: set.StopBits,
		Meters: []BusMeter{}, Collided: []int{}, Faults: busFaults(cfg),
	}
	addr := func(offset int) string {
		return net.JoinHostPort(s.Config.Host, strconv.Itoa(s.Port(offset)))
	}
	if c.rtu, err = c.b.ServeRTUOverTCP(addr(OffsetRTUOverTCP)); err != nil {
		c.Stop()
		return err
	}
	ep.RTUOverTCP = c.rtu.URL()
	if c.gw, err = c.b.ServeGateway(addr(OffsetModbusTCP)); err != nil {
		c.Stop()
		return err
	}
	ep.ModbusTCP = c.gw.URL()
	switch {
	case s.Config.Bus.NoPTY:
		ep.PTYUnavailable = "turned off"
	default:
		x, err := c.b.OpenPTY(filepath.Join(s.Config.Dir, "rs485"))
		if err != nil {
			// not fatal: rtuovertcp:// reaches the same line
			ep.PTYUnavailable = err.Error()
			break
		}
		c.pty = x
		ep.PTY, ep.PTYLink = x.Path(), x.Link()
	}
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && ep.PTYUnavailable == "" {
		ep.PTYUnavailable = "not supported on " + runtime.GOOS
	}
	for _, m := range cfg.Meters {
		bm := BusMeter{UnitID: int(m.Unit), Label: m.Label, Vendor: m.Vendor, Product: m.Product, Serial: m.Serial,
			LatencyMS: float64(m.Latency.Microseconds()) / 1000, Profile: m.Profile}
		for _, r := range m.SerialRegisters() {
			bm.SerialRegisters = append(bm.SerialRegisters, BusRegister{Reference: r.Register.Reference(), Table: r.Register.Table.String(),
				Address: int(r.Register.Address), Type: string(r.Type), Order: string(r.Order), Map: r.Map})
		}
		switch {
		case m.ExceptionsOnly:
			bm.Note = fmt.Sprintf("answers every request with exception 0x%02X", m.Exception)
		case m.Latency >= 100*time.Millisecond:
			bm.Note = "slow"
		case m.Alternate:
			bm.Note = "takes turns with its twin"
		case m.SwapWords:
			bm.Note = "sends its words swapped against its manual"
		case m.Corrupt > 0:
			bm.Note = fmt.Sprintf("flips a bit in %.0f%% of its answers", 100*m.Corrupt)
		}
		ep.Meters = append(ep.Meters, bm)
	}
	_, collided := cfg.Units()
	for _, u := range collided {
		ep.Collided = append(ep.Collided, int(u))
	}
	s.Endpoints.Bus = ep
	return nil
}

func (c *busComponent) Stop() error {
	if c.pty != nil {
		c.pty.Close()
	}
	if c.gw != nil {
		c.gw.Close()
	}
	if c.rtu != nil {
		c.rtu.Close()
	}
	if c.b != nil {
		return c.b.Close()
	}
	return nil
}

// busFaults words the scenario's faults for the endpoints document.
func busFaults(cfg bus.Config) []string {
	f := []string{}
	_, collided := cfg.Units()
	for _, u := range collided {
		f = append(f, fmt.Sprintf("two meters share address %d", u))
	}
	for _, m := range cfg.Meters {
		if m.ExceptionsOnly {
			f = append(f, fmt.Sprintf("meter %d answers only with exceptions", m.Unit))
		}
		if m.Latency >= 100*time.Millisecond {
			f = append(f, fmt.Sprintf("meter %d answers after %s", m.Unit, m.Latency))
		}
		if m.SwapWords {
			f = append(f, fmt.Sprintf("meter %d (%s %s) sends its words swapped against its manual", m.Unit, m.Vendor, m.Product))
		}
		if m.Corrupt > 0 {
			f = append(f, fmt.Sprintf("meter %d flips a bit in %.0f%% of its answers (seeded)", m.Unit, 100*m.Corrupt))
		}
	}
	if n := cfg.Faults.Noise; n != nil {
		f = append(f, fmt.Sprintf("line noise (a pulse every %s on average)", n.Every))
	}
	if m := cfg.Faults.SecondMaster; m != nil {
		f = append(f, fmt.Sprintf("a second master polls unit %d every %s", m.Unit, m.Every))
	}
	if cfg.Faults.Echo {
		f = append(f, "the PTY adapter echoes what it sends")
	}
	if cfg.Faults.GatewayPathUnavailable {
		f = append(f, "the Modbus TCP gateway's serial side is down (exception 0x0A)")
	}
	return f
}
