package modbus_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/lab/bus"
	"github.com/ecdata/ectool/lab/bus/bustest"
	"github.com/ecdata/ectool/probe/modbus"
)

// autoScenarios are the lab's bus scenarios --timeout auto is held to, each
// with the verdicts a fixed long timeout gives at labIDs (none where
// another master polls: the scan stops before its first request). flaky
// (a meter corrupting a fifth of its answers now and then) and
// gateway-down (the gateway's side) are not the sweep's business.
var autoScenarios = []struct {
	name, want string
	listen     time.Duration
	settings   *modbus.SerialSettings
}{
	{name: "default", want: "1:ok 2:ok 3:ok 17:collision"},
	{name: "clean", want: "1:ok 2:ok 3:ok"},
	{name: "staggered", want: "1:ok 2:ok 3:ok 17:collision"},
	{name: "alternating", want: "1:ok 2:ok 3:ok 17:collision"},
	{name: "garbled", want: "1:ok 2:ok 3:ok 17:collision"},
	{name: "jittery", want: "1:ok 2:ok 3:ok 17:collision"},
	{name: "exceptions", want: "1:ok 2:ok 3:ok 5:ok"},
	{name: "slow", want: "1:ok 2:ok 3:ok 9:ok"},
	{name: "slow-twins", want: "1:ok 2:ok 3:ok 9:ok 17:collision"},
	{name: "noisy", want: "1:ok 2:ok 3:ok 17:collision|suspect", listen: time.Second},
	{name: "echo", want: "1:ok 2:ok 3:ok 17:collision"},
	{name: "faults", want: "1:ok 2:ok 3:ok 5:ok 9:ok 17:collision|suspect"},
	{name: "even-parity", want: "1:ok 2:ok 3:ok 17:collision", settings: &modbus.SerialSettings{Baud: 19200, DataBits: 8, Parity: "E", StopBits: 1}},
	{name: "second-master", want: "", listen: 1200 * time.Millisecond},
	{name: "empty", want: ""},
}

// --timeout auto on every lab bus scenario gives the verdicts of a fixed
// long timeout: those the tests above assert with 250 ms (scanOpts) on the
// same scenarios. Every device found, the twins a collision, the slow meter
// ok, and no address left with bytes nothing explained. On the noisy line
// the noise garbles the twins' answers past the point where a collision
// can be told from a bad transceiver, with a fixed wait too: 17 is then a
// collision or a suspect, flagged either way.
func TestAutoTimeoutGivesTheVerdictsOfAFixedLongTimeout(t *testing.T) {
	for _, sc := range autoScenarios {
		t.Run(sc.name, func(t *testing.T) {
			_, pty := bustest.StartPTY(t, sc.name)
			o := scanOpts(pty.Path(), labIDs)
			if sc.listen > 0 {
				o.Listen = sc.listen
			}
			if sc.settings != nil {
				o.Serial = *sc.settings
			}
			// One retry, because a request can be lost whatever the wait:
			// on the noisy lines a pulse garbles it while ectool sends (it
			// hears nothing meanwhile), and a simulator starved by a loaded
			// test machine reads two requests at once and puts them on the
			// line without the silence between them, so the meter hears
			// one long frame with a bad CRC. A fixed 250 ms wait leaves
			// the simulator 250 ms to catch up, a short one 20 ms.
			o.Timeout, o.AutoTimeout, o.Retries = 0, true, 1
			res := scan(t, o)
			if got := verdicts(res); !verdictsMatch(got, sc.want) {
				t.Fatalf("--timeout auto: verdicts %q, want %q as with a fixed 250ms%s", got, sc.want, explain(res))
			}
			if (sc.name == "second-master") != (res.Stopped == "foreign_master") {
				t.Errorf("--timeout auto: stopped %q on %s", res.Stopped, sc.name)
			}
			if (sc.name == "echo") != res.Bus.Echo {
				t.Errorf("--timeout auto: echo %v on %s", res.Bus.Echo, sc.name)
			}
			if (sc.name == "empty") != (res.Finding("no_device") != nil) {
				t.Errorf("--timeout auto: no_device %v on %s", res.Finding("no_device"), sc.name)
			}
			if !res.Settings.TimeoutAuto || (res.Sweep.Probed > 0 && res.Sweep.WaitMS <= 0) {
				t.Errorf("--timeout auto not reported: settings %+v sweep %+v", res.Settings, res.Sweep)
			}
			if res.Sweep.Unexplained != "" {
				t.Errorf("--timeout auto left bytes unexplained at %s on a lab bus whose every byte has a cause%s", res.Sweep.Unexplained, explain(res))
			}
			// Noise can cost the slow meter a confirm poll (a request it
			// never heard): then the warning stands, as with a fixed wait.
			if d := res.Device(9); d != nil && d.Warning != "" && sc.name != "faults" {
				t.Errorf("--timeout auto waited for the slow meter: no --timeout advice expected, got %q%s", d.Warning, explain(res))
			}
		})
	}
}

// verdictsMatch compares verdicts with want, where "17:collision|suspect"
// takes either.
func verdictsMatch(got, want string) bool {
	g, w := strings.Fields(got), strings.Fields(want)
	if len(g) != len(w) {
		return false
	}
	for i := range w {
		id, alts, _ := strings.Cut(w[i], ":")
		ok := false
		for _, v := range strings.Split(alts, "|") {
			ok = ok || g[i] == id+":"+v
		}
		if !ok {
			return false
		}
	}
	return true
}

// The slow meter's answer comes in a later address's window: the slow
// meter is found by it, and that address is asked again with the long
// wait, since a device there had no undisturbed window.
func TestAutoTimeoutAsksAgainWhereALateAnswerCame(t *testing.T) {
	_, pty := bustest.StartPTY(t, "slow")
	o := scanOpts(pty.Path(), []byte{8, 9, 10, 11, 12, 13, 14, 15, 16, 20})
	o.Timeout, o.AutoTimeout, o.Listen = 0, true, -1
	res := scan(t, o)
	if got := verdicts(res); got != "9:ok" {
		t.Fatalf("verdicts %q, want 9:ok%s", got, explain(res))
	}
	// Unless the host stalled across the sweep's wait (then the answer is
	// taken as in time, hostwatch.go), meter 9 answered late, in another
	// address's window, which is asked again with the long wait.
	if res.Device(9).Errors.Late > 0 && res.Bus.HostStalls == 0 {
		if res.Sweep.Reprobed == "" {
			t.Errorf("no address asked again though meter 9's late answer came in another's window: sweep %+v", res.Sweep)
		}
		if res.Sweep.LongWaitMS < 300 {
			t.Errorf("long wait %.0f ms: want twice the slow meter's round trip", res.Sweep.LongWaitMS)
		}
	}
}

// A meter a little slower than the window the fast meters taught (20 ms
// here) answers after it: into the next address's window, or under
// ectool's next request, whose tail ectool then hears. Either is evidence,
// followed up, and the meter is found and ok. (An answer that begins
// within about a character after ectool starts the next request and ends
// before that request does leaves nothing on the line to hear: a meter at
// 21 ms here. A fixed --timeout has that blind band just above its own
// wait, and does not follow up a tail: a meter at 101-103 ms with 100 ms.
// docs/benchmarks.md.)
func TestAutoTimeoutFindsAMeterSlowerThanTheWindow(t *testing.T) {
	for _, lat := range []time.Duration{24 * time.Millisecond, 35 * time.Millisecond, 60 * time.Millisecond} {
		t.Run(lat.String(), func(t *testing.T) {
			_, pty := bustest.StartPTY(t, "clean", func(c *bus.Config) {
				c.Meters = append(c.Meters, bus.MeterConfig{Unit: 10, Latency: lat, Vendor: "Iskra", Product: "WM3M4", Revision: "1.0", Serial: 4410})
			})
			o := scanOpts(pty.Path(), []byte{1, 2, 3, 4, 5, 9, 10, 11, 12, 13})
			o.Timeout, o.AutoTimeout, o.Listen = 0, true, -1
			res := scan(t, o)
			if got := verdicts(res); got != "1:ok 2:ok 3:ok 10:ok" {
				t.Fatalf("verdicts %q, want 1:ok 2:ok 3:ok 10:ok%s", got, explain(res))
			}
		})
	}
}

// A slow meter on a bus of otherwise fast meters: found, ok, and with
// retries its late answers are not a second device (as with a fixed
// timeout, TestRetriesDoNotMakeASlowMeterLookLikeTwins).
func TestAutoTimeoutWithRetriesKeepsASlowMeterSingle(t *testing.T) {
	_, pty := bustest.StartPTY(t, "slow", func(c *bus.Config) {})
	o := scanOpts(pty.Path(), []byte{8, 9, 10})
	o.Timeout, o.AutoTimeout, o.Retries = 0, true, 2
	res := scan(t, o)
	if got := verdicts(res); got != "9:ok" {
		t.Fatalf("verdicts %q%s", got, explain(res))
	}
}

// --timeout auto behind a transparent serial server (rtuovertcp://): the
// bytes cross TCP, whose segments arrive in bursts, yet the wait learned
// from them finds every device, the twins a collision and the slow meter
// ok, as on the adapter.
func TestAutoTimeoutOverATransparentSerialServer(t *testing.T) {
	b, _ := bustest.StartPTY(t, "slow-twins")
	o := scanOpts(serialServerURL(t, b), labIDs)
	o.Timeout, o.AutoTimeout, o.Retries, o.Listen = 0, true, 1, -1
	res := scan(t, o)
	if got := verdicts(res); got != "1:ok 2:ok 3:ok 9:ok 17:collision" {
		t.Fatalf("--timeout auto over rtuovertcp://: verdicts %q%s", got, explain(res))
	}
	if !res.Settings.TimeoutAuto || res.Sweep.WaitMS <= 0 || res.Sweep.Unexplained != "" {
		t.Errorf("--timeout auto over rtuovertcp://: settings %+v sweep %+v", res.Settings, res.Sweep)
	}
}
