package bus

import (
	"math/rand/v2"
	"time"

	"github.com/ecdata/ectool/probe/modbus"
)

// startFaults schedules the scenario's noise and second master. Both run in
// line time from a seeded generator, so a scenario replays identically.
// Callers hold b.mu.
func startFaults(b *Bus) {
	if n := b.cfg.Faults.Noise; n != nil {
		rng := rand.New(rand.NewPCG(b.cfg.Seed, 0x6e6f697365))
		src := &Port{bus: b, name: "noise"}
		var pulse func(at time.Duration)
		gap := func() time.Duration {
			return time.Duration(rng.ExpFloat64() * float64(n.Every))
		}
		pulse = func(at time.Duration) {
			// a glitch of 1-4 bit times, sometimes two close together:
			// receivers see a start bit and read garbage
			levels := make([]byte, 0, 12)
			for range 1 + rng.IntN(4) {
				levels = append(levels, 0)
			}
			if rng.IntN(3) == 0 {
				levels = append(levels, 1, 1, 1)
				for range 1 + rng.IntN(3) {
					levels = append(levels, 0)
				}
			}
			b.transmitLevels(src, levels, b.cfg.Settings.Baud, at)
			b.after(at+gap(), pulse)
		}
		b.after(gap(), pulse)
	}
	if sm := b.cfg.Faults.SecondMaster; sm != nil {
		src := &Port{bus: b, name: "second master", settings: b.cfg.Settings}
		req := modbus.EncodeRTU(sm.Unit, modbus.ReadRequest{Function: modbus.FuncReadHoldingRegisters, Address: 0, Quantity: 10}.PDU())
		var poll func(at time.Duration)
		poll = func(at time.Duration) {
			b.transmit(src, req, b.cfg.Settings, at)
			b.after(at+sm.Every, poll)
		}
		b.after(sm.Every/2, poll)
	}
}
