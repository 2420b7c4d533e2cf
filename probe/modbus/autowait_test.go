package modbus_test

import (
	"testing"
	"time"

	"github.com/ecdata/ectool/lab/bus"
	"github.com/ecdata/ectool/lab/bus/bustest"
	"github.com/ecdata/ectool/probe/modbus"
)

// autoScenarios are the lab's bus scenarios --timeout auto is held to, each
// with the verdicts a fixed long timeout gives at labIDs (and the stop, for
// the bus where another master polls).
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
	{name: "noisy", want: "1:ok 2:ok 3:ok 17:collision", listen: time.Second},
	{name: "echo", want: "1:ok 2:ok 3:ok 17:collision"},
	{name: "faults", want: "1:ok 2:ok 3:ok 5:ok 9:ok 17:collision"},
	{name: "even-parity", want: "1:ok 2:ok 3:ok 17:collision", settings: &modbus.SerialSettings{Baud: 19200, DataBits: 8, Parity: "E", StopBits: 1}},
	{name: "second-master", want: "", listen: 1200 * time.Millisecond},
	{name: "empty", want: ""},
}

// --timeout auto on every lab bus scenario gives the verdicts of a fixed
// long timeout (the same scan with 250 ms, scanOpts), scanned in the same
// test: every device found, the twins a collision, the slow meter ok, never
// an address reported silent whose window held bytes nothing explained.
func TestAutoTimeoutGivesTheVerdictsOfAFixedLongTimeout(t *testing.T) {
	for _, sc := range autoScenarios {
		t.Run(sc.name, func(t *testing.T) {
			_, pty := bustest.StartPTY(t, sc.name)
			fixed := scanOpts(pty.Path(), labIDs)
			if sc.listen > 0 {
				fixed.Listen = sc.listen
			}
			if sc.settings != nil {
				fixed.Serial = *sc.settings
			}
			auto := fixed
			auto.Timeout, auto.AutoTimeout = 0, true
			rf := scan(t, fixed)
			ra := scan(t, auto)
			if got := verdicts(rf); got != sc.want {
				t.Fatalf("fixed 250ms: verdicts %q, want %q%s", got, sc.want, explain(rf))
			}
			if got := verdicts(ra); got != sc.want {
				t.Fatalf("--timeout auto: verdicts %q, want %q as with a fixed 250ms%s", got, sc.want, explain(ra))
			}
			if ra.Stopped != rf.Stopped || ra.Bus.ForeignMaster != rf.Bus.ForeignMaster || ra.Bus.Echo != rf.Bus.Echo {
				t.Errorf("--timeout auto: stopped %q foreign %v echo %v; fixed: %q %v %v", ra.Stopped, ra.Bus.ForeignMaster, ra.Bus.Echo, rf.Stopped, rf.Bus.ForeignMaster, rf.Bus.Echo)
			}
			if (ra.Finding("no_device") == nil) != (rf.Finding("no_device") == nil) {
				t.Errorf("--timeout auto: no_device %v, fixed %v", ra.Finding("no_device"), rf.Finding("no_device"))
			}
			if !ra.Settings.TimeoutAuto || (ra.Sweep.Probed > 0 && ra.Sweep.WaitMS <= 0) {
				t.Errorf("--timeout auto not reported: settings %+v sweep %+v", ra.Settings, ra.Sweep)
			}
			if ra.Sweep.Unexplained != "" {
				t.Errorf("--timeout auto left bytes unexplained at %s on a lab bus whose every byte has a cause%s", ra.Sweep.Unexplained, explain(ra))
			}
			// Noise can cost the slow meter a confirm poll (a request it
			// never heard): then the warning stands, as with a fixed wait.
			if d := ra.Device(9); d != nil && d.Warning != "" && sc.name != "faults" {
				t.Errorf("--timeout auto waited for the slow meter: no --timeout advice expected, got %q%s", d.Warning, explain(ra))
			}
		})
	}
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
	if res.Device(9).Errors.Late == 0 {
		t.Errorf("meter 9 answers after 150 ms: the sweep's short wait must have seen it late: %+v", res.Device(9))
	}
	if res.Sweep.Reprobed == "" {
		t.Errorf("no address asked again though meter 9's late answer came in another's window: sweep %+v", res.Sweep)
	}
	if res.Sweep.LongWaitMS < 300 {
		t.Errorf("long wait %.0f ms: want twice the slow meter's round trip", res.Sweep.LongWaitMS)
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
