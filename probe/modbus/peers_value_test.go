package modbus_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab/bus"
	"github.com/ecdata/ectool/probe/modbus"
)

// Two independent decoders check ectool's: mbpoll (libmodbus, C) on live
// registers from the lab and from a pymodbus server, and pymodbus's
// BinaryPayloadDecoder on every type in every order.

// readMBAP reads count registers with one Modbus TCP request through
// ectool's codec (EncodeMBAP, ReadMBAP, ParseRegisters).
func readMBAP(t *testing.T, addr string, unit, fc byte, start, count uint16) []uint16 {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(modbus.EncodeMBAP(7, unit, modbus.ReadRequest{Function: fc, Address: start, Quantity: count}.PDU())); err != nil {
		t.Fatal(err)
	}
	f, err := modbus.ReadMBAP(c)
	if err != nil {
		t.Fatal(err)
	}
	regs, err := modbus.ParseRegisters(f.PDU)
	if err != nil || len(regs) != int(count) {
		t.Fatalf("unit %d fc %d %d+%d: % X, %v", unit, fc, start, count, f.PDU.Bytes(), err)
	}
	return regs
}

var mbpollLine = regexp.MustCompile(`(?m)^\[(\d+)\]:\s+(\S+)\s*$`)

// mbpollRead runs mbpoll once over Modbus TCP and returns what it printed
// per 1-based reference.
func mbpollRead(t *testing.T, addr string, unit byte, typ string, ref, count int, bigEndian bool) map[int]string {
	t.Helper()
	bin := testenv.Require(t, "mbpoll")
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"-m", "tcp", "-p", port, "-a", fmt.Sprint(unit), "-t", typ, "-r", fmt.Sprint(ref), "-c", fmt.Sprint(count), "-1", "-o", "2"}
	if bigEndian {
		args = append(args, "-B")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(args, host)...).CombinedOutput()
	if err != nil {
		t.Fatalf("mbpoll %v: %v\n%s", args, err, out)
	}
	vals := map[int]string{}
	for _, m := range mbpollLine.FindAllStringSubmatch(string(out), -1) {
		r, _ := strconv.Atoi(m[1])
		vals[r] = m[2]
	}
	if len(vals) != count {
		t.Fatalf("mbpoll %v printed %d values, want %d\n%s", args, len(vals), count, out)
	}
	return vals
}

// cFloat is a float as C's printf("%g") prints it, as mbpoll does.
func cFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return fmt.Sprintf("%.6g", f)
}

// block is a run of registers one peer serves.
type block struct {
	name  string
	unit  byte
	fc    byte
	start uint16
	count uint16
}

// compareWithMbpoll reads b through ectool's codec and through mbpoll:
// the raw words must be equal, and every 32-bit pair decodes as mbpoll's
// -t N:float and -t N:int do, word-swapped by default (CDAB) and with -B
// (ABCD).
func compareWithMbpoll(t *testing.T, addr string, b block) {
	words := readMBAP(t, addr, b.unit, b.fc, b.start, b.count)
	// The same words through Read, the engine of `ectool modbus read`.
	r := modbus.Register{Table: modbus.TableOfFunction(b.fc), Address: b.start}
	res, err := modbus.Read(context.Background(), modbus.ReadOptions{Client: clientOpts("tcp://" + addr), Unit: b.unit, Reg: &r, Count: int(b.count), Type: modbus.U16})
	if err != nil || len(res.Values) != int(b.count) {
		t.Fatalf("%s: Read: %v, %+v", b.name, err, res.Failure)
	}
	for i, v := range res.Values {
		if v.RawHex != fmt.Sprintf("%04X", words[i]) {
			t.Fatalf("%s: register %s: Read says %s, the codec %04X", b.name, v.Reference, v.RawHex, words[i])
		}
	}
	table := map[byte]string{3: "4", 4: "3"}[b.fc]
	ref := int(b.start) + 1
	raw := mbpollRead(t, addr, b.unit, table+":hex", ref, int(b.count), false)
	for i, w := range words {
		if got := raw[ref+i]; !strings.EqualFold(got, fmt.Sprintf("0x%04X", w)) {
			t.Fatalf("%s: register %d: ectool reads %04X, mbpoll %s", b.name, ref+i, w, got)
		}
	}
	pairs := int(b.count) / 2
	for _, big := range []bool{false, true} {
		order := modbus.CDAB
		if big {
			order = modbus.ABCD
		}
		floats := mbpollRead(t, addr, b.unit, table+":float", ref, pairs, big)
		ints := mbpollRead(t, addr, b.unit, table+":int", ref, pairs, big)
		for i := range pairs {
			regs := words[2*i : 2*i+2]
			f, _ := modbus.Decode(regs, modbus.F32, order, 1)
			n, _ := modbus.Decode(regs, modbus.S32, order, 1)
			r := ref + 2*i
			want := floats[r]
			if strings.HasSuffix(want, "nan") { // glibc prints -nan for a NaN with its sign bit set
				want = "nan"
			}
			if cFloat(f.Number) != want {
				t.Errorf("%s %s: %s as f32 %s: ectool %s, mbpoll %s", b.name, bigName(big), modbus.HexWords(regs), order, cFloat(f.Number), want)
			}
			if want := ints[r]; n.Text != want {
				t.Errorf("%s %s: %s as s32 %s: ectool %s, mbpoll %s", b.name, bigName(big), modbus.HexWords(regs), order, n.Text, want)
			}
		}
	}
}

func bigName(big bool) string {
	if big {
		return "-B"
	}
	return "(no -B)"
}

func TestDecodeMatchesMbpollOnTheLab(t *testing.T) {
	cfg, err := bus.Scenario("clean")
	if err != nil {
		t.Fatal(err)
	}
	cfg.StillValues = true // mbpoll and ectool read one after the other
	b, err := bus.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	g, err := b.ServeGateway("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	for _, blk := range []block{
		{"SDM630 voltages to phase powers", 2, 4, 0, 18},
		{"SDM630 power to energies", 2, 4, 52, 24},
		{"SDM630 lab map", 2, 4, 18, 34},
		{"EM340 voltages to powers", 1, 4, 0, 24},
		{"EM340 energies", 1, 4, 0x34, 28},
		{"iEM3255 currents and voltages, words swapped", 3, 3, 2999, 36},
		{"iEM3255 energies", 3, 3, 3203, 8},
	} {
		compareWithMbpoll(t, g.Addr(), blk)
	}
}

func TestDecodeMatchesMbpollOnPymodbus(t *testing.T) {
	// Bit patterns chosen to test the decoders: meter values in every
	// order, NaN, infinities, denormals, signed zero, extremes.
	var words []uint16
	for _, v := range []float64{230.1, 12345.6, -2, 0.95, 49.99, 1e-3, -7.5e6} {
		for _, o := range modbus.Orders {
			regs, err := modbus.EncodeNumber(v, modbus.F32, o, 1)
			if err != nil {
				t.Fatal(err)
			}
			words = append(words, regs...)
		}
	}
	words = append(words, 0x7FC0, 0, 0xFFC0, 0, 0x7F80, 0, 0xFF80, 0, 0x0000, 0x0001, 0x8000, 0, 0x7F7F, 0xFFFF, 0x0080, 0, 0x8000, 0x0000, 0xFFFF, 0xFFFF)
	hexWords := make([]string, len(words))
	for i, w := range words {
		hexWords[i] = fmt.Sprintf("%04x", w)
	}
	port := testenv.FreePort(t)
	startPymodbus(t, "tcp", fmt.Sprint(port), "1", strings.Join(hexWords, ","))
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	// pymodbus says ready before its listener is up: wait for the port
	if err := testenv.WaitPort(addr, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, fc := range []byte{3, 4} {
		compareWithMbpoll(t, addr, block{fmt.Sprintf("pymodbus fc%02d", fc), 1, fc, 0, uint16(len(words))})
	}
}

// pymodbusDecode asks pymodbus's BinaryPayloadDecoder (testdata/
// pymodbus_decode.py) to decode every case.
func pymodbusDecode(t *testing.T, cases []decodeCase) []string {
	t.Helper()
	if err := exec.Command(debianPython, "-c", "import pymodbus.payload").Run(); err != nil {
		testenv.Missing(t, "python3-pymodbus is not installed for %s", debianPython)
	}
	var in bytes.Buffer
	for _, c := range cases {
		line, _ := json.Marshal(c)
		in.Write(append(line, '\n'))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, "testdata/pymodbus_decode.py")
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pymodbus decoder: %v\n%s", err, out)
	}
	var vals []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var v struct{ Value string }
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("pymodbus decoder printed %q: %v", line, err)
		}
		vals = append(vals, v.Value)
	}
	if len(vals) != len(cases) {
		t.Fatalf("pymodbus decoded %d of %d cases", len(vals), len(cases))
	}
	return vals
}

type decodeCase struct {
	Regs  []uint16     `json:"regs"`
	Type  modbus.Type  `json:"type"`
	Order modbus.Order `json:"order"`
}

func TestDecodeMatchesPymodbusPayloadDecoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 2026))
	var cases []decodeCase
	for _, typ := range modbus.Types {
		n := typ.Registers()
		orders := modbus.Orders
		if n == 0 { // pymodbus decodes strings and bits as raw bytes: ABCD
			n, orders = 3, []modbus.Order{modbus.ABCD}
		}
		for _, o := range orders {
			sets := [][]uint16{make([]uint16, n)} // zero
			allOnes := make([]uint16, n)
			for i := range allOnes {
				allOnes[i] = 0xFFFF
			}
			sets = append(sets, allOnes)
			for range 40 {
				regs := make([]uint16, n)
				for i := range regs {
					regs[i] = uint16(rng.Uint32())
				}
				sets = append(sets, regs)
			}
			for _, v := range []float64{230.1, 12345.6, -2, 0.95} {
				if regs, err := modbus.EncodeNumber(v, typ, o, 0.01); err == nil {
					sets = append(sets, regs)
				}
			}
			for _, regs := range sets {
				cases = append(cases, decodeCase{regs, typ, o})
			}
		}
	}
	want := pymodbusDecode(t, cases)
	bad := 0
	for i, c := range cases {
		d, err := modbus.Decode(c.Regs, c.Type, c.Order, 1)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		switch {
		case c.Type.Float():
			got = fmt.Sprintf("%016x", math.Float64bits(d.Number))
			if math.IsNaN(d.Number) && (strings.HasPrefix(want[i], "7ff") || strings.HasPrefix(want[i], "fff")) {
				got = want[i] // both NaN; the payload's quiet bit is the CPU's business
			}
		case c.Type == modbus.String:
			raw, _ := hex.DecodeString(want[i])
			want[i] = strings.TrimRight(string(raw), "\x00 ")
			got = d.Text
		case c.Type == modbus.Bits:
			got = strings.ReplaceAll(strings.ReplaceAll(d.Text, " ", ""), "||", "|")
		default:
			got = d.Text
		}
		if got != want[i] {
			bad++
			if bad <= 10 {
				t.Errorf("%s %s %s: ectool %s, pymodbus %s", c.Type, c.Order, modbus.HexWords(c.Regs), got, want[i])
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d cases differ", bad, len(cases))
	}
	t.Logf("%d cases agree with pymodbus's BinaryPayloadDecoder", len(cases))
}
