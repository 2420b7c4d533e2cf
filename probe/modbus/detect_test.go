package modbus_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/ecdata/ectool/lab/bus"
	"github.com/ecdata/ectool/lab/bus/bustest"
	"github.com/ecdata/ectool/probe/modbus"
)

// The lab's PTY garbles bytes as a UART would when the scanner's baud rate,
// parity or stop bits differ from the bus's, so these settings are tested
// for real.
func TestWrongSerialSettingsAndWhatAutoDetectConcludes(t *testing.T) {
	cases := []struct {
		name       string
		bus        bus.Settings
		master     bool // another master polls: detection is passive
		method     string
		confidence string
	}{
		{"meters at 19200 8E1", bus.Settings{Baud: 19200, DataBits: 8, Parity: bus.ParityEven, StopBits: 1}, false, "active", "high"},
		{"meters at 38400 8O1", bus.Settings{Baud: 38400, DataBits: 8, Parity: bus.ParityOdd, StopBits: 1}, false, "active", "high"},
		{"meters at 9600 8E1 polled by a gateway", bus.Settings{Baud: 9600, DataBits: 8, Parity: bus.ParityEven, StopBits: 1}, true, "passive", "high"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, pty := bustest.StartPTY(t, "clean", func(cfg *bus.Config) {
				cfg.Settings = c.bus
				if c.master {
					cfg.Faults.SecondMaster = &bus.SecondMaster{Unit: 2, Every: 100 * time.Millisecond}
				}
			})
			want := modbus.SerialSettings{Baud: c.bus.Baud, DataBits: c.bus.DataBits, Parity: string(rune(c.bus.Parity)), StopBits: c.bus.StopBits}

			// At the factory default 9600 8N1 (wrong here), nothing reads cleanly.
			if !c.master {
				res := scan(t, scanOpts(pty.Path(), []byte{1, 2, 3}))
				for _, d := range res.Devices {
					if d.Verdict == modbus.VerdictOK {
						t.Errorf("at 9600 8N1 on a %s bus, device %d reads ok: %+v", want, d.UnitID, d)
					}
				}
				if res.Finding("no_device") == nil && res.Finding("settings") == nil {
					t.Errorf("at wrong settings: findings %+v, want no_device or settings", res.Findings)
				}
			}

			tg, _ := modbus.ParseTarget(pty.Path())
			d, err := modbus.AutoDetect(context.Background(), modbus.DetectOptions{Target: tg, IDs: []byte{1, 2, 3}, Listen: 450 * time.Millisecond, Timeout: 150 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if !d.Found || d.Settings != want || d.Method != c.method || d.Confidence != c.confidence {
				// A host that leaves the lab's PTY reader unrun sends a
				// candidate's requests late and glued together: say so.
				n, longest := pty.ReaderStalls()
				t.Fatalf("auto-detect: %+v, want %s by %s with %s confidence (the lab PTY's reader stalled %d time(s), longest %v)", d, want, c.method, c.confidence, n, longest)
			}
		})
	}
}

func TestAutoDetectOnAnEmptyBusSaysSo(t *testing.T) {
	_, pty := bustest.StartPTY(t, "empty")
	tg, _ := modbus.ParseTarget(pty.Path())
	cands := modbus.DefaultCandidates()[:6]
	d, err := modbus.AutoDetect(context.Background(), modbus.DetectOptions{Target: tg, IDs: []byte{1}, Candidates: cands, Listen: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if d.Found || d.Confidence != "low" || len(d.Trials) != len(cands) {
		t.Fatalf("auto-detect on an empty bus: %+v", d)
	}
}

// scriptedLine is a port on a line whose traffic is a script: each chunk is
// delivered at its offset from the moment the port opens.
type scriptedLine struct {
	r    *io.PipeReader
	w    *io.PipeWriter
	done chan struct{}
}

type lineChunk struct {
	at   time.Duration
	data []byte
}

func openScriptedLine(script []lineChunk) *scriptedLine {
	r, w := io.Pipe()
	l := &scriptedLine{r: r, w: w, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		start := time.Now()
		for _, c := range script {
			time.Sleep(time.Until(start.Add(c.at))) // the script's timing, not synchronisation
			if _, err := w.Write(c.data); err != nil {
				return
			}
		}
	}()
	return l
}

func (l *scriptedLine) Read(p []byte) (int, error)  { return l.r.Read(p) }
func (l *scriptedLine) Write(p []byte) (int, error) { return len(p), nil }
func (l *scriptedLine) Close() error {
	_ = l.r.Close()
	<-l.done
	return nil
}

// Opening the port in the middle of another master's answer gives its
// tail, which a loaded host (or an adapter's latency timer) can deliver
// well after the open: that tail says nothing against the settings, and the
// clean traffic after it decodes with high confidence.
func TestAnAnswerInFlightAtOpenDoesNotLowerAutoDetectsConfidence(t *testing.T) {
	req := modbus.EncodeRTU(2, modbus.ReadRequest{Function: modbus.FuncReadHoldingRegisters, Quantity: 10}.PDU())
	ans := modbus.EncodeRTU(2, modbus.PDU{Function: modbus.FuncReadHoldingRegisters, Data: append([]byte{20}, bytes.Repeat([]byte{8, 0xF2}, 10)...)})
	script := []lineChunk{{70 * time.Millisecond, ans[3:]}} // the tail, 70 ms late
	for at := 120 * time.Millisecond; at < 400*time.Millisecond; at += 100 * time.Millisecond {
		script = append(script, lineChunk{at, req}, lineChunk{at + 30*time.Millisecond, ans})
	}
	want := modbus.SerialSettings{Baud: 9600, DataBits: 8, Parity: "E", StopBits: 1}
	d, err := modbus.AutoDetect(context.Background(), modbus.DetectOptions{Candidates: []modbus.SerialSettings{want}, Listen: 450 * time.Millisecond,
		Open: func(modbus.SerialSettings) (modbus.Port, error) { return openScriptedLine(script), nil }})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Found || d.Settings != want || d.Method != "passive" || d.Confidence != "high" {
		t.Fatalf("auto-detect: %+v, want %s by passive with high confidence", d, want)
	}
}
