package modbus_test

import (
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/ecdata/ectool/lab/bus"
	"github.com/ecdata/ectool/lab/bus/bustest"
)

// heardFrame is a run of characters the line carried back to back: one
// transmission. The lab puts a frame's characters on the line without a
// gap, so any silence between two characters is a boundary, even one
// shorter than the 1.5 characters a receiver would notice (a request
// glued to the previous answer).
type heardFrame struct {
	raw []byte
	// gap is the silence on the line before the frame's first character
	// (0 for the first frame heard).
	gap time.Duration
}

// cutFrames cuts what an observer heard into frames by line time.
func cutFrames(chars []bus.Char, s bus.Settings) []heardFrame {
	var out []heardFrame
	ct := s.CharTime()
	for i, c := range chars {
		if i == 0 {
			out = append(out, heardFrame{raw: []byte{c.B}})
			continue
		}
		if gap := c.At - chars[i-1].At - ct; gap > ct/8 {
			out = append(out, heardFrame{raw: []byte{c.B}, gap: gap})
			continue
		}
		f := &out[len(out)-1]
		f.raw = append(f.raw, c.B)
	}
	return out
}

// lateInto sets meter 9's latency so that its answer to the sweep's poll,
// which times out, ends about 2 ms after the window of the poll to the
// next address closes: the poll after that one is due while the late
// answer is still on the line, and goes out right behind it unless the
// scanner waits for t3.5 of silence. Bytes on the line at a deadline are
// waited for, so the answer lands in front of that poll anyway when host
// load shifts it a few milliseconds either way.
func lateInto(timeout time.Duration) func(*bus.Config) {
	return func(c *bus.Config) {
		ct := c.Settings.CharTime()
		for i := range c.Meters {
			if c.Meters[i].Unit == 9 {
				// request (8 characters) + two windows + 2 ms - answer (7)
				c.Meters[i].Latency = 2*timeout + ct + 2*time.Millisecond
			}
		}
	}
}

// A meter that frames by silence (FreeModbus, most meter firmware) reads a
// request sent less than t3.5 after the previous answer as the tail of
// that answer: one frame, a bad CRC, no answer. So every frame boundary
// on the line during a scan, sweep and confirm alike, is at least t3.5 of
// silence, measured in the lab's line time as a meter hears it. The
// scenarios: a clean bus, where the wait for a second answer after each
// answer already leaves more than t3.5, and a late answer from a slow
// meter that lands just before a poll (lateInto), which the scanner sent
// straight behind it.
func TestScanLeavesTheInterFrameGapBeforeEachRequest(t *testing.T) {
	for _, tc := range []struct {
		name, scenario string
		ids            []byte
		timeout        time.Duration
		tweak          func(*bus.Config)
	}{
		{"clean", "clean", labIDs, 250 * time.Millisecond, func(*bus.Config) {}},
		{"late_answer_before_a_poll", "slow", []byte{9, 10, 11}, 100 * time.Millisecond, lateInto(100 * time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, pty := bustest.StartPTY(t, tc.scenario, tc.tweak)
			obs, err := b.Observe()
			if err != nil {
				t.Fatal(err)
			}
			defer obs.Close()
			o := scanOpts(pty.Path(), tc.ids)
			o.Timeout = tc.timeout
			res := scan(t, o)
			if len(res.Devices) == 0 {
				t.Fatalf("no device found%s", explain(res))
			}
			s := b.Settings()
			frames := cutFrames(obs.Chars(), s)
			if len(frames) < 2*len(tc.ids) {
				t.Fatalf("the observer heard %d frames: want a sweep and confirm polls", len(frames))
			}
			t35 := s.Silence()
			short, least := 0, time.Duration(-1)
			for i, f := range frames[1:] {
				if least < 0 || f.gap < least {
					least = f.gap
				}
				if f.gap < t35 {
					short++
					if short <= 3 {
						t.Errorf("%s after %s: %s of silence, under t3.5 (%s): a meter framing by silence reads the two as one frame",
							hex.EncodeToString(f.raw), hex.EncodeToString(frames[i].raw), f.gap, t35)
					}
				}
			}
			if short > 0 {
				t.Errorf("%d of %d frame boundaries under t3.5", short, len(frames)-1)
			}
			t.Log(fmt.Sprintf("%d frames, shortest silence between two %s (t3.5 %s)", len(frames), least, t35))
		})
	}
}
