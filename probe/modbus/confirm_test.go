package modbus_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecdata/ectool/probe/modbus"
)

// slowMeter is unit 9 alone on a line of its own: it answers request n
// after delays[n] (the last delay repeats; lost drops that answer, as a
// collision or a burst of noise would). The answers go out at the wire
// time of 9600 8N1.
type slowMeter struct {
	delays []time.Duration
	r      *io.PipeReader
	w      *io.PipeWriter

	mu     sync.Mutex
	n      int
	closed bool
	wg     sync.WaitGroup
}

// lost is a delay that drops the answer.
const lost = time.Duration(-1)

func newSlowMeter(delays ...time.Duration) *slowMeter {
	r, w := io.Pipe()
	return &slowMeter{delays: delays, r: r, w: w}
}

func (m *slowMeter) Read(p []byte) (int, error) { return m.r.Read(p) }

func (m *slowMeter) Write(req []byte) (int, error) {
	f, err := modbus.DecodeRTU(req, modbus.Request)
	if err != nil || f.Unit != 9 {
		return len(req), nil // not for this meter: silence, as on a line
	}
	var reply modbus.PDU
	switch f.PDU.Function {
	case modbus.FuncReadHoldingRegisters:
		reply = modbus.PDU{Function: f.PDU.Function, Data: []byte{2, 0x08, 0xF2}}
	default:
		reply = modbus.ExceptionResponse(f.PDU.Function, modbus.ExIllegalFunction)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delay := m.delays[min(m.n, len(m.delays)-1)]
	m.n++
	if m.closed {
		return 0, io.ErrClosedPipe
	}
	if delay == lost {
		return len(req), nil
	}
	raw := modbus.EncodeRTU(9, reply)
	wire := modbus.DefaultSerial.WireTime(len(req) + len(raw))
	m.wg.Add(1)
	time.AfterFunc(wire+delay, func() {
		defer m.wg.Done()
		_, _ = m.w.Write(raw)
	})
	return len(req), nil
}

func (m *slowMeter) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	_ = m.r.Close() // pending answers fail: nobody listens any more
	m.wg.Wait()
	return nil
}

// A slow meter (150 ms against a 100 ms --timeout) whose late answer in the
// sweep was lost: the sweep's retry took the first attempt's late answer
// for its own, so nothing told the confirm phase how slow it is. Its first
// late answer there must: the polls after it wait long enough, and the
// meter is a slow one (ok, with the advice to raise --timeout), never
// "silent" in the polls its late answers ended. (The lab showed it under
// load: the scan's next request collided with the late answer.)
func TestASlowMeterWhoseLateAnswerWasLostIsNotCalledSilent(t *testing.T) {
	m := newSlowMeter(150*time.Millisecond, lost, 150*time.Millisecond)
	tg, err := modbus.ParseTarget("rtu:///dev/ttyLAB9")
	if err != nil {
		t.Fatal(err)
	}
	res := scan(t, modbus.ScanOptions{Target: tg, IDs: []byte{9}, Timeout: 100 * time.Millisecond, Retries: 1, Listen: -1,
		Open: func() (modbus.Port, error) { return m, nil }})
	d := res.Device(9)
	if d == nil || d.Verdict != modbus.VerdictOK || d.Warning == "" {
		t.Fatalf("verdicts %q, want 9 ok with a warning about its late replies%s", verdicts(res), explain(res))
	}
}

// A meter whose answers come late every other poll while the host is busy
// (five confirm polls: 20, 45, 20, 45, 20 ms) looks like twins taking turns;
// polled again at a steady 20 ms, it is one meter. The lab showed it behind
// its gateway under load: 31-33 ms against 48-53 ms, "suspect".
func TestLatenciesThatAlternateByChanceAreCheckedWithMorePolls(t *testing.T) {
	ms := time.Millisecond
	// sweep, FC 0x11, FC 0x2B, then the five confirm polls; then steady.
	m := newSlowMeter(20*ms, 20*ms, 20*ms, 20*ms, 45*ms, 20*ms, 45*ms, 20*ms, 20*ms)
	tg, err := modbus.ParseTarget("rtu:///dev/ttyLAB9")
	if err != nil {
		t.Fatal(err)
	}
	res := scan(t, modbus.ScanOptions{Target: tg, IDs: []byte{9}, Listen: -1,
		Open: func() (modbus.Port, error) { return m, nil }})
	if got := verdicts(res); got != "9:ok" {
		t.Fatalf("verdicts %q, want 9:ok%s", got, explain(res))
	}
}

// A Ctrl-C while an address is being confirmed stops the polls there and
// says the scan was interrupted, over Modbus TCP as over RTU. (The TCP
// copy of the confirm loop polled on through every --confirm poll, each up
// to 5 s against a slow device, and a Ctrl-C during the last address's
// polls left no trace in the result.) This server is unit 1 alone: it
// answers FC 03 and refuses the rest, and the Ctrl-C comes as it gets the
// first confirm poll (its second FC 03).
func TestConfirmOverTCPStopsAtCtrlC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var reads atomic.Int32
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			f, err := modbus.ReadMBAP(r)
			if err != nil {
				return
			}
			reply := modbus.ExceptionResponse(f.PDU.Function, modbus.ExIllegalFunction)
			if f.PDU.Function == modbus.FuncReadHoldingRegisters {
				if reads.Add(1) == 2 {
					cancel()
				}
				reply = modbus.PDU{Function: f.PDU.Function, Data: []byte{2, 0x08, 0xF2}}
			}
			if _, err := c.Write(modbus.EncodeMBAP(f.Transaction, f.Unit, reply)); err != nil {
				return
			}
		}
	}()
	tg, err := modbus.ParseTarget("tcp://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	res, err := modbus.Scan(ctx, modbus.ScanOptions{Target: tg, IDs: []byte{1}, IDRegister: -1, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	if n := reads.Load(); n != 2 || res.Stopped != "interrupted" {
		t.Fatalf("FC 03 requests %d, stopped %q: want the sweep's and one confirm poll, then stopped=interrupted%s", n, res.Stopped, explain(res))
	}
}
