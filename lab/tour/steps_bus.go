package tour

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/ecdata/ectool/lab"
	"github.com/ecdata/ectool/probe/modbus"
)

// The steps on the lab's RS-485 bus: scan, through the gateway, at the
// wrong baud rate, with --auto-detect, and --id-register on twins.

// busScanIDs are the addresses the tour scans: enough to show the meters
// and the collision without a full 1-247 sweep.
const busScanIDs = "1-20"

// scanDetails is what the tour reads of `scan -o json`'s details.
type scanDetails struct {
	Devices    []modbus.Device `json:"devices"`
	Settings   modbus.Settings `json:"settings"`
	Autodetect *struct {
		Found    bool                  `json:"found"`
		Settings modbus.SerialSettings `json:"settings"`
	} `json:"autodetect"`
}

// scanResult reads a scan's report (exit 0 or 1: it ran) and its details.
func scanResult(c *Command, codes ...int) (*Doc, *scanDetails, Verdict) {
	if v := wantExit(c, codes...); v.failed() {
		return nil, nil, v
	}
	d, err := c.Report()
	if err != nil {
		return nil, nil, problem("%s: %v", commandName(c), err)
	}
	var sd scanDetails
	if err := d.DetailsInto(&sd); err != nil {
		return nil, nil, problem("scan: %v", err)
	}
	return d, &sd, Verdict{}
}

// device is the scan's device at unit, or nil.
func (sd *scanDetails) device(unit int) *modbus.Device {
	for i := range sd.Devices {
		if sd.Devices[i].UnitID == unit {
			return &sd.Devices[i]
		}
	}
	return nil
}

// verdicts lists the scan's devices as "17 collision" for the evidence.
func (sd *scanDetails) verdicts() []string {
	out := []string{}
	for _, d := range sd.Devices {
		out = append(out, fmt.Sprintf("%d %s", d.UnitID, d.Verdict))
	}
	return out
}

func stepBusScan(ctx context.Context, tr *Tour) Verdict {
	b := tr.EP.Bus
	if b == nil {
		return skip("the lab runs without its bus")
	}
	c := tr.Run(ctx, "scan", b.RTUOverTCP, "--ids", busScanIDs, "--listen", "500ms")
	return judgeBusScan(c, b, true)
}

func stepBusGateway(ctx context.Context, tr *Tour) Verdict {
	b := tr.EP.Bus
	if b == nil {
		return skip("the lab runs without its bus")
	}
	c := tr.Run(ctx, "scan", b.ModbusTCP, "--ids", busScanIDs)
	return judgeBusScan(c, b, false)
}

// judgeBusScan checks a tour scan against what the scenario put on the
// bus: every single meter found ok, and on the serial side the collision
// named; behind the gateway a collided address never passes for one meter.
func judgeBusScan(c *Command, b *lab.BusEndpoints, serialSide bool) Verdict {
	_, sd, v := scanResult(c, 0, 1)
	if v.failed() {
		return v
	}
	v = Verdict{}.with("collided_unit_ids", b.Collided, "devices", sd.verdicts())
	collided := map[int]bool{}
	for _, id := range b.Collided {
		collided[id] = true
	}
	for _, m := range b.Meters {
		if collided[m.UnitID] || m.UnitID > 20 {
			continue
		}
		if d := sd.device(m.UnitID); d == nil || d.Verdict != modbus.VerdictOK {
			v.Problem = fmt.Sprintf("the scan does not list meter %d as ok", m.UnitID)
			return v
		}
	}
	for _, id := range b.Collided {
		if id > 20 {
			continue // not in busScanIDs
		}
		d := sd.device(id)
		switch {
		case d != nil && d.Verdict == modbus.VerdictOK:
			v.Problem = fmt.Sprintf("the scan lists address %d, where two meters answer, as one healthy meter", id)
			return v
		case serialSide && (d == nil || d.Verdict != modbus.VerdictCollision):
			v.Problem, v.Hint = fmt.Sprintf("the scan does not name the collision at %d", id), fmt.Sprintf("two meters share address %d", id)
			return v
		case serialSide && c.ExitCode != 1:
			v.Problem = fmt.Sprintf("scan exited %d with a collision at %d, want 1", c.ExitCode, id)
			return v
		}
	}
	return v
}

// busPTY is the lab bus for the steps that open its PTY, or why they skip.
func busPTY(tr *Tour) (*lab.BusEndpoints, string) {
	switch b := tr.EP.Bus; {
	case b == nil:
		return nil, "the lab runs without its bus"
	case b.PTY == "":
		return nil, "no PTY: " + b.PTYUnavailable
	default:
		return b, ""
	}
}

func stepBusWrongBaud(ctx context.Context, tr *Tour) Verdict {
	b, why := busPTY(tr)
	if why != "" {
		return skip("%s", why)
	}
	wrong := "19200"
	if b.Baud == 19200 {
		wrong = "9600"
	}
	c := tr.Run(ctx, "scan", b.PTYLink, "--baud", wrong, "--parity", b.Parity, "--ids", "1-3", "--listen", "200ms")
	d, sd, v := scanResult(c, 1)
	if v.failed() {
		v.Hint = "no meter can answer at the wrong baud rate"
		return v
	}
	v = Verdict{}.with("baud", wrong, "bus_baud", b.Baud)
	for _, m := range b.Meters {
		if dev := sd.device(m.UnitID); dev != nil && dev.Verdict == modbus.VerdictOK {
			v.Problem = fmt.Sprintf("meter %d answered cleanly at the wrong baud rate", m.UnitID)
			return v
		}
	}
	if d.FirstFailure == nil || !strings.HasPrefix(d.FirstFailure.ID, "bus.") {
		v.Problem = "the scan does not name a failed bus check"
	}
	return v
}

func stepBusAutodetect(ctx context.Context, tr *Tour) Verdict {
	b, why := busPTY(tr)
	if why != "" {
		return skip("%s", why)
	}
	c := tr.Run(ctx, "scan", b.PTYLink, "--auto-detect", "--ids", "1-3", "--listen", "200ms")
	d, sd, v := scanResult(c, 0, 1)
	if v.failed() {
		return v
	}
	v = Verdict{}.with("bus_settings", b.Settings)
	want := modbus.SerialSettings{Baud: b.Baud, DataBits: b.DataBits, Parity: b.Parity, StopBits: b.StopBits}
	switch {
	case sd.Autodetect == nil || !sd.Autodetect.Found:
		v.Problem = "the scan reports no settings found (details.autodetect)"
	case sd.Autodetect.Settings != want:
		v.Problem = fmt.Sprintf("the scan concluded %s, the bus runs at %s", sd.Autodetect.Settings, want)
	case d.Check("bus.autodetect") == nil || d.Check("bus.autodetect").Status != ok:
		v.Problem = "bus.autodetect is not ok in the scan's report"
	}
	return v.with("found", sd.Autodetect != nil && sd.Autodetect.Found)
}

// stepScanIDs starts a second lab whose twins at one address take turns
// (the scenario "alternating": on the lab's own bus the twins answer at
// once, so no read of a serial number survives), and scans it with
// --id-register at the register the lab says holds each meter's serial
// number: two serial numbers at one address tell the twins apart.
func stepScanIDs(ctx context.Context, tr *Tour) Verdict {
	if tr.EP.Bus == nil {
		return skip("the lab runs without its bus")
	}
	second := tr.Start(ctx, "lab", "--bus-scenario", "alternating", "--no-modem", "--no-capture", "--no-websocket",
		"--meters", "main", "--duration", "5m")
	line, err := second.FirstLine(ctx)
	if err != nil {
		tr.Show(second.Stop())
		return problem("the second lab did not start: %v", err)
	}
	var ep lab.Endpoints
	if err := json.Unmarshal([]byte(line), &ep); err != nil || ep.Schema != lab.Schema || ep.Bus == nil {
		tr.Show(second.Stop())
		return problem("the second lab's first line is not its endpoints document (%s)", lab.Schema)
	}
	reg, twins, why := twinsRegister(ep.Bus)
	if why != "" {
		tr.Show(second.Stop())
		return problem("%s", why)
	}
	c := tr.Run(ctx, "scan", ep.Bus.RTUOverTCP, "--ids", unitList(ep.Bus), "--listen", "200ms", "--id-register", reg.Reference)
	tr.Note("the tour stops the second lab")
	tr.Show(second.Stop())
	if v := wantExit(second, 0); v.failed() {
		return v
	}
	return judgeScanIDs(c, ep.Bus, reg, twins)
}

// twinsRegister finds the collided address's twins and the register the
// lab says holds both their serial numbers.
func twinsRegister(b *lab.BusEndpoints) (lab.BusRegister, []lab.BusMeter, string) {
	if len(b.Collided) == 0 {
		return lab.BusRegister{}, nil, "the second lab has no two meters at one address"
	}
	var twins []lab.BusMeter
	for _, m := range b.Meters {
		if m.UnitID == b.Collided[0] {
			twins = append(twins, m)
		}
	}
	for _, r := range twins[0].SerialRegisters {
		shared := true
		for _, t := range twins[1:] {
			shared = shared && hasRegister(t.SerialRegisters, r)
		}
		if shared {
			return r, twins, ""
		}
	}
	return lab.BusRegister{}, nil, fmt.Sprintf("the twins at %d have no serial-number register in common", b.Collided[0])
}

func hasRegister(rs []lab.BusRegister, r lab.BusRegister) bool {
	for _, x := range rs {
		if x.Reference == r.Reference && x.Type == r.Type && x.Order == r.Order {
			return true
		}
	}
	return false
}

// unitList is every unit id of the bus's meters, "1,2,3,17".
func unitList(b *lab.BusEndpoints) string {
	seen := map[int]bool{}
	var ids []int
	for _, m := range b.Meters {
		if !seen[m.UnitID] {
			seen[m.UnitID] = true
			ids = append(ids, m.UnitID)
		}
	}
	sort.Ints(ids)
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

// judgeScanIDs wants the twins' address a collision whose id register
// values are exactly the twins' serial numbers.
func judgeScanIDs(c *Command, b *lab.BusEndpoints, reg lab.BusRegister, twins []lab.BusMeter) Verdict {
	_, sd, v := scanResult(c, 1)
	if v.failed() {
		v.Hint = "two meters share an address"
		return v
	}
	unit := twins[0].UnitID
	want := map[uint32]bool{}
	for _, t := range twins {
		want[t.Serial] = true
	}
	v = Verdict{}.with("id_register", reg.Reference, "devices", sd.verdicts())
	d := sd.device(unit)
	if d == nil || d.Verdict != modbus.VerdictCollision {
		v.Problem = fmt.Sprintf("the scan does not name the collision at %d", unit)
		return v
	}
	got := map[uint32]bool{}
	var serials []uint32
	for _, h := range d.IDRegisters {
		s, err := registerSerial(h, reg)
		if err != nil {
			v.Problem = fmt.Sprintf("address %d: id register value %s: %v", unit, h, err)
			return v
		}
		got[s] = true
		serials = append(serials, s)
	}
	v = v.with("serials_at_"+fmt.Sprint(unit), serials)
	if len(got) != len(want) {
		v.Problem = fmt.Sprintf("the scan read %d serial number(s) at %d (%v), the lab put %d meters there", len(got), unit, serials, len(want))
		return v
	}
	for s := range want {
		if !got[s] {
			v.Problem = fmt.Sprintf("the scan's serial numbers at %d are %v; the lab's twins are %v", unit, serials, keys(want))
			return v
		}
	}
	return v
}

// registerSerial decodes an id register value as scan reports it (the
// read's data: a byte count, then the registers) in the register's type
// and order.
func registerSerial(h string, reg lab.BusRegister) (uint32, error) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) < 1 || len(b) != 1+int(b[0]) || b[0]%2 != 0 {
		return 0, fmt.Errorf("not a register read")
	}
	words := make([]uint16, b[0]/2)
	for i := range words {
		words[i] = uint16(b[1+2*i])<<8 | uint16(b[2+2*i])
	}
	d, err := modbus.Decode(words, modbus.Type(reg.Type), modbus.Order(reg.Order), 1)
	if err != nil {
		return 0, err
	}
	return uint32(d.Number), nil
}

func keys(m map[uint32]bool) []uint32 {
	out := make([]uint32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
