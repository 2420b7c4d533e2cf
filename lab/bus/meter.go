package bus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ecdata/ectool/probe/modbus"
)

// meter is a simulated energy meter: a Modbus RTU server on the line.
type meter struct {
	b    *Bus
	cfg  *MeterConfig
	port *Port
	in   framer
	// Alternating twins take turns: each counts the requests to its unit
	// (they all hear the same ones) and answers when the count comes to it.
	seen      int
	idx, size int
	jitter    *rand.Rand
	// profile is what the meter serves from its profile (nil: none).
	profile *profileMap
	// corrupt decides which answers leave with a bit flipped (Corrupt).
	corrupt *rand.Rand
	// settings are the writable holding registers (settingsFrom up to
	// settingsTo), once written.
	settings map[uint16]uint16
}

// The lab map's writable holding registers: 20-29 (40021-40030), settings
// a technician may set; every other register is read-only.
const (
	settingsFrom = 20
	settingsTo   = 29
)

// write answers FC 06 and 16 (and takes a broadcast's): the settings
// registers take any value; elsewhere the meter answers 0x02. The Eastron
// meters take only FC 16, as their manuals say, and answer FC 06 with
// 0x01.
func (m *meter) write(p modbus.PDU) modbus.PDU {
	var addr uint16
	var values []uint16
	switch p.Function {
	case modbus.FuncWriteSingleRegister:
		if m.cfg.Vendor == "Eastron" {
			return modbus.ExceptionResponse(p.Function, modbus.ExIllegalFunction)
		}
		w, err := modbus.ParseWriteSingleRegister(p)
		if err != nil {
			return modbus.ExceptionResponse(p.Function, modbus.ExIllegalDataValue)
		}
		addr, values = w.Address, []uint16{w.Value}
	default:
		w, err := modbus.ParseWriteMultipleRegisters(p)
		if err != nil {
			return modbus.ExceptionResponse(p.Function, modbus.ExIllegalDataValue)
		}
		addr, values = w.Address, w.Values
	}
	if int(addr) < settingsFrom || int(addr)+len(values)-1 > settingsTo {
		return modbus.ExceptionResponse(p.Function, modbus.ExIllegalDataAddress)
	}
	if m.settings == nil {
		m.settings = map[uint16]uint16{}
	}
	for i, v := range values {
		m.settings[addr+uint16(i)] = v
	}
	if p.Function == modbus.FuncWriteSingleRegister {
		return p // the echo
	}
	return modbus.WriteAck{Function: p.Function, Address: addr, Quantity: uint16(len(values))}.PDU()
}

func newMeter(b *Bus, cfg *MeterConfig, i int) {
	m := &meter{b: b, cfg: cfg}
	m.port = &Port{bus: b, name: "meter " + cfg.Label, settings: b.cfg.Settings}
	m.in = framer{silence: b.cfg.Settings.Silence(), onFrame: m.frame}
	m.port.onChar = m.in.char
	m.port.onTick = m.in.tick
	m.port.pending = m.in.waiting
	// twins taking turns: this meter's place among them
	for j, o := range b.cfg.Meters {
		if o.Unit == cfg.Unit && o.Alternate && cfg.Alternate {
			if j < i {
				m.idx++
			}
			m.size++
		}
	}
	m.jitter = rand.New(rand.NewPCG(b.cfg.Seed, uint64(i)+1))
	m.corrupt = rand.New(rand.NewPCG(b.cfg.Seed^0xc0bb0b, uint64(i)+1))
	m.profile = newProfileMap(cfg)
	m.port.device = m
	b.addPort(m.port)
}

// frame handles one silence-delimited frame the meter heard. Like a real
// device it drops frames with UART errors or a bad CRC without a word, and
// answers only its own address (never broadcast, unit 0).
func (m *meter) frame(raw []byte, cleanFrom int, last time.Duration) {
	req, ok := m.request(raw, cleanFrom)
	if !ok {
		return
	}
	var reply modbus.PDU
	f, err := modbus.DecodeRTU(req, modbus.Request)
	switch {
	case errors.Is(err, modbus.ErrUnknownFunction):
		// a CRC-valid frame of a function we cannot frame: not supported
		reply = modbus.ExceptionResponse(req[1], modbus.ExIllegalFunction)
	case err != nil:
		return // not a request (another device's answer, a cut frame)
	case f.Unit == 0:
		// a broadcast: a write takes effect, nothing is ever answered
		if !m.cfg.ExceptionsOnly && (f.PDU.Function == modbus.FuncWriteSingleRegister || f.PDU.Function == modbus.FuncWriteMultipleRegisters) {
			m.write(f.PDU)
		}
		return
	default:
		reply = m.answer(f.PDU, last)
	}
	m.b.stats.Requests++
	if m.cfg.Alternate {
		m.seen++
		if (m.seen-1)%m.size != m.idx {
			return
		}
	}
	m.b.stats.Replies++
	delay := m.cfg.Latency
	if m.cfg.Jitter > 0 {
		delay += time.Duration(m.jitter.Int64N(int64(m.cfg.Jitter)))
	}
	m.b.transmit(m.port, m.damage(modbus.EncodeRTU(m.cfg.Unit, reply)), m.b.cfg.Settings, last+delay)
}

// damage flips one bit after the address byte in a Corrupt fraction of the
// meter's answers, so the master sees a CRC error from this address now
// and then. The draws come from a generator of their own, so the faults
// replay with the scenario's seed and leave the other randomness alone.
func (m *meter) damage(frame []byte) []byte {
	if m.cfg.Corrupt <= 0 || m.corrupt.Float64() >= m.cfg.Corrupt {
		return frame
	}
	i := 1 + m.corrupt.IntN(len(frame)-1)
	frame[i] ^= 1 << m.corrupt.IntN(8)
	return frame
}

// request is this meter's request in a frame: the whole frame when it is
// clean, addressed to this meter and its CRC holds; otherwise a clean tail
// of the frame that is. The tail case is a master that sends its next
// request less than t3.5 after another device's answer (libmodbus, and so
// mbpoll -a 1:3, polls the next address straight after an answer): a strict
// t3.5 framer hears answer and request as one frame and drops it, while the
// meters found in the field resynchronise on a fresh address, function code
// and CRC, and answer. A tail must itself be a whole request (length from
// its function code, CRC) to this meter's address, so another device's
// answer or line noise cannot pass for one.
func (m *meter) request(raw []byte, cleanFrom int) ([]byte, bool) {
	for i := cleanFrom; i+4 <= len(raw); i++ {
		tail := raw[i:]
		if (tail[0] != m.cfg.Unit && (tail[0] != 0 || i > 0)) || !modbus.CRCValid(tail) {
			continue
		}
		if i == 0 {
			return tail, true
		}
		if _, err := modbus.DecodeRTU(tail, modbus.Request); err == nil || errors.Is(err, modbus.ErrUnknownFunction) {
			return tail, true
		}
	}
	return nil, false
}

// answer is the meter's reply to a request.
func (m *meter) answer(p modbus.PDU, at time.Duration) modbus.PDU {
	if m.cfg.ExceptionsOnly {
		return modbus.ExceptionResponse(p.Function, modbus.ExceptionCode(m.cfg.Exception))
	}
	switch p.Function {
	case modbus.FuncReadHoldingRegisters, modbus.FuncReadInputRegisters:
		return m.readRegisters(p, at)
	case modbus.FuncWriteSingleRegister, modbus.FuncWriteMultipleRegisters:
		return m.write(p)
	case modbus.FuncReportServerID:
		if m.cfg.NoIdentity {
			break
		}
		id := fmt.Sprintf("%s %s %s S/N %d", m.cfg.Vendor, m.cfg.Product, m.cfg.Revision, m.cfg.Serial)
		return modbus.ServerIDResponse(append([]byte{m.cfg.Unit, 0xFF}, id...))
	case modbus.FuncEncapsulatedInterface:
		if m.cfg.NoIdentity {
			break
		}
		return m.deviceID(p)
	}
	return modbus.ExceptionResponse(p.Function, modbus.ExIllegalFunction)
}

// readRegisters answers FC 03 and 04: each register from the profile
// where it maps one on that table, else from the lab's own map (addresses
// below Registers, both tables alike), else 0 between the profile's first
// and last register on that table, else the read fails with 0x02 as a
// meter's does for an address it lacks.
func (m *meter) readRegisters(p modbus.PDU, at time.Duration) modbus.PDU {
	r, err := modbus.ParseReadRequest(p)
	if err != nil {
		return modbus.ExceptionResponse(p.Function, modbus.ExIllegalDataValue)
	}
	if int(r.Address)+int(r.Quantity) > 0x10000 {
		return modbus.ExceptionResponse(p.Function, modbus.ExIllegalDataAddress)
	}
	if m.b.cfg.StillValues {
		at = 0
	}
	table := modbus.TableOfFunction(p.Function)
	cache := map[int][]uint16{}
	regs := make([]uint16, r.Quantity)
	for i := range regs {
		a := r.Address + uint16(i)
		if v, ok := m.profileWord(table, a, at, cache); ok {
			regs[i] = v
			continue
		}
		set, written := m.settings[a]
		switch {
		case written && table == modbus.TableHolding:
			regs[i] = set
		case int(a) < m.cfg.Registers:
			regs[i] = m.register(p.Function, a, at)
		case m.profile.inEnvelope(table, a):
			regs[i] = 0
		default:
			return modbus.ExceptionResponse(p.Function, modbus.ExIllegalDataAddress)
		}
	}
	return modbus.RegistersResponse(p.Function, regs)
}

// deviceID answers Read Device Identification with conformity level 0x83
// (basic, regular and extended objects, stream and individual access). The
// serial number is private object 0x80.
func (m *meter) deviceID(p modbus.PDU) modbus.PDU {
	code, obj, err := modbus.ParseReadDeviceIDRequest(p)
	if err != nil {
		return modbus.ExceptionResponse(p.Function, modbus.ExIllegalDataValue)
	}
	objects := []modbus.DeviceIDObject{
		{ID: modbus.ObjVendorName, Value: []byte(m.cfg.Vendor)},
		{ID: modbus.ObjProductCode, Value: []byte(m.cfg.Product)},
		{ID: modbus.ObjMajorMinorRevision, Value: []byte(m.cfg.Revision)},
		{ID: modbus.ObjProductName, Value: []byte(m.cfg.Product)},
		{ID: modbus.ObjModelName, Value: []byte(m.cfg.Model)},
		{ID: 0x80, Value: fmt.Appendf(nil, "%d", m.cfg.Serial)},
	}
	last := map[byte]byte{modbus.DeviceIDBasic: 0x02, modbus.DeviceIDRegular: 0x7F, modbus.DeviceIDExtended: 0xFF}
	d := modbus.DeviceID{ReadCode: code, Conformity: 0x83}
	switch code {
	case modbus.DeviceIDSpecific:
		for _, o := range objects {
			if o.ID == obj {
				d.Objects = []modbus.DeviceIDObject{o}
				return d.PDU()
			}
		}
		return modbus.ExceptionResponse(p.Function, modbus.ExIllegalDataAddress)
	case modbus.DeviceIDBasic, modbus.DeviceIDRegular, modbus.DeviceIDExtended:
		if obj > last[code] || code != modbus.DeviceIDExtended && obj > 0x06 {
			obj = 0 // the specification restarts an out-of-range stream at 0
		}
		for _, o := range objects {
			if o.ID >= obj && o.ID <= last[code] {
				d.Objects = append(d.Objects, o)
			}
		}
		return d.PDU()
	}
	return modbus.ExceptionResponse(p.Function, modbus.ExIllegalDataValue)
}

// register is the value of a register of the lab's own map at line time
// at, served where the meter's profile maps nothing. The map is the same
// for holding and input registers and looks like a three-phase meter's:
//
//	0-2   voltage L1-L3, 0.1 V (around 230 V, wandering each second)
//	3-5   current L1-L3, 0.01 A
//	6     active power, W
//	7     frequency, 0.01 Hz
//	8-9   active energy import, Wh, 32 bits big-endian (grows with time)
//	16-17 serial number, 32 bits big-endian
//	18    unit id
//	19    baud rate / 100
//	others: a fixed per-meter pattern
func (m *meter) register(fc byte, addr uint16, at time.Duration) uint16 {
	sec := int64(at / time.Second)
	seed := int64(m.cfg.Serial % 97)
	wobble := func(k int64) uint16 { return uint16((sec*7 + seed + k*13) % 11) }
	energy := uint32(int64(m.cfg.Serial%50000)*10 + int64(at/time.Millisecond)*int64(1000+seed*10)/3_600_000)
	switch addr {
	case 0, 1, 2:
		return 2280 + uint16(seed%20) + wobble(int64(addr))
	case 3, 4, 5:
		return 420 + uint16(seed*3%200) + wobble(int64(addr))*4
	case 6:
		return 1000 + uint16(seed*10) + wobble(6)*3
	case 7:
		return 4995 + wobble(7)%10
	case 8:
		return uint16(energy >> 16)
	case 9:
		return uint16(energy)
	case 16:
		return uint16(m.cfg.Serial >> 16)
	case 17:
		return uint16(m.cfg.Serial)
	case 18:
		return uint16(m.cfg.Unit)
	case 19:
		return uint16(m.b.cfg.Settings.Baud / 100)
	}
	var x [4]byte
	binary.BigEndian.PutUint32(x[:], m.cfg.Serial*2654435761+uint32(addr)*40503+uint32(fc))
	return binary.BigEndian.Uint16(x[1:3]) % 1000
}
