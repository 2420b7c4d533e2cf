package bus

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ecdata/ectool/probe/modbus"
)

// Config is a bus scenario: the line settings, the meters on the line and
// the faults injected. Everything random in a scenario (noise) comes from
// Seed, so a scenario replays the same way every run.
type Config struct {
	// Name labels the scenario ("default").
	Name string `json:"name"`
	// Description says what the scenario shows, for `ectool lab --help`.
	Description string `json:"description"`
	// Settings are the line settings every meter uses.
	Settings Settings `json:"-"`
	// Seed drives everything random.
	Seed uint64 `json:"seed"`
	// Meters are the devices on the line. Two meters with the same Unit are
	// an address collision.
	Meters []MeterConfig `json:"meters"`
	// Faults are the line faults injected.
	Faults Faults `json:"faults"`
	// GatewayTimeout is how long the simulated Modbus TCP gateway waits for
	// a meter before answering exception 0x0B (default 250ms), in line
	// time from the request's last byte.
	GatewayTimeout time.Duration `json:"-"`
	// StillValues serves every register (the profiles' and the lab map's)
	// as at line time 0, so two readers polling one after the other read
	// the same words (peer tests). Energy then does not rise.
	StillValues bool `json:"still_values,omitempty"`
}

// MeterConfig is one simulated meter.
type MeterConfig struct {
	// Unit is the Modbus address, 1-247.
	Unit byte `json:"unit_id"`
	// Label tells twins apart in logs ("17a", "17b"); default the unit id.
	Label string `json:"label"`
	// Latency is the time from the end of a request's last character to the
	// start of the answer (default 5ms). A device cannot answer before it
	// has seen t3.5 of silence, so latency is at least t3.5 plus a step.
	Latency time.Duration `json:"-"`
	// Jitter adds a random (seeded) delay in [0, Jitter) to each answer,
	// as a device's firmware loop does.
	Jitter time.Duration `json:"-"`
	// Vendor, Product, Model, Revision and Serial are the identity reported
	// by FC 0x11 and FC 0x2B/0x0E; Serial is also in holding registers
	// 0x0010-0x0011.
	Vendor   string `json:"vendor"`
	Product  string `json:"product"`
	Model    string `json:"model"`
	Revision string `json:"revision"`
	Serial   uint32 `json:"serial"`
	// Registers is how many holding and input registers the meter has
	// (addresses 0..Registers-1; default 64). Reads beyond answer 0x02.
	Registers int `json:"registers"`
	// ExceptionsOnly makes the meter answer every request with Exception
	// (default 0x02 illegal data address): present, but useless.
	ExceptionsOnly bool `json:"exceptions_only,omitempty"`
	Exception      byte `json:"exception,omitempty"`
	// NoIdentity makes the meter answer FC 0x11 and 0x2B with exception
	// 0x01, like many cheap meters.
	NoIdentity bool `json:"no_identity,omitempty"`
	// Alternate makes meters sharing a unit id take turns: only one answers
	// each request, so only their differing values reveal them.
	Alternate bool `json:"alternate,omitempty"`
	// Profile names the meter profile (probe/modbus/profiles) whose
	// registers the meter serves besides the lab's own map; by default the
	// profile matching Vendor and Product, none when no profile does.
	Profile string `json:"profile,omitempty"`
	// SwapWords serves every multi-register value with its words in the
	// other order than the profile documents (ABCD as CDAB, BADC as
	// DCBA), as firmware that contradicts its manual does.
	SwapWords bool `json:"swap_words,omitempty"`
	// Corrupt is the fraction of this meter's answers (0 to 1) that leave
	// it with one bit flipped, from a generator seeded by Config.Seed: a
	// bad termination or a stub that hits one meter now and then.
	Corrupt float64 `json:"corrupt,omitempty"`
}

// Faults are injected line faults. All are off by default.
type Faults struct {
	// Echo makes the PTY adapter hear its own transmission, like RS-485
	// adapters whose receiver stays enabled while sending.
	Echo bool `json:"echo,omitempty"`
	// Noise puts short spurious pulses on the line.
	Noise *Noise `json:"noise,omitempty"`
	// SecondMaster is another master polling the bus.
	SecondMaster *SecondMaster `json:"second_master,omitempty"`
	// GatewayPathUnavailable makes the Modbus TCP gateway answer every
	// request with exception 0x0A, as when its serial side is down.
	GatewayPathUnavailable bool `json:"gateway_path_unavailable,omitempty"`
}

// Noise is line noise: pulses of a few bit times at random (seeded) moments.
type Noise struct {
	// Every is the mean time between pulses (default 200ms).
	Every time.Duration `json:"-"`
}

// SecondMaster polls Unit with FC 03 every Every (default 500ms): a gateway
// or PLC that is still live on the bus.
type SecondMaster struct {
	Unit  byte          `json:"unit_id"`
	Every time.Duration `json:"-"`
}

func (c Config) withDefaults() Config {
	if c.Settings == (Settings{}) {
		c.Settings = DefaultSettings
	}
	if c.GatewayTimeout == 0 {
		c.GatewayTimeout = 250 * time.Millisecond
	}
	if c.Name == "" {
		c.Name = "custom"
	}
	meters := make([]MeterConfig, len(c.Meters))
	for i, m := range c.Meters {
		if m.Latency == 0 {
			m.Latency = 5 * time.Millisecond
		}
		if minimum := c.Settings.Silence() + 2*step; m.Latency < minimum {
			m.Latency = minimum
		}
		if m.Registers == 0 {
			m.Registers = 64
		}
		if m.Label == "" {
			m.Label = fmt.Sprint(m.Unit)
		}
		if m.Vendor == "" {
			m.Vendor = "ecdata lab"
		}
		if m.Product == "" {
			m.Product = "EM-3"
		}
		if m.Model == "" {
			m.Model = "EM-3 three-phase meter"
		}
		if m.Revision == "" {
			m.Revision = "1.4.2"
		}
		if m.Serial == 0 {
			m.Serial = 24000000 + uint32(m.Unit)*1000 + uint32(i)
		}
		if m.ExceptionsOnly && m.Exception == 0 {
			m.Exception = 0x02
		}
		if m.Profile == "" {
			if p := modbus.ProfileFor(m.Vendor, m.Product); p != nil {
				m.Profile = p.Name
			}
		}
		meters[i] = m
	}
	c.Meters = meters
	if c.Faults.Noise != nil && c.Faults.Noise.Every == 0 {
		n := *c.Faults.Noise
		n.Every = 200 * time.Millisecond
		c.Faults.Noise = &n
	}
	if c.Faults.SecondMaster != nil && c.Faults.SecondMaster.Every == 0 {
		m := *c.Faults.SecondMaster
		m.Every = 500 * time.Millisecond
		c.Faults.SecondMaster = &m
	}
	return c
}

// Validate reports a scenario that cannot run.
func (c Config) Validate() error {
	if err := c.Settings.Validate(); err != nil {
		return fmt.Errorf("bus scenario %s: %w", c.Name, err)
	}
	for _, m := range c.Meters {
		if m.Unit < 1 || m.Unit > 247 {
			return fmt.Errorf("bus scenario %s: meter %s has unit id %d; meters use 1-247", c.Name, m.Label, m.Unit)
		}
		if m.Profile != "" {
			if _, err := modbus.ProfileByName(m.Profile); err != nil {
				return fmt.Errorf("bus scenario %s: meter %s: %w", c.Name, m.Label, err)
			}
		}
		if m.Corrupt < 0 || m.Corrupt > 1 {
			return fmt.Errorf("bus scenario %s: meter %s corrupts %g of its answers; give a fraction from 0 to 1", c.Name, m.Label, m.Corrupt)
		}
	}
	if sm := c.Faults.SecondMaster; sm != nil && (sm.Unit < 1 || sm.Unit > 247) {
		return fmt.Errorf("bus scenario %s: second master polls unit %d; use 1-247", c.Name, sm.Unit)
	}
	return nil
}

// Units lists the distinct unit ids on the bus, ascending, and the ones
// shared by more than one meter.
func (c Config) Units() (units, collided []byte) {
	n := map[byte]int{}
	for _, m := range c.Meters {
		n[m.Unit]++
	}
	for u, k := range n {
		units = append(units, u)
		if k > 1 {
			collided = append(collided, u)
		}
	}
	sort.Slice(units, func(i, j int) bool { return units[i] < units[j] })
	sort.Slice(collided, func(i, j int) bool { return collided[i] < collided[j] })
	return units, collided
}

// threeMeters are the healthy meters of the default lab: different makes,
// latencies and register maps, as on a real site.
func threeMeters() []MeterConfig {
	return []MeterConfig{
		{Unit: 1, Latency: 5 * time.Millisecond, Vendor: "Carlo Gavazzi", Product: "EM340", Model: "EM340DINAV23XS1X", Revision: "2.1", Serial: 11930231},
		{Unit: 2, Latency: 7 * time.Millisecond, Vendor: "Eastron", Product: "SDM630", Model: "SDM630-Modbus V2", Revision: "1.7", Serial: 20214417},
		// Its words come swapped against its manual, a common field story:
		// --order auto and the profile check have something to find.
		{Unit: 3, Latency: 12 * time.Millisecond, Vendor: "Schneider Electric", Product: "iEM3255", Model: "iEM3255", Revision: "3.0.12", Serial: 31100873, Registers: 120, SwapWords: true},
	}
}

// flaky are the three meters with one bit flipped in a fifth of meter
// 2's answers: errors that come and go, which one scan hardly sees and a
// watch counts.
func flaky() []MeterConfig {
	m := threeMeters()
	m[1].Corrupt = 0.2
	return m
}

// twins are two meters wired to one address: A answers after latency, B
// offset later. An offset below one frame's wire time overlaps the
// answers; above it, they arrive as two valid frames.
func twins(unit byte, latency, offset time.Duration, alternate bool) []MeterConfig {
	return []MeterConfig{
		{Unit: unit, Label: fmt.Sprintf("%da", unit), Latency: latency, Vendor: "Eastron", Product: "SDM120", Model: "SDM120-Modbus", Revision: "2.3", Serial: 17000451, Alternate: alternate},
		{Unit: unit, Label: fmt.Sprintf("%db", unit), Latency: latency + offset, Vendor: "Eastron", Product: "SDM120", Model: "SDM120-Modbus", Revision: "2.3", Serial: 17000982, Alternate: alternate},
	}
}

// jittery twins overlap by 0-500µs, a different amount each answer: some
// answers keep the address byte and fail the CRC, others are garbage.
func jittery() []MeterConfig {
	m := twins(17, 6*time.Millisecond, 0, false)
	m[1].Jitter = 500 * time.Microsecond
	return m
}

// Scenarios are the named scenarios `ectool lab --bus-scenario` offers.
func Scenarios() []Config {
	ms := func(extra ...[]MeterConfig) []MeterConfig {
		m := threeMeters()
		for _, e := range extra {
			m = append(m, e...)
		}
		return m
	}
	// Two answers 20µs apart (under half a bit at 9600 and 19200 baud)
	// overlap bit for bit: a receiver reads the common header (address 17,
	// function, byte count) and the AND of the data, so a frame from 17
	// with a bad CRC, the classic symptom. 350µs apart (three bits) even
	// the address byte is lost: garbage. A 9-byte register answer takes
	// 9.4ms at 9600 8N1; 15ms apart the two answers arrive whole.
	overlap := func() []MeterConfig { return twins(17, 6*time.Millisecond, 20*time.Microsecond, false) }
	exceptionOnly := []MeterConfig{{Unit: 5, Latency: 4 * time.Millisecond, Vendor: "Socomec", Product: "COUNTIS E23", Revision: "1.0", ExceptionsOnly: true, NoIdentity: true}}
	slow := []MeterConfig{{Unit: 9, Latency: 150 * time.Millisecond, Vendor: "ABB", Product: "B23 112-100", Revision: "2.08", Serial: 90451}}
	return []Config{
		{Name: "default", Description: "meters 1, 2, 3 and two meters sharing address 17 whose answers overlap", Meters: ms(overlap())},
		{Name: "clean", Description: "meters 1, 2, 3 and nothing wrong", Meters: ms()},
		{Name: "staggered", Description: "meters 1, 2, 3 and two meters at 17 answering one after the other (two valid frames)", Meters: ms(twins(17, 6*time.Millisecond, 15*time.Millisecond, false))},
		{Name: "alternating", Description: "meters 1, 2, 3 and two meters at 17 taking turns: only their values differ", Meters: ms(twins(17, 6*time.Millisecond, 0, true))},
		{Name: "garbled", Description: "meters 1, 2, 3 and two meters at 17 whose answers overlap into garbage (no valid address byte)", Meters: ms(twins(17, 6*time.Millisecond, 350*time.Microsecond, false))},
		{Name: "jittery", Description: "meters 1, 2, 3 and two meters at 17 whose answers overlap by a different amount each time", Meters: ms(jittery())},
		{Name: "exceptions", Description: "meters 1, 2, 3 and meter 5 that answers every request with exception 0x02", Meters: ms(exceptionOnly)},
		{Name: "slow", Description: "meters 1, 2, 3 and meter 9 answering after 150ms", Meters: ms(slow)},
		{Name: "slow-twins", Description: "meters 1, 2, 3, two meters at 17 whose answers overlap and meter 9 answering after 150ms (the scan benchmark's bus)", Meters: ms(overlap(), slow)},
		{Name: "noisy", Description: "the default bus with line noise", Meters: ms(overlap()), Faults: Faults{Noise: &Noise{Every: 150 * time.Millisecond}}},
		{Name: "second-master", Description: "the default bus with another master polling unit 1 every 500ms", Meters: ms(overlap()), Faults: Faults{SecondMaster: &SecondMaster{Unit: 1, Every: 500 * time.Millisecond}}},
		{Name: "echo", Description: "the default bus behind an adapter that echoes what it sends", Meters: ms(overlap()), Faults: Faults{Echo: true}},
		{Name: "faults", Description: "every fault that still lets a scan run: collision at 17, exception-only 5, slow 9, noise", Meters: ms(overlap(), exceptionOnly, slow), Faults: Faults{Noise: &Noise{Every: 400 * time.Millisecond}}},
		{Name: "even-parity", Description: "the default meters at 19200 8E1, for auto-detection", Settings: Settings{Baud: 19200, DataBits: 8, Parity: ParityEven, StopBits: 1}, Meters: ms(overlap())},
		{Name: "gateway-down", Description: "the default bus behind a gateway whose serial side is down (exception 0x0A)", Meters: ms(overlap()), Faults: Faults{GatewayPathUnavailable: true}},
		{Name: "flaky", Description: "meters 1, 2, 3 with one bit flipped in a fifth of meter 2's answers (a bad termination)", Meters: flaky()},
		{Name: "empty", Description: "no device at all"},
	}
}

// Scenario returns the named scenario, with its defaults filled in.
func Scenario(name string) (Config, error) {
	var names []string
	for _, c := range Scenarios() {
		if c.Name == name {
			return c.withDefaults(), nil
		}
		names = append(names, c.Name)
	}
	return Config{}, fmt.Errorf("unknown bus scenario %q: choose one of %s", name, strings.Join(names, ", "))
}

// Default is the default lab scenario: meters 1, 2 and 3 and two meters
// colliding at address 17, at 9600 8N1.
func Default() Config {
	c, _ := Scenario("default")
	return c
}
