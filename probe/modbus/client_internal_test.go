package modbus

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// answerWithRequestHead finds an FC 04 answer of two registers from unit 2
// whose first 8 bytes also read as a request with a valid CRC.
func answerWithRequestHead(t *testing.T) []byte {
	t.Helper()
	for v := range 1 << 24 {
		head := []byte{2, 4, 4, byte(v >> 16), byte(v >> 8), byte(v)}
		crc := CRC16(head)
		ans := AppendCRC(append(head, byte(crc))) // 7 bytes of data, then its CRC
		if ans[7] == byte(crc>>8) {
			return ans
		}
	}
	t.Fatal("no such answer")
	return nil
}

// The splitter cuts the first 8 bytes of such an answer as a request
// before its last byte arrives; the client puts it back together instead
// of taking it for another master.
func TestClientMendsAnAnswerCutAsARequest(t *testing.T) {
	ans := answerWithRequestHead(t)
	if f, err := DecodeRTU(ans[:8], Request); err != nil || f.Unit != 2 {
		t.Fatalf("% X is no request head: %v", ans[:8], err)
	}
	near, far := net.Pipe()
	go func() {
		buf := make([]byte, 64)
		if _, err := far.Read(buf); err != nil {
			return
		}
		_, _ = far.Write(ans[:8]) // two writes: the client reads them apart
		_, _ = far.Write(ans[8:])
	}()
	tg, _ := ParseTarget("/dev/ttyTEST")
	c, err := Dial(context.Background(), ClientOptions{Target: tg, Timeout: 2 * time.Second, Listen: -1, Open: func() (Port, error) { return near, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	x, err := c.Do(context.Background(), 2, ReadRequest{Function: 4, Quantity: 2}.PDU())
	if err != nil || x.Outcome != OutcomeOK || c.Heard.ForeignMaster {
		t.Fatalf("outcome %s, heard %+v, %v", x.Outcome, c.Heard, err)
	}
	regs, err := ParseRegisters(*x.Answer)
	if err != nil || len(regs) != 2 || regs[0] != uint16(ans[3])<<8|uint16(ans[4]) {
		t.Fatalf("registers %04X, %v", regs, err)
	}
}

// A poll straight after an answer waits the protocol's t3.5 of silence:
// a meter that frames by silence would otherwise read the answer and the
// next request as one frame. The bound is the protocol's, a minimum that
// load can only lengthen, so it cannot flake.
func TestClientLeavesTheInterFrameGapAfterAnAnswer(t *testing.T) {
	near, far := net.Pipe()
	answer := EncodeRTU(1, RegistersResponse(FuncReadHoldingRegisters, []uint16{0x1234}))
	type gap struct {
		d   time.Duration
		err error
	}
	got := make(chan gap, 1)
	go func() {
		buf := make([]byte, 64)
		if _, err := far.Read(buf); err != nil {
			got <- gap{err: err}
			return
		}
		before := time.Now() // the client cannot hear the answer before this
		if _, err := far.Write(answer); err != nil {
			got <- gap{err: err}
			return
		}
		_, err := far.Read(buf)
		got <- gap{d: time.Since(before), err: err}
	}()
	tg, _ := ParseTarget("/dev/ttyTEST")
	c, err := Dial(context.Background(), ClientOptions{Target: tg, Timeout: 2 * time.Second, Listen: -1, Open: func() (Port, error) { return near, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := ReadRequest{Function: FuncReadHoldingRegisters, Quantity: 1}.PDU()
	if x, err := c.Do(context.Background(), 1, req); err != nil || x.Outcome != OutcomeOK {
		t.Fatalf("first poll: %s, %v", x.Outcome, err)
	}
	go func() { _, _ = c.Do(context.Background(), 1, req) }()
	g := <-got
	if g.err != nil {
		t.Fatal(g.err)
	}
	if want := interFrameGap(DefaultSerial); g.d < want {
		t.Fatalf("the next request came %s after the answer began, within the line's t3.5 (%s) of its end", g.d, want)
	}
}

// Another master's poll that arrives after the read before the write,
// even in the same burst as that read's answer, stops the write: it is
// heard before the write would go out, and nothing is sent.
func TestWriteNeverGoesOutAfterAMasterHeardAtTheLastMoment(t *testing.T) {
	near, far := net.Pipe()
	answer := EncodeRTU(1, RegistersResponse(FuncReadHoldingRegisters, []uint16{0x0005}))
	foreign := EncodeRTU(5, ReadRequest{Function: FuncReadHoldingRegisters, Address: 0, Quantity: 2}.PDU())
	sent := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 64)
		if _, err := far.Read(buf); err != nil { // the read before the write
			sent <- nil
			return
		}
		_, _ = far.Write(append(append([]byte(nil), answer...), foreign...))
		n, _ := far.Read(buf) // the write, if it went out; EOF when the client closes
		sent <- buf[:n]
	}()
	tg, _ := ParseTarget("/dev/ttyTEST")
	reg := Register{Table: TableHolding, Address: 20}
	res, err := Write(context.Background(), WriteOptions{Client: ClientOptions{Target: tg, Timeout: 2 * time.Second, Listen: -1,
		Open: func() (Port, error) { return near, nil }}, Unit: 1, Reg: reg, Registers: []uint16{7}})
	if err != nil {
		t.Fatal(err)
	}
	if got := <-sent; len(got) > 0 {
		t.Fatalf("the write went out over the other master: % X", got)
	}
	rep := report.New("modbus write", tg.String(), time.Now)
	res.Report(rep, tg, nil)
	var got []string
	for _, c := range rep.Checks {
		got = append(got, c.ID+":"+string(c.Status))
	}
	if s := strings.Join(got, " "); s != "bus.open:ok bus.listen:failed modbus.write:skipped modbus.readback:skipped" || res.Written {
		t.Fatalf("checks %s, written %v", s, res.Written)
	}
}
