package modbus_test

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecdata/ectool/probe/modbus"
)

// scriptedMeterLine is a serial line with one scripted device behind it: answer
// gets the n-th request (from 1) and returns what the line carries back
// and after how long (nil: nothing). It stands for what the lab cannot
// make happen on cue: answers lost to a collision, a pulse of noise.
func scriptedMeterLine(t *testing.T, answer func(n int, req modbus.Frame) ([]byte, time.Duration)) modbus.Port {
	t.Helper()
	near, far := net.Pipe()
	var wg sync.WaitGroup
	t.Cleanup(func() {
		far.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		sp := modbus.NewSplitter(modbus.Request)
		buf := make([]byte, 512)
		n := 0
		for {
			k, err := far.Read(buf)
			for _, ev := range sp.Feed(buf[:k], time.Now()) {
				if ev.Kind != modbus.EvFrame {
					continue
				}
				n++
				if out, after := answer(n, ev.Frame); out != nil {
					wg.Add(1)
					time.AfterFunc(after, func() {
						defer wg.Done()
						_, _ = far.Write(out)
					})
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return near
}

// meterAnswer is what a healthy meter at unit answers to req.
func meterAnswer(unit byte, req modbus.Frame) []byte {
	switch req.PDU.Function {
	case modbus.FuncReadHoldingRegisters, modbus.FuncReadInputRegisters:
		return modbus.EncodeRTU(unit, modbus.RegistersResponse(req.PDU.Function, []uint16{2301}))
	case modbus.FuncReportServerID:
		return modbus.EncodeRTU(unit, modbus.ServerIDResponse(append([]byte{unit, 0xFF}, "ABB B23 112-100 2.08"...)))
	}
	return modbus.EncodeRTU(unit, modbus.ExceptionResponse(req.PDU.Function, modbus.ExIllegalFunction))
}

func scriptedScan(t *testing.T, p modbus.Port, o modbus.ScanOptions) *modbus.Result {
	t.Helper()
	tg, err := modbus.ParseTarget("rtu:///dev/ttySCRIPTED")
	if err != nil {
		t.Fatal(err)
	}
	o.Target, o.IDRegister, o.Listen = tg, -1, -1
	o.Open = func() (modbus.Port, error) { return p, nil }
	return scan(t, o)
}

// A retry sent into a slow meter's late answer collides with it: the
// adapter hears a byte of the answer's tail after its own request, and the
// meter never hears the retry. A byte or two of noise is no answer, so the
// retries go on (before the fix the scan stopped retrying and missed the
// meter).
func TestARetryWindowWithAPulseOfNoiseDoesNotEndTheRetries(t *testing.T) {
	p := scriptedMeterLine(t, func(n int, req modbus.Frame) ([]byte, time.Duration) {
		switch n {
		case 1:
			return nil, 0
		case 2:
			return []byte{0xF8}, 0
		}
		return meterAnswer(9, req), 5 * time.Millisecond
	})
	res := scriptedScan(t, p, modbus.ScanOptions{IDs: []byte{9}, Retries: 2, Timeout: 100 * time.Millisecond})
	if got := verdicts(res); got != "9:ok" {
		t.Fatalf("verdicts %q, want 9:ok%s", got, explain(res))
	}
}

// A meter that answers 150 ms after each request, scanned with a 100 ms
// timeout and one retry: the first try's answer lands in the retry's
// window and the retry's own answer is lost (a collision on the line), so
// nothing shows the meter is slow before its confirm polls. Its first
// confirm poll times out and the answer turns up, late, in the next poll's
// window; from then on every poll waits long enough for it. (Before the fix
// the timeout stayed at 100 ms for all the address's confirm polls: each
// poll timed out or caught the previous poll's answer, and on a loaded
// machine the meter came out "silent in 5 of 9 polls", suspect.)
func TestConfirmPollsWaitForAMeterOnceItIsSeenToAnswerLate(t *testing.T) {
	p := scriptedMeterLine(t, func(n int, req modbus.Frame) ([]byte, time.Duration) {
		if n == 2 {
			return nil, 0
		}
		return meterAnswer(9, req), 150 * time.Millisecond
	})
	res := scriptedScan(t, p, modbus.ScanOptions{IDs: []byte{9}, Retries: 1, Timeout: 100 * time.Millisecond})
	if got := verdicts(res); got != "9:ok" {
		t.Fatalf("verdicts %q, want 9:ok%s", got, explain(res))
	}
	d := res.Device(9)
	if d.Warning == "" || d.Errors.Late == 0 {
		t.Errorf("device %+v: want the late replies counted and a warning suggesting a longer --timeout", d)
	}
	// The five register reads come after the first late answer.
	if n := len(d.History); n < 5 || strings.Contains(strings.Join(d.History[n-5:], ","), "timeout") {
		t.Errorf("history %v: polls after the first late answer timed out", d.History)
	}
}
