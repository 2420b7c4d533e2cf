package modbus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab/bus"
	"github.com/ecdata/ectool/lab/bus/bustest"
	"github.com/ecdata/ectool/probe/modbus"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// labIDs keeps lab scans short: the scenarios' meters live at 1, 2, 3, 5, 9
// and 17; 4, 6 and 18 stay silent.
var labIDs = []byte{1, 2, 3, 4, 5, 6, 9, 17, 18}

func scanOpts(target string, ids []byte) modbus.ScanOptions {
	t, err := modbus.ParseTarget(target)
	if err != nil {
		panic(err)
	}
	// 250 ms rather than 100 ms: the lab's meters answer within 12 ms, but
	// this machine runs many test packages at once and a starved
	// simulator answers late; the slow-meter test sets its own.
	return modbus.ScanOptions{Target: t, IDs: ids, Listen: 300 * time.Millisecond, IDRegister: -1, Timeout: 250 * time.Millisecond}
}

func scan(t *testing.T, o modbus.ScanOptions) *modbus.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := modbus.Scan(ctx, o)
	if err != nil {
		t.Fatalf("scan %s: %v", o.Target, err)
	}
	return res
}

// verdicts renders the devices as "1:ok 2:ok 17:collision".
func verdicts(r *modbus.Result) string {
	var parts []string
	for _, d := range r.Devices {
		parts = append(parts, strings.Join([]string{itoa(d.UnitID), string(d.Verdict)}, ":"))
	}
	return strings.Join(parts, " ")
}

// explain lists each device's evidence for a failure message.
func explain(r *modbus.Result) string {
	var b strings.Builder
	for _, d := range r.Devices {
		b.WriteString("\n  " + itoa(d.UnitID) + " " + string(d.Verdict) + " found_by=" + d.FoundBy + " " + strings.Join(d.History, ",") + ": " + evidence(&d))
	}
	return b.String()
}

func itoa(i int) string {
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	if s == "" {
		return "0"
	}
	return s
}

func evidence(d *modbus.Device) string { return strings.Join(d.Evidence, "; ") }

// labVerdicts is what a scan of most lab scenarios finds: three meters,
// and two meters sharing address 17.
const labVerdicts = "1:ok 2:ok 3:ok 17:collision"

// wantLabVerdicts stops the test unless the scan found labVerdicts.
func wantLabVerdicts(t *testing.T, res *modbus.Result) {
	t.Helper()
	if got := verdicts(res); got != labVerdicts {
		t.Fatalf("verdicts %q, want %s%s", got, labVerdicts, explain(res))
	}
}

// serialServerURL serves b as a transparent serial server until the test
// ends and returns its rtuovertcp:// URL.
func serialServerURL(t *testing.T, b *bus.Bus) string {
	t.Helper()
	srv, err := b.ServeRTUOverTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.URL()
}

// gatewayURL serves b as a Modbus TCP gateway until the test ends and
// returns its tcp:// URL.
func gatewayURL(t *testing.T, b *bus.Bus) string {
	t.Helper()
	gw, err := b.ServeGateway("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	return gw.URL()
}

// sniff listens to target for d; an error stops the test.
func sniff(t *testing.T, target string, d time.Duration) *modbus.SniffResult {
	t.Helper()
	tg, _ := modbus.ParseTarget(target)
	res, err := modbus.Sniff(context.Background(), modbus.SniffOptions{Target: tg, Duration: d})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestScanFindsThreeMetersAndTwoMetersSharingAddress17(t *testing.T) {
	_, pty := bustest.StartPTY(t, "default")
	res := scan(t, scanOpts(pty.Path(), labIDs))
	wantLabVerdicts(t, res)
	d := res.Device(17)
	if !strings.Contains(d.Hint, "two devices answer at address 17") {
		t.Errorf("hint %q does not name the collision", d.Hint)
	}
	if d.Errors.CRC == 0 {
		t.Errorf("overlapping twins: want CRC errors counted at 17, got %+v", d.Errors)
	}
	if res.Device(1).Identity == nil || res.Device(1).Identity.Vendor != "Carlo Gavazzi" {
		t.Errorf("identity of meter 1 = %+v, want vendor Carlo Gavazzi", res.Device(1).Identity)
	}
	if res.Bus.ForeignMaster || res.Bus.Echo || !res.Sweep.Complete {
		t.Errorf("bus = %+v, sweep = %+v", res.Bus, res.Sweep)
	}
	// bus.crc: the CRC errors are the twins' garbled answers, and it says so.
	crc := reportCheck(res, modbus.CheckCRC)
	if res.Bus.CRCErrors == 0 || res.Bus.CRCErrorsByUnit[17] != res.Bus.CRCErrors || crc.Status != report.OK ||
		crc.Evidence["explained_by"] != "collision at 17" || crc.Evidence["unexplained"] != nil {
		t.Errorf("bus.crc %s %v with bus %+v: want ok, explained by the collision at 17", crc.Status, crc.Evidence, res.Bus)
	}
}

// reportCheck builds the scan's report and returns one of its checks.
func reportCheck(res *modbus.Result, id string) report.Check {
	rep := report.New("scan", res.Target, nil)
	res.Report(rep, nil)
	for _, c := range rep.Checks {
		if c.ID == id {
			return c
		}
	}
	return report.Check{}
}

func TestScanSeesStaggeredTwinsAsTwoValidAnswers(t *testing.T) {
	_, pty := bustest.StartPTY(t, "staggered")
	res := scan(t, scanOpts(pty.Path(), labIDs))
	wantLabVerdicts(t, res)
	if ev := evidence(res.Device(17)); !strings.Contains(ev, "second answer") {
		t.Errorf("evidence %q: want the second answers", ev)
	}
}

// Twins whose answers overlap by three bits or more garble even the address
// byte: only garbage comes back where 17's answer is due, every time. The
// sweep asks again, takes the repeated garbage for a device, and the confirm
// polls prove the collision. Every answer being corrupt while 1-3 are clean
// decides it: the extra polls for sometimes-garbled addresses are not spent
// (sweep probe and its repeat, FC 0x11, FC 0x2B, --confirm 5).
// Jittery twins overlap by a different amount each time (garbage, bad CRCs,
// now and then a clean answer): a collision too.
func TestScanFindsTwinsWhoseAnswersAreOnlyGarbage(t *testing.T) {
	for _, sc := range []string{"garbled", "jittery"} {
		t.Run(sc, func(t *testing.T) {
			_, pty := bustest.StartPTY(t, sc)
			res := scan(t, scanOpts(pty.Path(), labIDs))
			wantLabVerdicts(t, res)
			d := res.Device(17)
			if sc == "garbled" && (d.Responses != 0 || d.Polls != 2+2+5) {
				t.Errorf("garbled twins: %d valid answers in %d polls, want 0 in 9%s", d.Responses, d.Polls, explain(res))
			}
		})
	}
}

func TestScanFindsTwinsThatOnlyAlternatingValuesReveal(t *testing.T) {
	_, pty := bustest.StartPTY(t, "alternating")
	res := scan(t, scanOpts(pty.Path(), labIDs))
	wantLabVerdicts(t, res)
	d := res.Device(17)
	if d.Errors.CRC != 0 || d.Errors.Timeout != 0 {
		t.Errorf("taking turns, the twins never corrupt a reply: errors %+v", d.Errors)
	}
	ev := evidence(d)
	if !strings.Contains(ev, "alternate") && !strings.Contains(ev, "differs") {
		t.Errorf("evidence %q: want alternating values or differing identity", ev)
	}
}

func TestScanFindsTwinsByTheirSerialNumberRegister(t *testing.T) {
	_, pty := bustest.StartPTY(t, "alternating")
	o := scanOpts(pty.Path(), []byte{17})
	o.IDRegister = 16
	res := scan(t, o)
	d := res.Device(17)
	if d == nil || d.Verdict != modbus.VerdictCollision || !strings.Contains(evidence(d), "id register differs") {
		t.Fatalf("device 17 = %+v", d)
	}
}

func TestScanCountsAnExceptionOnlyDeviceAsPresent(t *testing.T) {
	_, pty := bustest.StartPTY(t, "exceptions")
	res := scan(t, scanOpts(pty.Path(), labIDs))
	d := res.Device(5)
	if d == nil {
		t.Fatalf("meter 5 (exceptions only) not found: %s", verdicts(res))
	}
	if d.Verdict != modbus.VerdictOK || d.Errors.Exception == 0 || !strings.Contains(evidence(d), "only with exceptions") {
		t.Fatalf("device 5 = %+v", d)
	}
}

func TestScanAttributesTheSlowMetersLateReply(t *testing.T) {
	_, pty := bustest.StartPTY(t, "slow")
	o := scanOpts(pty.Path(), labIDs)
	o.Timeout = 100 * time.Millisecond // meter 9 answers after 150 ms
	res := scan(t, o)
	d := res.Device(9)
	if d == nil {
		t.Fatalf("slow meter 9 not found: %s", verdicts(res))
	}
	if d.Verdict != modbus.VerdictOK || d.Errors.Late == 0 {
		t.Fatalf("device 9 = %+v", d)
	}
	// The sweep's poll that timed out was answered after all: it counts
	// among the polls as well as the responses (never "9 of 8").
	if d.Responses > d.Polls || len(d.History) != d.Polls {
		t.Errorf("device 9: %d responses to %d polls, history %v", d.Responses, d.Polls, d.History)
	}
	if !strings.Contains(d.Warning, "late reply from 9 after") || !strings.Contains(d.Warning, "try --timeout") {
		t.Errorf("warning %q", d.Warning)
	}
	if got := verdicts(res); got != "1:ok 2:ok 3:ok 9:ok" {
		t.Errorf("verdicts %q: the late reply must not be blamed on the next address%s", got, explain(res))
	}
}

func TestScanStopsWhenAnotherMasterIsPolling(t *testing.T) {
	_, pty := bustest.StartPTY(t, "second-master")
	o := scanOpts(pty.Path(), labIDs)
	o.Listen = 1200 * time.Millisecond // the other master polls every 500 ms
	res := scan(t, o)
	if !res.Bus.ForeignMaster || res.Finding("foreign_master") == nil || res.Sweep.Probed != 0 {
		t.Fatalf("bus %+v sweep %+v findings %+v", res.Bus, res.Sweep, res.Findings)
	}
	if res.Bus.ForeignFrames[0].UnitID != 1 {
		t.Errorf("first foreign frame %+v: the other master polls unit 1", res.Bus.ForeignFrames[0])
	}
}

func TestScanStopsMidSweepWhenAnotherMasterStarts(t *testing.T) {
	_, pty := bustest.StartPTY(t, "second-master", func(c *bus.Config) { c.Faults.SecondMaster.Every = 700 * time.Millisecond })
	o := scanOpts(pty.Path(), nil) // 1-247 would take 25 s: it must stop long before
	o.Listen = -1
	res := scan(t, o)
	if !res.Bus.ForeignMaster || res.Stopped != "foreign_master" || res.Sweep.Complete {
		t.Fatalf("stopped %q bus %+v sweep %+v", res.Stopped, res.Bus, res.Sweep)
	}
}

func TestScanStripsTheEchoOfAnEchoingAdapter(t *testing.T) {
	_, pty := bustest.StartPTY(t, "echo")
	res := scan(t, scanOpts(pty.Path(), labIDs))
	if !res.Bus.Echo {
		t.Errorf("echo not detected: %+v", res.Bus)
	}
	if res.Bus.ForeignMaster {
		t.Fatalf("the echo was taken for another master: %+v", res.Bus.ForeignFrames)
	}
	wantLabVerdicts(t, res)
}

func TestScanOverATransparentSerialServer(t *testing.T) {
	b, _ := bustest.StartPTY(t, "default")
	srv := serialServerURL(t, b)
	res := scan(t, scanOpts(srv, labIDs))
	wantLabVerdicts(t, res)
}

func TestScanThroughTheLabGateway(t *testing.T) {
	b, _ := bustest.StartPTY(t, "alternating")
	gw := gatewayURL(t, b)
	res := scan(t, scanOpts(gw, labIDs))
	wantLabVerdicts(t, res)
}

// A TCP server that accepts and never answers (a web server's keep-alive
// port, a gateway stuck on its serial side) is not a gateway that routes
// unit ids: bus.gateway fails and says what to try, within the timeouts.
func TestScanOfATCPServerThatNeverAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	o := scanOpts("tcp://"+ln.Addr().String(), []byte{1, 2, 3})
	o.Timeout = 100 * time.Millisecond
	res := scan(t, o)
	f := res.Finding("gateway")
	if len(res.Devices) != 0 || f == nil || f.Status != report.Failed || !strings.Contains(f.Hint, "--timeout") {
		t.Fatalf("devices %s, gateway finding %+v: want no device and a failed gateway finding", verdicts(res), f)
	}
	if nd := res.Finding("no_device"); nd == nil || !strings.Contains(nd.Hint, "not even the gateway") {
		t.Errorf("no_device finding %+v: want it to say nothing answered at all", nd)
	}
}

func TestScanTellsAGatewayWithoutAPathToItsBus(t *testing.T) {
	b, _ := bustest.StartPTY(t, "gateway-down")
	gw := gatewayURL(t, b)
	res := scan(t, scanOpts(gw, []byte{1, 2, 3}))
	f := res.Finding("gateway")
	if len(res.Devices) != 0 || f == nil || f.Status != report.Failed {
		t.Fatalf("devices %s findings %+v", verdicts(res), res.Findings)
	}
}

func TestScanOfAnEmptyBusSaysCheckTheWiring(t *testing.T) {
	_, pty := bustest.StartPTY(t, "empty")
	res := scan(t, scanOpts(pty.Path(), []byte{1, 2, 3}))
	f := res.Finding("no_device")
	if len(res.Devices) != 0 || f == nil || !strings.Contains(f.Hint, "A/B swapped") {
		t.Fatalf("devices %s findings %+v", verdicts(res), res.Findings)
	}
}

func TestSniffDecodesTheOtherMastersPolls(t *testing.T) {
	_, pty := bustest.StartPTY(t, "second-master", func(c *bus.Config) { c.Faults.SecondMaster.Every = 200 * time.Millisecond })
	res := sniff(t, pty.Path(), 1500*time.Millisecond)
	if len(res.Devices) != 1 || res.Devices[0].UnitID != 1 || res.Devices[0].Responses < 3 || res.Devices[0].Verdict != modbus.VerdictOK {
		t.Fatalf("sniff = %+v devices %+v", res, res.Devices)
	}
}

func TestSniffSeesTheDoubleAnswersOfStaggeredTwins(t *testing.T) {
	_, pty := bustest.StartPTY(t, "staggered", func(c *bus.Config) {
		// The other master reads 10 registers (26 ms on the wire): the
		// second twin must wait longer than that to answer cleanly.
		for i := range c.Meters {
			if c.Meters[i].Label == "17b" {
				c.Meters[i].Latency = 60 * time.Millisecond
			}
		}
		c.Faults.SecondMaster = &bus.SecondMaster{Unit: 17, Every: 200 * time.Millisecond}
	})
	res := sniff(t, pty.Path(), 1500*time.Millisecond)
	if len(res.Devices) != 1 || res.Devices[0].DoubleAnswers == 0 || res.Devices[0].Verdict != modbus.VerdictCollision {
		t.Fatalf("sniff %+v device %+v", res, res.Devices[0])
	}
}

func TestScanOnANoisyLineWarnsOfNoiseAndStillFindsTheMeters(t *testing.T) {
	_, pty := bustest.StartPTY(t, "noisy")
	o := scanOpts(pty.Path(), []byte{1, 2, 3, 4})
	o.Listen = 1500 * time.Millisecond // noise pulses every 150 ms on average
	res := scan(t, o)
	f := res.Finding("noise")
	if f == nil || f.Status != report.Warning || res.Bus.ListenNoiseBytes == 0 {
		t.Fatalf("noise finding %+v bus %+v", f, res.Bus)
	}
	for _, u := range []int{1, 2, 3} {
		if res.Device(u) == nil {
			t.Errorf("meter %d not found on the noisy line: %s%s", u, verdicts(res), explain(res))
		}
	}
	if res.Bus.ForeignMaster {
		t.Errorf("noise taken for another master: %+v", res.Bus.ForeignFrames)
	}
	// Noise after the meters' replies hits every address alike: the line's
	// doing, reported as a bus finding, not a suspect meter.
	for _, d := range res.Devices {
		if strings.Contains(evidence(&d), "bytes after a valid reply") || d.Verdict == modbus.VerdictCollision {
			t.Errorf("meter %d blamed for the line's noise (%s): %s%s", d.UnitID, d.Verdict, evidence(&d), explain(res))
		}
	}
}

func TestScanWithTalkOverMasterKeepsGoingBesideAnotherMaster(t *testing.T) {
	_, pty := bustest.StartPTY(t, "second-master")
	o := scanOpts(pty.Path(), []byte{1, 2, 3})
	o.Listen = 1200 * time.Millisecond
	o.TalkOverMaster = true
	res := scan(t, o)
	f := res.Finding("foreign_master")
	// Scanning over a live master breaks exchanges (that is why it needs
	// --talk-over-master), but its polls of meter 1 are not taken for a
	// second device.
	if f == nil || f.Status != report.Warning || !res.Sweep.Complete || !strings.Contains(f.Message, "--talk-over-master") {
		t.Fatalf("finding %+v sweep %+v devices %s", f, res.Sweep, verdicts(res))
	}
	if d := res.Device(1); d != nil && d.Verdict == modbus.VerdictCollision {
		t.Fatalf("the other master's answers from 1 were taken for a twin:%s", explain(res))
	}
}

// --force opens a held port and nothing else: another master heard still
// stops the scan before its first request.
func TestForceDoesNotSwitchOffTheStopForAnotherMaster(t *testing.T) {
	_, pty := bustest.StartPTY(t, "second-master")
	o := scanOpts(pty.Path(), []byte{1, 2, 3})
	o.Listen = 1200 * time.Millisecond
	o.Force = true
	res := scan(t, o)
	f := res.Finding("foreign_master")
	if f == nil || f.Status != report.Failed || res.Stopped != "foreign_master" || res.Sweep.Probed != 0 {
		t.Fatalf("finding %+v stopped %q sweep %+v: want a stop before the sweep", f, res.Stopped, res.Sweep)
	}
	if !strings.Contains(f.Hint, "--talk-over-master") || strings.Contains(f.Hint, "--force") {
		t.Errorf("hint %q: want --talk-over-master named as the way to scan anyway, not --force", f.Hint)
	}
}

func TestRetriesDoNotMakeASlowMeterLookLikeTwins(t *testing.T) {
	_, pty := bustest.StartPTY(t, "slow")
	o := scanOpts(pty.Path(), []byte{8, 9, 10})
	o.Timeout = 100 * time.Millisecond // meter 9 answers after 150 ms: each retry's answer comes late
	o.Retries = 2
	res := scan(t, o)
	if got := verdicts(res); got != "9:ok" {
		t.Fatalf("verdicts %q: an answer to an earlier attempt is late, not a second device%s", got, explain(res))
	}
}

func TestSniffOverATransparentSerialServer(t *testing.T) {
	b, _ := bustest.StartPTY(t, "clean", func(c *bus.Config) {
		c.Faults.SecondMaster = &bus.SecondMaster{Unit: 3, Every: 150 * time.Millisecond}
	})
	srv := serialServerURL(t, b)
	res := sniff(t, srv, 1200*time.Millisecond)
	if len(res.Devices) != 1 || res.Devices[0].UnitID != 3 || res.Devices[0].Responses < 3 || res.CRCErrors != 0 {
		t.Fatalf("sniff %+v devices %+v", res, res.Devices)
	}
}

// The finding a technician came for: the master keeps polling an address
// and nothing ever answers (a dead or mis-addressed meter). A warning that
// names it, never ok.
func TestSniffNamesAnAddressTheMasterPollsThatNeverAnswers(t *testing.T) {
	b, _ := bustest.StartPTY(t, "clean", func(c *bus.Config) {
		c.Faults.SecondMaster = &bus.SecondMaster{Unit: 4, Every: 150 * time.Millisecond}
	})
	srv := serialServerURL(t, b)
	res := sniff(t, srv, 1200*time.Millisecond)
	if len(res.Devices) != 1 || res.Devices[0].UnitID != 4 || res.Devices[0].Verdict != modbus.VerdictNoAnswer || res.Devices[0].NoResponse < 3 || res.Devices[0].Responses != 0 {
		t.Fatalf("sniff %+v devices %+v: want address 4 polled and never answering", res, res.Devices)
	}
	rep := report.New("scan sniff", res.Target, nil)
	res.Report(rep, nil)
	rep.Finish()
	var unit report.Check
	for _, c := range rep.Checks {
		if c.ID == modbus.UnitCheckID(4) {
			unit = c
		}
	}
	if unit.Status != report.Warning || !strings.Contains(unit.Hint, "polls address 4 and nothing answers") || rep.ExitCode(false) != 0 {
		t.Fatalf("bus.unit4 %+v (exit %d): want a warning with a hint", unit, rep.ExitCode(false))
	}
}

// A hint names the device the technician has in front of them: behind
// rtuovertcp:// a transparent serial server (its TCP port, its serial
// settings), behind tcp:// a Modbus TCP gateway; and names only commands
// that run today.
func TestHintsNameASerialServerOrAGatewayByTransport(t *testing.T) {
	port := testenv.FreePort(t) // nothing listens there
	for _, c := range []struct {
		target    string
		want, not []string
	}{
		{fmt.Sprintf("rtuovertcp://127.0.0.1:%d", port), []string{"serial server", "TCP server mode", "'ping 127.0.0.1'"}, []string{"Modbus TCP", "gateway", "probe net"}},
		{fmt.Sprintf("tcp://127.0.0.1:%d", port), []string{"gateway", "Modbus TCP server", "'ping 127.0.0.1'"}, []string{"serial server", "probe net"}},
	} {
		_, err := modbus.Scan(context.Background(), scanOpts(c.target, []byte{1}))
		hint, cannotRun := modbus.OpenFailure(err)
		if !errors.Is(err, modbus.ErrUnreachable) || cannotRun {
			t.Fatalf("%s: %v (cannot run %v), want unreachable, exit 1", c.target, err, cannotRun)
		}
		for _, w := range c.want {
			if !strings.Contains(hint, w) {
				t.Errorf("%s: hint %q lacks %q", c.target, hint, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(hint, n) {
				t.Errorf("%s: hint %q names %q", c.target, hint, n)
			}
		}
	}

	// An empty line behind a serial server: its settings are the server's,
	// which --auto-detect cannot reach.
	b, _ := bustest.StartPTY(t, "empty")
	srv := serialServerURL(t, b)
	o := scanOpts(srv, []byte{1, 2})
	o.Listen = -1
	f := scan(t, o).Finding("no_device")
	if f == nil || !strings.Contains(f.Hint, "serial server's port") || strings.Contains(f.Hint, "--auto-detect") {
		t.Fatalf("no_device finding %+v: want the serial server's settings named, not --auto-detect", f)
	}
}

// On the noisy line with a fixed long wait, every window catches a pulse
// or two: the twins at 17 are still flagged (their garbled answers repeat
// byte for byte, noise's never do), and an empty address whose windows
// caught noise is no device. Before, 17 came out ok in 3 scans of 12 and
// an empty address 9 suspect in 7 of 12.
func TestScanOnANoisyLineFlagsTheTwinsAndInventsNoDevice(t *testing.T) {
	_, pty := bustest.StartPTY(t, "noisy")
	o := scanOpts(pty.Path(), labIDs)
	o.Listen = time.Second
	o.Retries = 1 // a pulse can garble a request while ectool sends
	res := scan(t, o)
	if got := verdicts(res); !verdictsMatch(got, "1:ok 2:ok 3:ok 17:collision|suspect") {
		t.Fatalf("verdicts %q on the noisy line%s", got, explain(res))
	}
	for _, id := range res.Bus.NoiseOnlyIDs {
		if id == 1 || id == 2 || id == 3 || id == 17 {
			t.Errorf("a device at %d taken for noise: %v", id, res.Bus.NoiseOnlyIDs)
		}
	}
}
