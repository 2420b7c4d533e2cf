package modbus

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// Golden frames. The CRCs were computed by pymodbus 3.0.0's computeCRC, an
// implementation independent of ours; two are the specification's examples.
var rtuGolden = []struct {
	name string
	raw  string
	dir  Direction
	unit byte
	fc   byte
	data string
}{
	{"read holding 0x6B x3 from 17 (spec example)", "11 03 00 6B 00 03 76 87", Request, 17, 0x03, "00 6B 00 03"},
	{"read holding reg 0 from 1", "01 03 00 00 00 01 84 0A", Request, 1, 0x03, "00 00 00 01"},
	{"read input 10 regs from 17", "11 04 00 00 00 0A 72 9D", Request, 17, 0x04, "00 00 00 0A"},
	{"register answer 42 from 1", "01 03 02 00 2A 39 9B", Response, 1, 0x03, "02 00 2A"},
	{"illegal data address from 1", "01 83 02 C0 F1", Response, 1, 0x83, "02"},
	{"report server id request to 17", "11 11 CD EC", Request, 17, 0x11, ""},
	{"report server id answer", "11 11 03 00 FF 41 7E DD", Response, 17, 0x11, "03 00 FF 41"},
	{"read device id request", "11 2B 0E 01 00 B1 B4", Request, 17, 0x2B, "0E 01 00"},
	{"read device id answer", "11 2B 0E 01 01 00 00 02 00 03 41 42 43 01 01 78 F1 B7", Response, 17, 0x2B, "0E 01 01 00 00 02 00 03 41 42 43 01 01 78"},
	{"write multiple coils request (sniffed)", "0F 0F 00 00 00 0A 02 01 FF E8 88", Request, 15, 0x0F, "00 00 00 0A 02 01 FF"},
	{"write multiple registers request (sniffed)", "0A 10 00 01 00 02 04 00 0A 01 02 B7 14", Request, 10, 0x10, "00 01 00 02 04 00 0A 01 02"},
	{"read coils 0x13 x37 from 17 (spec example)", "11 01 00 13 00 25 0E 84", Request, 17, 0x01, "00 13 00 25"},
	{"read coils answer (spec example)", "11 01 05 CD 6B B2 0E 1B 45 E6", Response, 17, 0x01, "05 CD 6B B2 0E 1B"},
	{"read discrete inputs 0xC4 x22 from 17 (spec example)", "11 02 00 C4 00 16 BA A9", Request, 17, 0x02, "00 C4 00 16"},
	{"read discrete inputs answer (spec example)", "11 02 03 AC DB 35 20 18", Response, 17, 0x02, "03 AC DB 35"},
	{"write single coil 0xAC on (spec example)", "11 05 00 AC FF 00 4E 8B", Request, 17, 0x05, "00 AC FF 00"},
	{"write single coil 0xAC off", "11 05 00 AC 00 00 0F 7B", Request, 17, 0x05, "00 AC 00 00"},
	{"write single register 1 = 3 (spec example)", "11 06 00 01 00 03 9A 9B", Request, 17, 0x06, "00 01 00 03"},
	{"write single register broadcast", "00 06 00 01 00 03 99 DA", Request, 0, 0x06, "00 01 00 03"},
	{"write 10 coils at 0x13 (spec example)", "11 0F 00 13 00 0A 02 CD 01 BF 0B", Request, 17, 0x0F, "00 13 00 0A 02 CD 01"},
	{"write multiple coils answer", "11 0F 00 13 00 0A 26 99", Response, 17, 0x0F, "00 13 00 0A"},
	{"write 2 registers at 1 (spec example)", "11 10 00 01 00 02 04 00 0A 01 02 C6 F0", Request, 17, 0x10, "00 01 00 02 04 00 0A 01 02"},
	{"write multiple registers answer", "11 10 00 01 00 02 12 98", Response, 17, 0x10, "00 01 00 02"},
	{"write serial number register 0xFC00 of an SDM (FC 16 only)", "02 10 FC 00 00 02 04 01 34 75 91 0A E1", Request, 2, 0x10, "FC 00 00 02 04 01 34 75 91"},
	{"illegal data address to a write", "11 86 02 C2 64", Response, 17, 0x86, "02"},
	{"server device failure to a multiple write", "01 90 04 4D C3", Response, 1, 0x90, "04"},
}

func TestRTUGoldenFrames(t *testing.T) {
	for _, g := range rtuGolden {
		t.Run(g.name, func(t *testing.T) {
			raw := hx(t, g.raw)
			if got := EncodeRTU(g.unit, PDU{Function: g.fc, Data: hx(t, g.data)}); !bytes.Equal(got, raw) {
				t.Fatalf("EncodeRTU = % X, want % X", got, raw)
			}
			for _, dir := range []Direction{g.dir, Either} {
				f, err := DecodeRTU(raw, dir)
				if err != nil {
					t.Fatalf("DecodeRTU(%v): %v", dir, err)
				}
				// An FC 05/06 answer is the request's echo: byte for byte
				// the same, so Either cannot know which it heard.
				echo := dir == Either && (g.fc == FuncWriteSingleCoil || g.fc == FuncWriteSingleRegister)
				if f.Unit != g.unit || f.PDU.Function != g.fc || !bytes.Equal(f.PDU.Data, hx(t, g.data)) || (f.Dir != g.dir && !echo) {
					t.Fatalf("DecodeRTU(%v) = %+v", dir, f)
				}
			}
		})
	}
}

var rtuMalformed = []struct {
	name string
	raw  string
	dir  Direction
	want error
}{
	{"empty", "", Either, ErrMalformed},
	{"three bytes", "01 03 84", Either, ErrMalformed},
	{"bad CRC", "01 03 00 00 00 01 84 0B", Request, ErrCRC},
	{"one byte short", "01 03 00 00 00 01 84", Request, ErrMalformed},
	{"one byte long", "01 03 00 00 00 01 84 0A 00", Request, ErrMalformed},
	{"request read as response", "01 03 00 00 00 01 84 0A", Response, ErrMalformed},
	{"byte count larger than frame", "01 03 FF 00 2A 39 9B", Response, ErrMalformed},
	{"byte count over 253", "01 04 FC 00 00", Response, ErrMalformed},
	{"unknown function", "01 41 00 00 00 00", Either, ErrUnknownFunction},
	{"reserved address 250", "FA 03 00 00 00 01 00 00", Request, ErrMalformed},
	{"answer from broadcast address", "00 83 02 00 00", Response, ErrMalformed},
	{"exception as request", "01 83 02 C0 F1", Request, ErrMalformed},
	{"MEI 0x0D (CANopen)", "01 2B 0D 00 00 00", Request, ErrUnknownFunction},
}

func TestRTUMalformedFrames(t *testing.T) {
	for _, m := range rtuMalformed {
		t.Run(m.name, func(t *testing.T) {
			_, err := DecodeRTU(hx(t, m.raw), m.dir)
			if !errors.Is(err, m.want) {
				t.Fatalf("DecodeRTU = %v, want %v", err, m.want)
			}
		})
	}
}

func TestPDULenByFunctionCode(t *testing.T) {
	cases := []struct {
		pdu  string
		dir  Direction
		n    int
		want error
	}{
		{"03 00 00 00 01", Request, 5, nil},
		{"03", Request, 5, nil},
		{"03", Response, 0, ErrIncomplete},
		{"03 04", Response, 6, nil},
		{"83", Response, 2, nil},
		{"91", Response, 2, nil}, // exception to an unknown function still has a length
		{"10 00 00 00 02", Request, 0, ErrIncomplete},
		{"10 00 00 00 02 04", Request, 10, nil},
		{"10", Response, 5, nil},
		{"11", Request, 1, nil},
		{"11 05", Response, 7, nil},
		{"17 00 00 00 01 00 00 00 01 02", Request, 12, nil},
		{"18 00 06", Response, 9, nil},
		{"2B 0E 01 00", Request, 4, nil},
		{"2B 0E 01 01 00 00 02 00 03 41", Response, 0, ErrIncomplete},
		{"2B 0E 01 01 00 00 02 00 03 41 42 43 01 01 78", Response, 15, nil},
		{"2B 0E 01 01 00 00 FF", Response, 0, ErrIncomplete},
		{"03 FF", Response, 0, ErrMalformed},
		{"18 FF FF", Response, 0, ErrMalformed},
		{"64", Request, 0, ErrUnknownFunction},
		{"", Request, 0, ErrIncomplete},
	}
	for _, c := range cases {
		n, err := PDULen(hx(t, c.pdu), c.dir)
		if c.want != nil {
			if !errors.Is(err, c.want) {
				t.Errorf("PDULen(%s, %v) = %d, %v; want %v", c.pdu, c.dir, n, err, c.want)
			}
			continue
		}
		if err != nil || n != c.n {
			t.Errorf("PDULen(%s, %v) = %d, %v; want %d", c.pdu, c.dir, n, err, c.n)
		}
	}
}

func TestPDUBuildersRoundTrip(t *testing.T) {
	req := ReadRequest{Function: FuncReadHoldingRegisters, Address: 0x6B, Quantity: 3}
	if got := hex.EncodeToString(req.PDU().Bytes()); got != "03006b0003" {
		t.Fatalf("read request = %s", got)
	}
	if r, err := ParseReadRequest(req.PDU()); err != nil || r != req {
		t.Fatalf("ParseReadRequest = %+v, %v", r, err)
	}
	if ExpectedResponseLen(req.PDU()) != 8 {
		t.Fatalf("ExpectedResponseLen = %d", ExpectedResponseLen(req.PDU()))
	}
	for _, bad := range []ReadRequest{{FuncReadHoldingRegisters, 0, 0}, {FuncReadHoldingRegisters, 0, 126}, {FuncReadCoils, 0, 2001}} {
		if _, err := ParseReadRequest(bad.PDU()); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseReadRequest(%+v) = %v, want ErrMalformed", bad, err)
		}
	}
	regs := []uint16{0x1234, 0, 0xFFFF}
	got, err := ParseRegisters(RegistersResponse(FuncReadInputRegisters, regs))
	if err != nil || len(got) != 3 || got[0] != 0x1234 || got[2] != 0xFFFF {
		t.Fatalf("registers round trip = %v, %v", got, err)
	}
	if _, err := ParseRegisters(PDU{Function: 3, Data: []byte{3, 0, 0, 0}}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("odd byte count accepted: %v", err)
	}
	bits := []bool{true, false, true, true, false, false, false, false, true}
	gotBits, err := ParseBits(BitsResponse(FuncReadCoils, bits), len(bits))
	if err != nil || len(gotBits) != len(bits) || !gotBits[0] || gotBits[1] || !gotBits[8] {
		t.Fatalf("bits round trip = %v, %v", gotBits, err)
	}
	ex := ExceptionResponse(FuncReadHoldingRegisters, ExIllegalDataAddress)
	if !ex.IsException() || ex.Exception() != ExIllegalDataAddress || ex.BaseFunction() != 3 {
		t.Fatalf("exception = %+v", ex)
	}
	id, err := ParseServerID(ServerIDResponse([]byte{0x2A, 0xFF, 'E', 'M'}))
	if err != nil || string(id) != "\x2a\xffEM" {
		t.Fatalf("server id = %q, %v", id, err)
	}
	d := DeviceID{ReadCode: 1, Conformity: 0x81, Objects: []DeviceIDObject{{0, []byte("ecdata")}, {1, []byte("EM-3")}, {2, []byte("v1.2")}}}
	back, err := ParseDeviceID(d.PDU())
	if err != nil || back.Object(ObjVendorName) != "ecdata" || back.Object(ObjMajorMinorRevision) != "v1.2" || back.Conformity != 0x81 {
		t.Fatalf("device id round trip = %+v, %v", back, err)
	}
	code, obj, err := ParseReadDeviceIDRequest(ReadDeviceIDRequest(DeviceIDBasic, 0))
	if err != nil || code != 1 || obj != 0 {
		t.Fatalf("device id request = %d %d %v", code, obj, err)
	}
}

func TestMBAPGolden(t *testing.T) {
	raw := hx(t, "00 01 00 00 00 06 11 03 00 6B 00 03")
	if got := EncodeMBAP(1, 17, ReadRequest{Function: 3, Address: 0x6B, Quantity: 3}.PDU()); !bytes.Equal(got, raw) {
		t.Fatalf("EncodeMBAP = % X", got)
	}
	f, n, err := DecodeMBAP(append(raw, 0xAA))
	if err != nil || n != 12 || f.Transaction != 1 || f.Unit != 17 || f.PDU.Function != 3 {
		t.Fatalf("DecodeMBAP = %+v %d %v", f, n, err)
	}
	f, err = ReadMBAP(bytes.NewReader(raw))
	if err != nil || f.Unit != 17 || !bytes.Equal(f.PDU.Data, raw[8:]) {
		t.Fatalf("ReadMBAP = %+v %v", f, err)
	}
	malformed := []struct {
		name string
		raw  string
		want error
	}{
		{"short header", "00 01 00 00 00", ErrIncomplete},
		{"short body", "00 01 00 00 00 06 11 03 00", ErrIncomplete},
		{"protocol id 1", "00 01 00 01 00 06 11 03 00 6B 00 03", ErrMalformed},
		{"length 1", "00 01 00 00 00 01 11", ErrMalformed},
		{"length 0", "00 01 00 00 00 00 11", ErrMalformed},
		{"length 256", "00 01 00 00 01 00 11", ErrMalformed},
	}
	for _, m := range malformed {
		if _, _, err := DecodeMBAP(hx(t, m.raw)); !errors.Is(err, m.want) {
			t.Errorf("%s: DecodeMBAP = %v, want %v", m.name, err, m.want)
		}
	}
	if _, err := ReadMBAP(bytes.NewReader(hx(t, "00 01 00 00 00 06 11 03"))); err == nil {
		t.Errorf("ReadMBAP accepted a cut frame")
	}
	if err := CheckPDULen(PDU{Function: 3, Data: []byte{4, 0, 1}}, Response); !errors.Is(err, ErrMalformed) {
		t.Errorf("CheckPDULen accepted a padded-short answer: %v", err)
	}
}

// kinds summarises splitter events as "frame:17 noise:2 crc_error:17 ...".
func kinds(evs []Event) string {
	var parts []string
	for _, e := range evs {
		switch e.Kind {
		case EvNoise:
			parts = append(parts, "noise:"+strconv.Itoa(len(e.Raw)))
		default:
			parts = append(parts, e.Kind.String()+":"+strconv.Itoa(int(e.Unit)))
		}
	}
	return strings.Join(parts, " ")
}

func TestSplitterSeparatesFramesWithoutTiming(t *testing.T) {
	req := hx(t, "11 03 00 6B 00 03 76 87")
	ans := EncodeRTU(17, RegistersResponse(3, []uint16{1, 2, 3}))
	exc := hx(t, "01 83 02 C0 F1")
	badCRC := append([]byte(nil), ans...)
	badCRC[len(badCRC)-1] ^= 0xFF
	cases := []struct {
		name   string
		dir    Direction
		chunks [][]byte
		flush  bool
		want   string
	}{
		{"request and answer in one chunk", Either, [][]byte{append(append([]byte{}, req...), ans...)}, false, "frame:17 frame:17"},
		{"answer byte by byte", Response, splitEach(ans), false, "frame:17"},
		{"noise before an answer", Response, [][]byte{{0x00, 0xFF, 0x13}, ans}, false, "noise:3 frame:17"},
		{"trailing bytes after an answer", Response, [][]byte{ans, {0xFF, 0x00}}, true, "frame:17 noise:2"},
		{"two answers back to back (staggered twins)", Response, [][]byte{append(append([]byte{}, ans...), ans...)}, false, "frame:17 frame:17"},
		{"bad CRC then silence", Response, [][]byte{badCRC}, true, "crc_error:17"},
		{"bad CRC then a good answer", Response, [][]byte{badCRC, exc}, false, "crc_error:17 frame:1"},
		{"cut answer then a good answer", Response, [][]byte{ans[:6], exc}, false, "truncated:17 frame:1"},
		{"cut answer then silence", Response, [][]byte{ans[:6]}, true, "truncated:17"},
		{"noise then bad CRC then good", Response, [][]byte{{0xFE}, badCRC, exc}, false, "noise:1 crc_error:17 frame:1"},
		{"exception answer", Response, [][]byte{exc}, false, "frame:1"},
		{"echo of a request in either mode", Either, [][]byte{req}, false, "frame:17"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewSplitter(c.dir)
			var evs []Event
			var fed []byte
			for _, ch := range c.chunks {
				evs = append(evs, s.Feed(ch, time.Unix(0, 0))...)
				fed = append(fed, ch...)
			}
			if c.flush {
				evs = append(evs, s.Flush()...)
			}
			if got := kinds(evs); got != c.want {
				t.Fatalf("events = %s, want %s", got, c.want)
			}
			if !c.flush && s.Buffered() != 0 {
				t.Fatalf("%d bytes still buffered", s.Buffered())
			}
			var back []byte
			for _, e := range evs {
				back = append(back, e.Raw...)
			}
			if !bytes.Equal(back, fed) {
				t.Fatalf("events do not account for every byte:\n got % X\nwant % X", back, fed)
			}
		})
	}
}

// Frames delivered by one read get their own times from their position in
// the byte stream at the line's rate: the read's last byte arrived when it
// returned, each earlier one a character's wire time before, none before
// the previous read.
func TestSplitterTimesEachFrameOfOneReadByItsPositionOnTheWire(t *testing.T) {
	req := hx(t, "11 03 00 6B 00 03 76 87")                       // 8 bytes
	ans := EncodeRTU(17, RegistersResponse(3, []uint16{1, 2, 3})) // 11 bytes
	char := DefaultSerial.CharTime()                              // 10 bits at 9600 baud
	if char != 1041666*time.Nanosecond {
		t.Fatalf("9600 8N1 char time %s", char)
	}
	if c := (SerialSettings{Baud: 19200, DataBits: 8, Parity: "E", StopBits: 1}).CharTime(); c != 572916*time.Nanosecond {
		t.Fatalf("19200 8E1 char time %s, want 11 bits", c)
	}
	at := time.Unix(1000, 0)
	s := NewSplitter(Either)
	s.SetCharTime(char)
	evs := s.Feed(append(append([]byte{}, req...), ans...), at)
	if got := kinds(evs); got != "frame:17 frame:17" {
		t.Fatalf("events %s", got)
	}
	if !evs[1].End.Equal(at) || !evs[1].Start.Equal(at.Add(-10*char)) {
		t.Errorf("answer %s..%s, want %s..%s", evs[1].Start, evs[1].End, at.Add(-10*char), at)
	}
	if !evs[0].End.Equal(at.Add(-11*char)) || !evs[0].Start.Equal(at.Add(-18*char)) {
		t.Errorf("request %s..%s, want %s..%s", evs[0].Start, evs[0].End, at.Add(-18*char), at.Add(-11*char))
	}

	// A read right after another: its bytes cannot predate that read.
	s = NewSplitter(Either)
	s.SetCharTime(char)
	s.Feed(req[:2], at)
	evs = s.Feed(append(append([]byte{}, req[2:]...), ans...), at.Add(3*char))
	if got := kinds(evs); got != "frame:17 frame:17" || !evs[0].End.Equal(at) || !evs[1].End.Equal(at.Add(3*char)) {
		t.Errorf("events %s: request ends %s (want %s, the previous read), answer %s", got, evs[0].End, at, evs[1].End)
	}

	// Without a char time (the codec alone), every byte of a read has its time.
	s = NewSplitter(Either)
	evs = s.Feed(append(append([]byte{}, req...), ans...), at)
	if !evs[0].End.Equal(at) || !evs[1].End.Equal(at) {
		t.Errorf("no char time: %s %s", evs[0].End, evs[1].End)
	}
}

func splitEach(b []byte) [][]byte {
	var out [][]byte
	for i := range b {
		out = append(out, b[i:i+1])
	}
	return out
}

// checkSplit feeds data in the chunk sizes given and checks the splitter's
// invariants: no panic, every frame has a valid CRC and a length that fits
// its function code, and the events hold every byte in order.
func checkSplit(t *testing.T, data []byte, chunk int, dir Direction) {
	if chunk <= 0 {
		chunk = 1
	}
	s := NewSplitter(dir)
	var evs []Event
	for i := 0; i < len(data); i += chunk {
		evs = append(evs, s.Feed(data[i:min(len(data), i+chunk)], time.Unix(0, int64(i)))...)
	}
	evs = append(evs, s.Flush()...)
	var back []byte
	for _, e := range evs {
		back = append(back, e.Raw...)
		if e.Kind == EvFrame {
			if !CRCValid(e.Raw) {
				t.Fatalf("frame with bad CRC: % X", e.Raw)
			}
			if _, err := DecodeRTU(e.Raw, e.Frame.Dir); err != nil {
				t.Fatalf("frame that does not decode: % X: %v", e.Raw, err)
			}
		}
		if len(e.Raw) == 0 {
			t.Fatalf("empty event %+v", e)
		}
	}
	if !bytes.Equal(back, data) {
		t.Fatalf("events lost or reordered bytes")
	}
}

func FuzzRTUSplitter(f *testing.F) {
	ans := EncodeRTU(17, RegistersResponse(3, []uint16{1, 2, 3}))
	f.Add(ans, 1, uint8(Response))
	f.Add(append(hx(f, "11 03 00 6B 00 03 76 87"), ans...), 3, uint8(Either))
	f.Add(hx(f, "01 03 FF 00 00 00 00"), 2, uint8(Response))
	f.Add(hx(f, "11 2B 0E 01 01 00 00 FF 00 FF"), 4, uint8(Response))
	f.Add(append([]byte{0, 0xFF, 0x55}, hx(f, "01 83 02 C0 F1")...), 8, uint8(Either))
	for _, g := range rtuGolden {
		f.Add(hx(f, g.raw), 5, uint8(Either))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk int, dir uint8) {
		d := Direction(dir%3 + 1)
		checkSplit(t, data, chunk%64, d)
	})
}

func FuzzRTUDecode(f *testing.F) {
	for _, g := range rtuGolden {
		f.Add(hx(f, g.raw))
	}
	for _, m := range rtuMalformed {
		f.Add(hx(f, m.raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, d := range []Direction{Request, Response, Either} {
			fr, err := DecodeRTU(raw, d)
			if err == nil && !CRCValid(fr.Raw) {
				t.Fatalf("decoded a frame with a bad CRC: % X", raw)
			}
		}
	})
}

func FuzzMBAP(f *testing.F) {
	f.Add(hx(f, "00 01 00 00 00 06 11 03 00 6B 00 03"))
	f.Add(hx(f, "00 01 00 00 00 03 11 83 0B"))
	f.Add(hx(f, "00 01 00 00 FF FF 11"))
	f.Add(hx(f, "00 01 00 00 00 01 11"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fr, n, err := DecodeMBAP(raw)
		if err == nil {
			if n < 8 || n > len(raw) || 7+len(fr.PDU.Data)+1 != n {
				t.Fatalf("DecodeMBAP consumed %d of %d bytes for a %d-byte PDU", n, len(raw), 1+len(fr.PDU.Data))
			}
			again := EncodeMBAP(fr.Transaction, fr.Unit, fr.PDU)
			if !bytes.Equal(again, raw[:n]) {
				t.Fatalf("re-encoding differs: % X vs % X", again, raw[:n])
			}
		}
		rf, rerr := ReadMBAP(bytes.NewReader(raw))
		if (rerr == nil) != (err == nil) {
			t.Fatalf("ReadMBAP and DecodeMBAP disagree: %v vs %v", rerr, err)
		}
		if rerr == nil && rf.Unit != fr.Unit {
			t.Fatalf("ReadMBAP and DecodeMBAP decode different units")
		}
		_ = CheckPDULen(fr.PDU, Response)
	})
}

func FuzzPDUParsers(f *testing.F) {
	f.Add([]byte{0x2B, 0x0E, 1, 1, 0, 0, 2, 0, 3, 'a', 'b', 'c'})
	f.Add([]byte{0x03, 0x04, 0, 1, 0, 2})
	f.Add([]byte{0x11, 0x02, 0x2A, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := PDUFromBytes(b)
		if err != nil {
			return
		}
		_, _ = ParseDeviceID(p)
		_, _ = ParseRegisters(p)
		_, _ = ParseBits(p, 9)
		_, _ = ParseServerID(p)
		_, _ = ParseReadRequest(p)
		_, _, _ = ParseReadDeviceIDRequest(p)
		_ = ExpectedResponseLen(p)
		_, _ = PDULen(b, Request)
		_, _ = PDULen(b, Response)
	})
}

// answerStartingWithARequest is an answer of 8 registers from unit 1 whose
// first 8 bytes happen to be a whole FC 03 request with a valid CRC (one
// answer in 65536 does).
func answerStartingWithARequest(t testing.TB) (ans, req []byte) {
	t.Helper()
	req = AppendCRC([]byte{0x01, 0x03, 0x10, 0x09, 0x60, 0x00})
	data := append([]byte{0x10}, req[3:]...) // byte count 16, then data
	data = append(data, 0x00, 0x2A, 0x01, 0x00, 0x00, 0x00, 0x13, 0x88, 0x00, 0x00, 0x00)
	ans = EncodeRTU(1, PDU{Function: FuncReadHoldingRegisters, Data: data})
	if f, err := DecodeRTU(ans[:8], Request); err != nil || f.Dir != Request {
		t.Fatalf("% X does not start with a request: %v", ans, err)
	}
	return ans, req
}

// The first 8 bytes of an answer that end in a valid CRC are no request
// while the answer they start is still arriving (before the fix the
// splitter emitted them as a request at once: another master on the bus,
// and the rest of the answer as garbage).
func TestSplitterDoesNotTakeTheStartOfAnAnswerForARequest(t *testing.T) {
	ans, req := answerStartingWithARequest(t)
	exc := hx(t, "01 83 02 C0 F1")
	cases := []struct {
		name   string
		chunks [][]byte
		flush  bool
		want   string
		dirs   []Direction
	}{
		{"the answer in two reads", [][]byte{ans[:8], ans[8:]}, false, "frame:1", []Direction{Response}},
		{"the answer byte by byte", splitEach(ans), false, "frame:1", []Direction{Response}},
		{"the request, then silence", [][]byte{req}, true, "frame:1", []Direction{Request}},
		{"the request, then an answer in the same read", [][]byte{append(append([]byte{}, req...), exc...)}, false, "frame:1 frame:1", []Direction{Request, Response}},
		{"the request, then an answer", [][]byte{req, exc}, false, "frame:1 frame:1", []Direction{Request, Response}},
		{"noise, the request, then an answer", [][]byte{{0xFF}, req, exc}, false, "noise:1 frame:1 frame:1", []Direction{0, Request, Response}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewSplitter(Either)
			var evs []Event
			for i, ch := range c.chunks {
				evs = append(evs, s.Feed(ch, time.Unix(0, int64(i)))...)
			}
			if c.flush {
				evs = append(evs, s.Flush()...)
			}
			if got := kinds(evs); got != c.want {
				t.Fatalf("events = %s, want %s", got, c.want)
			}
			for i, e := range evs {
				if e.Kind == EvFrame && e.Frame.Dir != c.dirs[i] {
					t.Errorf("event %d (% X) read as %v, want %v", i, e.Raw, e.Frame.Dir, c.dirs[i])
				}
			}
			if !c.flush && s.Buffered() != 0 {
				t.Fatalf("%d bytes still buffered", s.Buffered())
			}
		})
	}
}

// On the scanner's bus, the start of such an answer waits for its rest as
// any incomplete frame does, rather than coming out as another master's
// request.
func TestTheStartOfAnAnswerIsNoForeignRequestOnTheBus(t *testing.T) {
	ans, _ := answerStartingWithARequest(t)
	b := makeRTUBus(nil, DefaultSerial, time.Now)
	t0 := time.Now()
	b.rx <- rxChunk{b: ans[:8], at: t0}
	b.rx <- rxChunk{b: ans[8:], at: t0.Add(15 * time.Millisecond)}
	ev, ok, err := b.next(t0.Add(time.Second))
	if err != nil || !ok || ev.Kind != EvFrame || ev.Frame.Dir != Response || !bytes.Equal(ev.Raw, ans) {
		t.Fatalf("event %v %v % X (ok %v, %v): want the whole answer", ev.Kind, ev.Frame.Dir, ev.Raw, ok, err)
	}
}

// Two devices answering one register at once leave 7 bytes whose CRC fails:
// a whole answer by its declared length, held back only because it could
// also start an 8-byte request. The bus settles it after the line's
// silence, not after the grace given to a frame still arriving (which the
// start of a longer answer, or of a request, still gets).
func TestAGarbledWholeAnswerSettlesAfterTheSilence(t *testing.T) {
	cases := []struct {
		name        string
		raw         string
		answerWhole bool
		grace       time.Duration
	}{
		{"a garbled one-register answer", "11 03 02 08 02 3E 00", true, DefaultSerial.Silence()},
		{"the start of a longer answer", "11 03 04 08 02", false, stallGrace},
		{"the first 5 bytes of a request", "01 03 00 00 00", false, stallGrace},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := makeRTUBus(nil, DefaultSerial, time.Now)
			t0 := time.Now()
			b.accept(rxChunk{b: hx(t, c.raw), at: t0})
			if !b.sp.Incomplete() {
				t.Fatalf("% X is not incomplete", b.sp.buf)
			}
			if got := b.sp.AnswerWhole(); got != c.answerWhole {
				t.Errorf("AnswerWhole = %v, want %v", got, c.answerWhole)
			}
			if got := b.settleAt(t0.Add(time.Second)); !got.Equal(t0.Add(c.grace)) {
				t.Errorf("settled %v after the last byte, want %v", got.Sub(t0), c.grace)
			}
		})
	}
}
