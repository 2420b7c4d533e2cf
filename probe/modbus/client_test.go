package modbus_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab/bus/bustest"
	"github.com/ecdata/ectool/probe/modbus"
)

// Read, write and watch against the lab bus (through its PTY, as a USB
// adapter) and pymodbus.

func clientOpts(target string) modbus.ClientOptions {
	t, err := modbus.ParseTarget(target)
	if err != nil {
		panic(err)
	}
	// 1 s per answer: the lab answers within 12 ms, but a loaded machine
	// starves the simulator now and then.
	return modbus.ClientOptions{Target: t, Listen: 300 * time.Millisecond, Timeout: time.Second}
}

func reg(t *testing.T, s string, table modbus.Table) *modbus.Register {
	t.Helper()
	r, err := modbus.ParseRegister(s, table)
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

func checks(rep *report.Report) string {
	var parts []string
	for _, c := range rep.Checks {
		parts = append(parts, c.ID+":"+string(c.Status))
	}
	return strings.Join(parts, " ")
}

func readReport(t *testing.T, o modbus.ReadOptions) (*modbus.ReadResult, *report.Report) {
	t.Helper()
	res, err := modbus.Read(context.Background(), o)
	rep := report.New("modbus read", o.Client.Target.String(), time.Now)
	res.Report(rep, o.Client.Target, err)
	rep.Finish()
	if err != nil {
		t.Fatalf("read: %v\n%s", err, checks(rep))
	}
	return res, rep
}

func TestReadDecodesAFloatAndSaysBothRegisterForms(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	// Without a profile, --order auto keeps every order within 1e9: a
	// float voltage's byte-reversed reading is often a plausible -2e6, so
	// some values may be "cannot tell" (a warning), never a guess.
	res, _ := readReport(t, modbus.ReadOptions{Client: clientOpts(pty.Path()), Unit: 2, Reg: reg(t, "30001", 0), Count: 3, Type: modbus.F32, Order: modbus.OrderAuto})
	if len(res.Values) != 3 {
		t.Fatalf("values %+v", res.Values)
	}
	for i, v := range res.Values {
		ch := v.OrderAuto
		if ch == nil || (ch.Verdict != modbus.OrderFound && ch.Verdict != modbus.OrderCannotTell) || !ch.Candidates[0].Plausible {
			t.Fatalf("value %d: %+v", i, v)
		}
		if f, _ := strconv.ParseFloat(ch.Candidates[0].Value, 64); f < 225 || f > 235 {
			t.Errorf("value %d: ABCD reads %s", i, ch.Candidates[0].Value)
		}
		if ch.Verdict == modbus.OrderCannotTell && (v.Value != "" || !strings.HasPrefix(v.String(), "cannot tell: ABCD ")) {
			t.Errorf("value %d: %q shown for %s", i, v.String(), ch.Verdict)
		}
	}
	if v := res.Values[1]; v.Reference != "30003" || v.Register != "30003 = input register 2 (0x0002), FC 04" || len(v.RawHex) != 9 {
		t.Errorf("second value %+v", v)
	}
	// The meter's profile names the range: one order, no doubt.
	p, _ := modbus.ProfileByName("sdm630")
	res, rep := readReport(t, modbus.ReadOptions{Client: clientOpts(pty.Path()), Unit: 2, Reg: reg(t, "30001", 0), Count: 1, Type: modbus.F32, Order: modbus.OrderAuto, Profile: p})
	if got := checks(rep); got != "bus.open:ok bus.listen:ok modbus.read:ok modbus.order:ok" || res.Values[0].Order != modbus.ABCD || res.Values[0].Unit != "V" {
		t.Fatalf("with the profile: %s %+v", got, res.Values)
	}
}

func TestReadWithAProfileNamesQuantitiesInUnits(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	p, _ := modbus.ProfileByName("sdm630")
	res, rep := readReport(t, modbus.ReadOptions{Client: clientOpts(pty.Path()), Unit: 2, Profile: p})
	if got := checks(rep); got != "bus.open:ok bus.listen:ok modbus.read:ok modbus.order:ok" {
		t.Fatalf("checks %s", got)
	}
	if len(res.Values) != len(p.Quantities) || res.MeterOrder.Verdict != modbus.OrderDocumented {
		t.Fatalf("%d values, order %+v", len(res.Values), res.MeterOrder)
	}
	var energy *modbus.Value
	for i := range res.Values {
		if res.Values[i].ID == "energy_import" {
			energy = &res.Values[i]
		}
	}
	if energy == nil || energy.Unit != "kWh" || !strings.HasSuffix(energy.String(), " kWh") || energy.Name != "Total import active energy" {
		t.Fatalf("energy %+v", energy)
	}
}

// Without --reg or --meter the meter names itself (FC 0x2B) and its
// profile is read; the lab's iEM3255 sends its words swapped against its
// manual, and the read says so (a warning), with the right values.
func TestReadFindsTheProfileByIdentityAndTheSwappedWordOrder(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	res, rep := readReport(t, modbus.ReadOptions{Client: clientOpts(pty.Path()), Unit: 3})
	if got := checks(rep); got != "bus.open:ok bus.listen:ok modbus.identify:ok modbus.read:ok modbus.order:warning" {
		t.Fatalf("checks %s", got)
	}
	if res.Profile != "iem3255" || res.ProfileFrom != "device identification" || res.MeterOrder.Verdict != modbus.OrderDiffers ||
		res.MeterOrder.Deviation != (modbus.Deviation{Words: true}) {
		t.Fatalf("profile %s (%s), order %+v", res.Profile, res.ProfileFrom, res.MeterOrder)
	}
	for _, v := range res.Values {
		if v.ID == "voltage_l1" {
			if f, _ := strconv.ParseFloat(v.Value, 64); f < 225 || f > 235 || v.Order != modbus.CDAB {
				t.Errorf("voltage %+v", v)
			}
		}
	}
	if rep.ExitCode(false) != 0 {
		t.Errorf("a warning exits 0")
	}
}

func TestReadWordsAnExceptionAndATimeout(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	res, rep := readReport(t, modbus.ReadOptions{Client: clientOpts(pty.Path()), Unit: 2, Reg: reg(t, "49000", 0)})
	if f := res.Failure; f == nil || f.Outcome != modbus.OutcomeException || !strings.Contains(f.Message, "has no holding register 49000") ||
		!strings.Contains(f.Hint, "count from 0") || rep.ExitCode(false) != 1 {
		t.Fatalf("failure %+v exit %d", res.Failure, rep.ExitCode(false))
	}
	o := modbus.ReadOptions{Client: clientOpts(pty.Path()), Unit: 4, Reg: reg(t, "40001", 0)}
	o.Client.Timeout = 200 * time.Millisecond
	res, rep = readReport(t, o)
	if f := res.Failure; f == nil || f.Outcome != modbus.OutcomeTimeout || !strings.Contains(f.Message, "no answer from unit 4") || rep.ExitCode(false) != 1 {
		t.Fatalf("failure %+v", res.Failure)
	}
}

// Another master polling: read stops before its first request, unless
// told to talk over it.
func TestReadStopsForAnotherMasterUnlessToldToTalkOverIt(t *testing.T) {
	b, pty := bustest.StartPTY(t, "second-master")
	o := modbus.ReadOptions{Client: clientOpts(pty.Path()), Unit: 2, Reg: reg(t, "40001", 0)}
	o.Client.Listen = 1200 * time.Millisecond // the other master polls every 500 ms
	before := b.Stats().Requests
	res, rep := readReport(t, o)
	if got := checks(rep); got != "bus.open:ok bus.listen:failed modbus.read:skipped" || len(res.Values) != 0 {
		t.Fatalf("checks %s, values %+v", got, res.Values)
	}
	if n := b.Stats().Requests - before; n > 4 {
		t.Errorf("%d requests on the bus: ectool must not have asked anything", n)
	}
	o.Client.TalkOverMaster = true
	res, rep = readReport(t, o)
	if got := checks(rep); got != "bus.open:ok bus.listen:warning modbus.read:ok" || len(res.Values) != 1 {
		t.Fatalf("--talk-over-master: checks %s, values %+v, failure %+v", got, res.Values, res.Failure)
	}
}

func writeReport(t *testing.T, o modbus.WriteOptions) (*modbus.WriteResult, *report.Report) {
	t.Helper()
	res, err := modbus.Write(context.Background(), o)
	rep := report.New("modbus write", o.Client.Target.String(), time.Now)
	res.Report(rep, o.Client.Target, err)
	rep.Finish()
	if err != nil {
		t.Fatalf("write: %v\n%s", err, checks(rep))
	}
	return res, rep
}

func TestWriteReadsTheValueBack(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	o := modbus.WriteOptions{Client: clientOpts(pty.Path()), Unit: 1, Reg: *reg(t, "40021", 0), Registers: []uint16{1234}}
	res, rep := writeReport(t, o)
	if got := checks(rep); got != "bus.open:ok bus.listen:ok modbus.write:ok modbus.readback:ok" || res.Function != 6 || res.AfterHex != "04D2" {
		t.Fatalf("checks %s, %+v", got, res)
	}
	// Several registers go with FC 16.
	o.Registers = []uint16{7, 8, 9}
	if res, rep = writeReport(t, o); checks(rep) != "bus.open:ok bus.listen:ok modbus.write:ok modbus.readback:ok" || res.Function != 16 || res.AfterHex != "0007 0008 0009" {
		t.Fatalf("FC 16: %s, %+v", checks(rep), res)
	}
}

// Eastron meters refuse FC 06: the exception is worded and --fc 16 named.
func TestWriteToAnEastronMeterNeedsFC16(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	o := modbus.WriteOptions{Client: clientOpts(pty.Path()), Unit: 2, Reg: *reg(t, "40021", 0), Registers: []uint16{5}}
	res, rep := writeReport(t, o)
	if got := checks(rep); got != "bus.open:ok bus.listen:ok modbus.write:failed modbus.readback:skipped" || !strings.Contains(res.Failure.Hint, "--fc 16") {
		t.Fatalf("FC 06: %s, %+v", got, res.Failure)
	}
	o.Function = modbus.FuncWriteMultipleRegisters
	if res, rep = writeReport(t, o); checks(rep) != "bus.open:ok bus.listen:ok modbus.write:ok modbus.readback:ok" || res.AfterHex != "0005" {
		t.Fatalf("FC 16: %s %+v", checks(rep), res)
	}
	// A read-only register: 0x02, worded.
	o.Reg = *reg(t, "40001", 0)
	if res, _ = writeReport(t, o); res.Failure == nil || !strings.Contains(res.Failure.Message, "has no holding register 40001") {
		t.Fatalf("read-only register: %+v", res.Failure)
	}
}

func TestWriteNeverTalksOverAnotherMaster(t *testing.T) {
	_, pty := bustest.StartPTY(t, "second-master")
	o := modbus.WriteOptions{Client: clientOpts(pty.Path()), Unit: 1, Reg: *reg(t, "40021", 0), Registers: []uint16{99}}
	o.Client.Listen = 1200 * time.Millisecond
	o.Client.TalkOverMaster = true // ignored: a write never talks over another master
	res, rep := writeReport(t, o)
	if got := checks(rep); got != "bus.open:ok bus.listen:failed modbus.write:skipped modbus.readback:skipped" || res.Written {
		t.Fatalf("checks %s, %+v", got, res)
	}
}

// A broadcast reaches every meter and cannot be read back: the report
// says so instead of reading unit 0.
func TestBroadcastWriteIsNotReadBack(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	o := modbus.WriteOptions{Client: clientOpts(pty.Path()), Unit: 0, Broadcast: true, Reg: *reg(t, "40022", 0), Function: modbus.FuncWriteMultipleRegisters, Registers: []uint16{42}}
	res, rep := writeReport(t, o)
	if got := checks(rep); got != "bus.open:ok bus.listen:ok modbus.write:ok modbus.readback:skipped" || !res.Written {
		t.Fatalf("checks %s, %+v", got, res)
	}
	if c := rep.Checks[3]; !strings.Contains(c.SkippedReason, "cannot be read back") {
		t.Errorf("skipped reason %q", c.SkippedReason)
	}
	for _, unit := range []byte{1, 2, 3} {
		r, _ := readReport(t, modbus.ReadOptions{Client: clientOpts(pty.Path()), Unit: unit, Reg: reg(t, "40022", 0)})
		if len(r.Values) != 1 || r.Values[0].Value != "42" {
			t.Errorf("unit %d after the broadcast: %+v %+v", unit, r.Values, r.Failure)
		}
	}
	if _, err := modbus.Write(context.Background(), modbus.WriteOptions{Client: clientOpts(pty.Path()), Unit: 0, Reg: *reg(t, "40022", 0), Registers: []uint16{1}}); err == nil {
		t.Errorf("unit 0 without Broadcast was written")
	}
}

// pymodbus as an independent server: FC 06 and 16 written and read back.
func TestWriteToPymodbusReadsBack(t *testing.T) {
	port := testenv.FreePort(t)
	startPymodbus(t, "tcp", fmt.Sprint(port), "1")
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	if err := testenv.WaitPort(addr, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	o := modbus.WriteOptions{Client: clientOpts("tcp://" + addr), Unit: 1, Reg: *reg(t, "40011", 0), Registers: []uint16{0xBEEF}}
	res, rep := writeReport(t, o)
	if got := checks(rep); got != "bus.open:ok bus.listen:skipped modbus.write:ok modbus.readback:ok" || res.BeforeHex != "006E" || res.AfterHex != "BEEF" {
		t.Fatalf("FC 06: %s %+v", got, res)
	}
	regs, _ := modbus.ParseValue("230.5", modbus.F32, modbus.CDAB, 1, 0)
	o.Registers, o.Reg = regs, *reg(t, "40021", 0)
	if res, rep = writeReport(t, o); checks(rep) != "bus.open:ok bus.listen:skipped modbus.write:ok modbus.readback:ok" || res.Function != 16 {
		t.Fatalf("FC 16: %s %+v", checks(rep), res)
	}
	r, _ := readReport(t, modbus.ReadOptions{Client: clientOpts("tcp://" + addr), Unit: 1, Reg: reg(t, "40021", 0), Type: modbus.F32, Order: modbus.OrderAuto})
	if len(r.Values) != 1 || r.Values[0].Value != "230.5" || r.Values[0].Order != modbus.CDAB {
		t.Fatalf("read back as f32: %+v", r.Values)
	}
}

// The flaky scenario's meter 2 damages a fifth of its answers: a watch
// counts them and fails it, and the clean meters pass.
func TestWatchFailsTheFlakyMeterAndPassesTheOthers(t *testing.T) {
	_, pty := bustest.StartPTY(t, "flaky")
	var changes []modbus.Change
	o := modbus.WatchOptions{Client: clientOpts(pty.Path()), Units: []byte{1, 2, 3}, Polls: 40, MaxErrorRate: 0.01,
		Items:    []modbus.WatchItem{{Reg: *reg(t, "40001", 0), Type: modbus.U16, Scale: 1}},
		OnChange: func(c modbus.Change) { changes = append(changes, c) }}
	res, err := modbus.Watch(context.Background(), o)
	rep := report.New("modbus watch", o.Client.Target.String(), time.Now)
	res.Report(rep, o.Client.Target, err)
	rep.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if got := checks(rep); got != "bus.open:ok bus.listen:ok watch.unit1:ok watch.unit2:failed watch.unit3:ok" {
		t.Fatalf("checks %s\n%+v", got, res.Units)
	}
	u2 := res.Units[1]
	if u2.Polls != 40 || u2.CRCErrors < 3 || u2.Timeouts > 2 || !strings.Contains(rep.Checks[3].Hint, "termination") {
		t.Errorf("unit 2: %+v, hint %q", u2, rep.Checks[3].Hint)
	}
	seen := map[int]bool{}
	for _, c := range changes {
		seen[c.UnitID] = true
		if c.Reference != "40001" || c.RawHex == "" {
			t.Errorf("change %+v", c)
		}
	}
	if len(seen) != 3 || res.Rounds != 40 {
		t.Errorf("changes from units %v over %d rounds", seen, res.Rounds)
	}
}

// --count 10 of u16 is one FC 03 of ten registers a round, as in read, and
// each register is its own value: the benchmark's watch.
func TestWatchReadsABlockOfValuesInOneRequest(t *testing.T) {
	_, pty := bustest.StartPTY(t, "clean")
	refs := map[string]int{}
	o := modbus.WatchOptions{Client: clientOpts(pty.Path()), Units: []byte{1}, Polls: 3,
		Items:    []modbus.WatchItem{{Reg: *reg(t, "40001", 0), Type: modbus.U16, Values: 10, Scale: 1}},
		OnChange: func(c modbus.Change) { refs[c.Reference]++ }}
	res, err := modbus.Watch(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if u := res.Units[0]; u.Polls != 3 || u.Answers != 3 {
		t.Fatalf("unit 1: %+v, want 3 requests, each answered", u)
	}
	for i := range 10 {
		if ref := fmt.Sprint(40001 + i); refs[ref] == 0 {
			t.Errorf("no value for %s: %v", ref, refs)
		}
	}
	if len(refs) != 10 {
		t.Errorf("values of %d registers, want 10: %v", len(refs), refs)
	}
}

// A master that starts polling while watch runs stops it (the line was
// quiet when it began: no listening first): watch never keeps talking
// over another master unless told to.
func TestWatchStopsWhenAnotherMasterIsHeardMidWay(t *testing.T) {
	_, pty := bustest.StartPTY(t, "second-master")
	o := modbus.WatchOptions{Client: clientOpts(pty.Path()), Units: []byte{1}, Polls: 10000, MaxErrorRate: 0.01,
		Items: []modbus.WatchItem{{Reg: *reg(t, "40001", 0), Type: modbus.U16, Scale: 1}}}
	o.Client.Listen = -1
	res, err := modbus.Watch(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	rep := report.New("modbus watch", o.Client.Target.String(), time.Now)
	res.Report(rep, o.Client.Target, nil)
	rep.Finish()
	if res.Stopped != "foreign_master" || res.Rounds >= o.Polls || !strings.HasPrefix(checks(rep), "bus.open:ok bus.listen:failed") || rep.ExitCode(false) != 1 {
		t.Fatalf("stopped %q after %d rounds, checks %s", res.Stopped, res.Rounds, checks(rep))
	}
}
