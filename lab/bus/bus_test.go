package bus

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/probe/modbus"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// startBus runs a scenario for one test.
func startBus(t *testing.T, name string) *Bus {
	t.Helper()
	cfg, err := Scenario(name)
	if err != nil {
		t.Fatal(err)
	}
	return startConfig(t, cfg)
}

func startConfig(t *testing.T, cfg Config) *Bus {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// openPTY attaches the bus's PTY (Linux and macOS).
func openPTY(t *testing.T, b *Bus, link string) *PTY {
	t.Helper()
	x, err := b.OpenPTY(link)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

// master attaches an adapter to the bus with settings s.
func master(t *testing.T, b *Bus, s Settings, echo bool) *Port {
	t.Helper()
	p, err := b.Attach("test master", s, echo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// exchange sends req from p and returns what p heard in the window line
// seconds after the request's last byte left. It waits on line time, not
// the wall clock, so a loaded machine cannot cut the window short.
func exchange(t *testing.T, p *Port, req []byte, window time.Duration) []byte {
	t.Helper()
	for drained := false; !drained; {
		select {
		case <-p.Recv():
		default:
			drained = true
		}
	}
	if _, err := p.Write(req); err != nil {
		t.Fatal(err)
	}
	return hear(t, p, window)
}

// hear returns what p hears until the line time window after the end of
// its last transmission, without dropping what it heard before.
func hear(t *testing.T, p *Port, window time.Duration) []byte {
	t.Helper()
	b := p.bus
	b.mu.Lock()
	until := p.txEnd + window
	b.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	var got []byte
	for {
		select {
		case c := <-p.Recv():
			got = append(got, c...)
			continue
		default:
		}
		b.wake() // an idle simulation advances line time only when asked
		b.mu.Lock()
		done := b.frontier >= until
		b.mu.Unlock()
		if done { // everything up to the window's end is in the channel
			for {
				select {
				case c := <-p.Recv():
					got = append(got, c...)
				default:
					return got
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the simulation did not reach the end of the window in 30s")
		}
		time.Sleep(time.Millisecond)
	}
}

// answerLen is the length of an RTU answer to a read of n registers.
func answerLen(n int) int { return 5 + 2*n }

func readHolding(unit byte, addr, n uint16) []byte {
	return modbus.EncodeRTU(unit, modbus.ReadRequest{Function: modbus.FuncReadHoldingRegisters, Address: addr, Quantity: n}.PDU())
}

// answer decodes exactly one valid answer.
func answer(t *testing.T, got []byte) modbus.Frame {
	t.Helper()
	f, err := modbus.DecodeRTU(got, modbus.Response)
	if err != nil {
		t.Fatalf("answer % X: %v", got, err)
	}
	return f
}

// frames cuts what a master heard into frames with the codec's splitter.
func frames(got []byte) (valid []modbus.Frame, junk int) {
	s := modbus.NewSplitter(modbus.Response)
	evs := append(s.Feed(got, time.Now()), s.Flush()...)
	for _, e := range evs {
		if e.Kind == modbus.EvFrame {
			valid = append(valid, e.Frame)
		} else {
			junk++
		}
	}
	return valid, junk
}

func TestMeterAnswersWithItsSerialNumberInRegisters16And17(t *testing.T) {
	b := startBus(t, "default")
	p := master(t, b, b.Settings(), false)
	f := answer(t, exchange(t, p, readHolding(1, 16, 3), 50*time.Millisecond))
	regs, err := modbus.ParseRegisters(f.PDU)
	if err != nil || len(regs) != 3 {
		t.Fatalf("registers %v: %v", regs, err)
	}
	if serial := uint32(regs[0])<<16 | uint32(regs[1]); serial != 11930231 || regs[2] != 1 {
		t.Fatalf("serial %d unit %d, want 11930231 and 1", serial, regs[2])
	}
}

func TestEveryDefaultMeterAnswersItsOwnAddressOnly(t *testing.T) {
	b := startBus(t, "default")
	p := master(t, b, b.Settings(), false)
	for _, unit := range []byte{1, 2, 3} {
		if f := answer(t, exchange(t, p, readHolding(unit, 0, 2), 50*time.Millisecond)); f.Unit != unit {
			t.Errorf("unit %d answered for %d", f.Unit, unit)
		}
	}
	for _, unit := range []byte{4, 16, 18, 247} {
		if got := exchange(t, p, readHolding(unit, 0, 2), 50*time.Millisecond); len(got) != 0 {
			t.Errorf("absent unit %d: heard % X", unit, got)
		}
	}
}

// libmodbus sends its next request straight after an answer, with less than
// t3.5 of silence, so the other meters hear answer and request as one frame.
// Meter 2 resynchronises on its address, function code and CRC and answers;
// meter 1, whose answer starts the frame, stays quiet.
func TestMeterAnswersARequestGluedToAnotherMetersAnswer(t *testing.T) {
	b := startBus(t, "default")
	p := master(t, b, b.Settings(), false)
	glued := append(modbus.EncodeRTU(1, modbus.RegistersResponse(modbus.FuncReadHoldingRegisters, []uint16{2290})), readHolding(2, 18, 1)...)
	valid, junk := frames(exchange(t, p, glued, 80*time.Millisecond))
	if len(valid) != 1 || junk != 0 {
		t.Fatalf("glued answer+request: %d valid frames, %d junk, want meter 2's answer only", len(valid), junk)
	}
	regs, err := modbus.ParseRegisters(valid[0].PDU)
	if valid[0].Unit != 2 || err != nil || len(regs) != 1 || regs[0] != 2 {
		t.Fatalf("answer from unit %d registers %v (%v), want unit 2 reading 2", valid[0].Unit, regs, err)
	}
	// A request that is not a whole frame at the tail (its CRC cut) is still dropped.
	cut := glued[:len(glued)-1]
	if got := exchange(t, p, cut, 80*time.Millisecond); len(got) != 0 {
		t.Fatalf("glued answer + cut request: heard % X", got)
	}
}

func TestBroadcastIsNeverAnswered(t *testing.T) {
	b := startBus(t, "default")
	p := master(t, b, b.Settings(), false)
	if got := exchange(t, p, readHolding(0, 0, 2), 80*time.Millisecond); len(got) != 0 {
		t.Fatalf("broadcast answered: % X", got)
	}
	if got := exchange(t, p, modbus.EncodeRTU(0, modbus.ReportServerIDRequest()), 80*time.Millisecond); len(got) != 0 {
		t.Fatalf("broadcast 0x11 answered: % X", got)
	}
}

// events cuts what a master heard with the codec's splitter.
func events(got []byte) []modbus.Event {
	s := modbus.NewSplitter(modbus.Response)
	return append(s.Feed(got, time.Now()), s.Flush()...)
}

// In the default lab the twins at 17 answer 20µs apart: bit for bit on top
// of each other, so the master reads a frame from 17 whose CRC fails.
func TestTwinsAnsweringTogetherGiveCRCErrorsAt17(t *testing.T) {
	b := startBus(t, "default")
	p := master(t, b, b.Settings(), false)
	for range 3 {
		got := exchange(t, p, readHolding(17, 0, 2), 50*time.Millisecond)
		evs := events(got)
		if len(evs) != 1 || evs[0].Kind != modbus.EvCRCError || evs[0].Unit != 17 {
			t.Fatalf("twins at 17: heard % X = %v; want one frame from 17 with a bad CRC", got, evs)
		}
	}
	if b.Stats().Collisions == 0 {
		t.Fatal("no collision counted on the line")
	}
}

// Three bit times apart, even the address byte is lost.
func TestTwinsOverlappingByThreeBitsGiveGarbage(t *testing.T) {
	b := startBus(t, "garbled")
	p := master(t, b, b.Settings(), false)
	got := exchange(t, p, readHolding(17, 0, 2), 50*time.Millisecond)
	valid, _ := frames(got)
	if len(got) == 0 || len(valid) != 0 || got[0] == 17 {
		t.Fatalf("garbled twins at 17: heard % X; want garbage without a valid frame", got)
	}
}

// Twins with jitter overlap by a different amount each answer: over a few
// polls, some answers fail only the CRC and others are garbage.
func TestJitteryTwinsGarbleDifferentlyEachPoll(t *testing.T) {
	b := startBus(t, "jittery")
	p := master(t, b, b.Settings(), false)
	kinds := map[modbus.EventKind]int{}
	for range 12 {
		for _, e := range events(exchange(t, p, readHolding(17, 0, 2), 50*time.Millisecond)) {
			kinds[e.Kind]++
		}
	}
	if kinds[modbus.EvFrame] != 0 || kinds[modbus.EvCRCError] == 0 || len(kinds) < 2 {
		t.Fatalf("jittery twins: %v; want CRC errors and other garbage, no valid frame", kinds)
	}
}

func TestStaggeredTwinsArriveAsTwoValidFrames(t *testing.T) {
	b := startBus(t, "staggered")
	p := master(t, b, b.Settings(), false)
	got := exchange(t, p, readHolding(17, 16, 2), 50*time.Millisecond)
	valid, junk := frames(got)
	if len(valid) != 2 || junk != 0 {
		t.Fatalf("staggered twins: % X: %d valid frames, %d junk events; want 2 and 0", got, len(valid), junk)
	}
	a, _ := modbus.ParseRegisters(valid[0].PDU)
	c, _ := modbus.ParseRegisters(valid[1].PDU)
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatalf("twins report the same serial %v", a)
	}
}

func TestAlternatingTwinsTakeTurnsAndOnlyTheirValuesDiffer(t *testing.T) {
	b := startBus(t, "alternating")
	p := master(t, b, b.Settings(), false)
	var serials []string
	for range 4 {
		f := answer(t, exchange(t, p, readHolding(17, 16, 2), 50*time.Millisecond))
		regs, _ := modbus.ParseRegisters(f.PDU)
		serials = append(serials, fmt.Sprint(regs))
	}
	if serials[0] == serials[1] || serials[0] != serials[2] || serials[1] != serials[3] {
		t.Fatalf("serials %v: want two meters alternating", serials)
	}
}

func TestExceptionOnlyMeterAnswersEverythingWithAnException(t *testing.T) {
	b := startBus(t, "exceptions")
	p := master(t, b, b.Settings(), false)
	for _, req := range []modbus.PDU{
		modbus.ReadRequest{Function: modbus.FuncReadHoldingRegisters, Quantity: 1}.PDU(),
		modbus.ReadRequest{Function: modbus.FuncReadInputRegisters, Quantity: 1}.PDU(),
		modbus.ReportServerIDRequest(),
	} {
		f := answer(t, exchange(t, p, modbus.EncodeRTU(5, req), 50*time.Millisecond))
		if !f.PDU.IsException() || f.PDU.BaseFunction() != req.Function {
			t.Fatalf("meter 5 answered % X to function 0x%02X; want an exception", f.Raw, req.Function)
		}
	}
}

func TestExceptionsForUnsupportedFunctionsAndAddresses(t *testing.T) {
	b := startBus(t, "clean")
	p := master(t, b, b.Settings(), false)
	cases := []struct {
		name string
		req  modbus.PDU
		want modbus.ExceptionCode
	}{
		{"coils", modbus.ReadRequest{Function: modbus.FuncReadCoils, Quantity: 8}.PDU(), modbus.ExIllegalFunction},
		{"write", modbus.PDU{Function: modbus.FuncWriteSingleRegister, Data: []byte{0, 1, 0, 2}}, modbus.ExIllegalFunction},
		{"beyond the map", modbus.ReadRequest{Function: modbus.FuncReadHoldingRegisters, Address: 60, Quantity: 10}.PDU(), modbus.ExIllegalDataAddress},
		{"quantity 0", modbus.PDU{Function: modbus.FuncReadInputRegisters, Data: []byte{0, 0, 0, 0}}, modbus.ExIllegalDataValue},
		{"unknown function", modbus.PDU{Function: 0x41, Data: []byte{1, 2}}, modbus.ExIllegalFunction},
	}
	for _, c := range cases {
		f := answer(t, exchange(t, p, modbus.EncodeRTU(2, c.req), 50*time.Millisecond))
		if f.PDU.Exception() != c.want {
			t.Errorf("%s: answer % X, want exception %v", c.name, f.Raw, c.want)
		}
	}
}

func TestMeterIdentity(t *testing.T) {
	b := startBus(t, "clean")
	p := master(t, b, b.Settings(), false)
	f := answer(t, exchange(t, p, modbus.EncodeRTU(2, modbus.ReportServerIDRequest()), 50*time.Millisecond))
	id, err := modbus.ParseServerID(f.PDU)
	if err != nil || !bytes.Contains(id, []byte("Eastron SDM630")) || !bytes.Contains(id, []byte("20214417")) {
		t.Fatalf("0x11: %q, %v", id, err)
	}
	f = answer(t, exchange(t, p, modbus.EncodeRTU(2, modbus.ReadDeviceIDRequest(modbus.DeviceIDBasic, 0)), 50*time.Millisecond))
	d, err := modbus.ParseDeviceID(f.PDU)
	if err != nil || d.Object(modbus.ObjVendorName) != "Eastron" || d.Object(modbus.ObjProductCode) != "SDM630" || len(d.Objects) != 3 {
		t.Fatalf("0x2B basic: %+v, %v", d, err)
	}
	f = answer(t, exchange(t, p, modbus.EncodeRTU(2, modbus.ReadDeviceIDRequest(modbus.DeviceIDSpecific, 0x80)), 50*time.Millisecond))
	if d, err := modbus.ParseDeviceID(f.PDU); err != nil || d.Object(0x80) != "20214417" {
		t.Fatalf("0x2B serial: %+v, %v", d, err)
	}
}

func TestSlowMeterAnswersLate(t *testing.T) {
	b := startBus(t, "slow")
	p := master(t, b, b.Settings(), false)
	if got := exchange(t, p, readHolding(9, 0, 1), 60*time.Millisecond); len(got) != 0 {
		t.Fatalf("slow meter answered within 60ms: % X", got)
	}
	// The late answer (150 ms) reaches the master that asked; once it has
	// passed, the meter answers the next request, late again.
	if f := answer(t, hear(t, p, 400*time.Millisecond)); f.Unit != 9 {
		t.Fatalf("late answer from %d", f.Unit)
	}
	p2 := master(t, b, b.Settings(), false)
	got := exchange(t, p2, readHolding(9, 0, 1), 400*time.Millisecond)
	if f := answer(t, got); f.Unit != 9 {
		t.Fatalf("answer from %d", f.Unit)
	}
}

// A master's UART at other settings than the bus: the meters cannot read
// its requests and it cannot read their answers, as on a real line.
func TestWrongSettingsGarble(t *testing.T) {
	b := startBus(t, "clean")
	for _, s := range []Settings{
		{Baud: 19200, DataBits: 8, Parity: ParityNone, StopBits: 1},
		{Baud: 4800, DataBits: 8, Parity: ParityNone, StopBits: 1},
		{Baud: 9600, DataBits: 8, Parity: ParityEven, StopBits: 1},
		{Baud: 9600, DataBits: 8, Parity: ParityOdd, StopBits: 1},
		{Baud: 9600, DataBits: 7, Parity: ParityEven, StopBits: 1},
	} {
		p := master(t, b, s, false)
		for _, unit := range []byte{1, 2, 3} {
			got := exchange(t, p, readHolding(unit, 0, 2), 60*time.Millisecond)
			if valid, _ := frames(got); len(valid) != 0 {
				t.Errorf("%v: unit %d answered validly: % X", s, unit, got)
			}
		}
		p.Close()
	}
}

// A receiving UART checks only the first stop bit, so a master at 8N2 on an
// 8N1 bus works, as it does in the field.
func TestTwoStopBitsStillWorkOnAOneStopBitBus(t *testing.T) {
	b := startBus(t, "clean")
	p := master(t, b, Settings{Baud: 9600, DataBits: 8, Parity: ParityNone, StopBits: 2}, false)
	answer(t, exchange(t, p, readHolding(1, 0, 2), 50*time.Millisecond))
}

func TestEvenParityBusAnswersEvenParityMaster(t *testing.T) {
	b := startBus(t, "even-parity")
	p := master(t, b, b.Settings(), false)
	answer(t, exchange(t, p, readHolding(2, 0, 2), 50*time.Millisecond))
	q := master(t, b, DefaultSettings, false)
	if valid, _ := frames(exchange(t, q, readHolding(2, 0, 2), 50*time.Millisecond)); len(valid) != 0 {
		t.Fatal("8N1 master understood an 8E1 bus at 19200")
	}
}

func TestEchoingAdapterHearsItsOwnRequestFirst(t *testing.T) {
	b := startBus(t, "clean")
	p := master(t, b, b.Settings(), true)
	req := readHolding(1, 0, 2)
	got := exchange(t, p, req, 50*time.Millisecond)
	if !bytes.HasPrefix(got, req) {
		t.Fatalf("echoing adapter heard % X; want its request % X first", got, req)
	}
	answer(t, got[len(req):])
}

func TestSecondMasterPollsTheBus(t *testing.T) {
	b := startBus(t, "second-master")
	p := master(t, b, b.Settings(), false)
	var got []byte
	timeout := time.After(1500 * time.Millisecond)
	for len(got) < 2*(8+25) {
		select {
		case c := <-p.Recv():
			got = append(got, c...)
		case <-timeout:
			t.Fatalf("heard only % X in 1.5s", got)
		}
	}
	s := modbus.NewSplitter(modbus.Either)
	var req, resp int
	for _, e := range s.Feed(got, time.Now()) {
		if e.Kind == modbus.EvFrame && e.Frame.Unit == 1 {
			if e.Frame.Dir == modbus.Request {
				req++
			} else {
				resp++
			}
		}
	}
	if req == 0 || resp == 0 {
		t.Fatalf("second master: %d requests, %d answers in % X", req, resp, got)
	}
}

// Noise comes from the scenario's seed: two buses with one seed put the same
// pulses on the line at the same line times, and a listening UART reads the
// same garbage from them. The buses run in line time only (no wall clock).
func TestNoiseIsDeterministic(t *testing.T) {
	heard := func(seed uint64) string {
		cfg, _ := Scenario("noisy")
		cfg.Seed = seed
		b := newBus(cfg.withDefaults())
		var log []string
		l := &Port{bus: b, name: "listener", settings: b.cfg.Settings}
		l.onChar = func(c rxChar) { log = append(log, fmt.Sprintf("%02X/%d@%v", c.c, c.err, c.at)) }
		b.mu.Lock()
		b.addPort(l)
		b.advance(3 * time.Second)
		b.mu.Unlock()
		if len(log) < 5 {
			t.Fatalf("seed %d: only %d characters of noise in 3s", seed, len(log))
		}
		return fmt.Sprint(log)
	}
	if a, b := heard(7), heard(7); a != b {
		t.Fatalf("seed 7 twice gave different noise:\n%s\n%s", a, b)
	}
	if heard(7) == heard(8) {
		t.Fatal("seeds 7 and 8 gave the same noise")
	}
}

// A simulation the host starves is late with everything, the gateway's
// timeout included: while line time stands still (the simulation is not
// run, as on a starved host) the gateway gives no 0x0B, and once line time
// moves on it forwards the meter's answer, which came well within the
// timeout in line time.
func TestGatewayTimeoutRunsInLineTime(t *testing.T) {
	cfg := Default()
	cfg.GatewayTimeout = 40 * time.Millisecond
	b := newBus(cfg) // not running: line time moves only when the test says
	g, err := b.ServeGateway("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	req := modbus.ReadRequest{Function: modbus.FuncReadHoldingRegisters, Address: 16, Quantity: 2}.PDU()
	got := make(chan modbus.PDU, 1)
	go func() {
		r, _ := g.forward(1, req)
		got <- r
	}()
	var txEnd time.Duration
	for deadline := time.Now().Add(30 * time.Second); txEnd == 0; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		txEnd = g.port.txEnd
		b.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the gateway did not put the request on the line in 30s")
		}
	}
	// Five times the gateway timeout of wall time with line time standing
	// still: a wall-clock timeout would have answered by now.
	select {
	case r := <-got:
		t.Fatalf("the gateway answered %+v while line time stood still", r)
	case <-time.After(5 * cfg.GatewayTimeout):
	}
	b.mu.Lock()
	b.advance(txEnd + 2*cfg.GatewayTimeout)
	b.mu.Unlock()
	r := <-got
	if regs, err := modbus.ParseRegisters(r); err != nil || len(regs) != 2 || uint32(regs[0])<<16|uint32(regs[1]) != cfg.Meters[0].Serial {
		t.Fatalf("gateway answered %+v (%v), want meter 1's serial number %d", r, err, cfg.Meters[0].Serial)
	}
}

// Bytes a program writes enter the line when the adapter got them, not
// when the simulation, busy catching up on line time after the host
// starved it, lets go of the line.
func TestBytesWrittenWhileTheSimulationIsBusyKeepTheirTime(t *testing.T) {
	b := newBus(Default())
	p := &Port{name: "test master", settings: b.Settings()}
	if _, err := b.attach(p, nil); err != nil {
		t.Fatal(err)
	}
	read := make(chan time.Duration, 1)
	real := b.clock
	b.clock = func() time.Duration {
		now := real()
		select {
		case read <- now:
		default:
		}
		return now
	}
	b.mu.Lock() // the simulation, catching up
	wrote := make(chan error, 1)
	go func() {
		_, err := p.Write(readHolding(1, 0, 1))
		wrote <- err
	}()
	var at time.Duration
	select {
	case at = <-read:
	case <-time.After(10 * time.Second):
		b.mu.Unlock()
		t.Fatal("the write did not take its time before waiting for the simulation")
	}
	b.clock = real
	b.mu.Unlock()
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.bursts) != 1 || b.bursts[0].start != at {
		t.Fatalf("bursts %+v, want one starting at %v", b.bursts, at)
	}
}
