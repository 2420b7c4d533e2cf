package tour

import (
	"strconv"
	"strings"
	"testing"

	"github.com/ecdata/ectool/lab"
)

// ran is a finished command as a judgement function sees it.
func ran(code int, stdout string) *Command {
	c := &Command{Args: []string{"x", "y", "-o", "json"}, ExitCode: code, Stdout: stdout, done: make(chan struct{})}
	close(c.done)
	return c
}

// judged is a judgement's outcome in a table: "" when as expected, else a
// piece of the problem it must name.
func judged(t *testing.T, name string, v Verdict, want string) {
	t.Helper()
	switch {
	case want == "" && v.Problem != "":
		t.Errorf("%s: %q, want as expected", name, v.Problem)
	case want != "" && !strings.Contains(v.Problem, want):
		t.Errorf("%s: problem %q, want one naming %q", name, v.Problem, want)
	}
}

const modemReport = `{"schema":"ectool.report/v1","command":"probe modem","checks":[` +
	`{"id":"modem.registration","status":"ok"},` +
	`{"id":"modem.pdp","status":"failed","evidence":{"context_1":"APN 'internet', IP, inactive, no address","expected_apn":"m2m.example"}}],` +
	`"first_failure":{"id":"modem.pdp"},"details":{"modem":{"pdp":{"contexts":[{"cid":1,"apn":"%APN%","addresses":%ADDR%}]},"expected_apn":"m2m.example"}}}`

func TestModemStepWantsThePDPCheckNamingBothAPNs(t *testing.T) {
	m := &lab.ModemEndpoints{APN: "internet", ExpectedAPN: "m2m.example"}
	doc := func(apn, addr string) string {
		return strings.NewReplacer("%APN%", apn, "%ADDR%", addr).Replace(modemReport)
	}
	for _, tc := range []struct {
		name string
		c    *Command
		want string
	}{
		{"wrong APN named", ran(1, doc("internet", "[]")), ""},
		{"exit 0", ran(0, doc("internet", "[]")), "exited 0, want 1"},
		{"the text report, not JSON", ran(1, "[FAIL] modem.pdp APN 'internet' expected 'm2m.example'\n"), "no JSON report"},
		{"an error document", ran(1, `{"error":{"message":"port busy","exit_code":3}}`), "port busy"},
		{"the context has an address", ran(1, doc("internet", `["10.0.0.2"]`)), "no data context"},
		{"another APN", ran(1, doc("web", "[]")), `"internet"`},
		{"nothing at all", ran(1, ""), "no JSON report"},
	} {
		judged(t, tc.name, judgeModemAPN(tc.c, m), tc.want)
	}
}

func TestInspectStepWantsTheRefusedClientAndReason0x86(t *testing.T) {
	doc := func(client string, code int) string {
		return `{"schema":"ectool.report/v1","command":"capture inspect","checks":[{"id":"inspect.input","status":"ok"},` +
			`{"id":"inspect.connect","status":"failed","evidence":{"count":1,"first":[{"time":"2026-12-02T08:11:14.254858Z","stream":1,` +
			`"client_id":"` + client + `","reason_code":` + strconv.Itoa(code) + `}]}}]}`
	}
	for _, tc := range []struct {
		name string
		c    *Command
		want string
	}{
		{"refused 0x86", ran(1, doc("tour-wrong-pw-1", 0x86)), ""},
		{"another client", ran(1, doc("gw-lab", 0x86)), "tour-wrong-pw-1"},
		{"another reason", ran(1, doc("tour-wrong-pw-1", 0x87)), "0x86"},
		{"nothing refused", ran(0, `{"schema":"ectool.report/v1","checks":[{"id":"inspect.connect","status":"ok"}]}`), "exited 0"},
	} {
		judged(t, tc.name, judgeInspect(tc.c, "tour-wrong-pw-1"), tc.want)
	}
}

func TestScanIDsStepWantsBothTwinsSerialNumbers(t *testing.T) {
	reg := lab.BusRegister{Reference: "40017", Type: "u32", Order: "ABCD"}
	twins := []lab.BusMeter{{UnitID: 17, Serial: 17000451}, {UnitID: 17, Serial: 17000982}}
	doc := func(verdict, regs string) string {
		return `{"schema":"ectool.report/v1","command":"scan","checks":[],"details":{"devices":[` +
			`{"unit_id":1,"verdict":"ok","id_registers":["0400b60a77"]},` +
			`{"unit_id":17,"verdict":"` + verdict + `","id_registers":` + regs + `}]}}`
	}
	for _, tc := range []struct {
		name string
		c    *Command
		want string
	}{
		{"two serial numbers", ran(1, doc("collision", `["0401036a16","0401036803"]`)), ""},
		{"one serial number", ran(1, doc("collision", `["0401036a16"]`)), "1 serial number"},
		{"a stranger's serial", ran(1, doc("collision", `["0401036a16","0400b60a77"]`)), "17000451"},
		{"no collision named", ran(1, doc("suspect", `["0401036a16","0401036803"]`)), "collision at 17"},
		{"not a register read", ran(1, doc("collision", `["04010368","0401036803"]`)), "not a register read"},
		{"exit 0", ran(0, doc("collision", `["0401036a16","0401036803"]`)), "want 1"},
	} {
		judged(t, tc.name, judgeScanIDs(tc.c, &lab.BusEndpoints{}, reg, twins), tc.want)
	}
}

func TestProbeNetStepsJudgeICMPAndTheRefusal(t *testing.T) {
	net := func(icmp string) string {
		return `{"schema":"ectool.report/v1","command":"probe net","checks":[{"id":"net.iface","status":"ok"},{"id":"net.dns","status":"ok"},` +
			icmp + `,{"id":"net.tcp","status":"ok"},{"id":"net.tls","status":"ok"}]}`
	}
	for _, tc := range []struct {
		name string
		c    *Command
		want string
	}{
		{"icmp ok", ran(0, net(`{"id":"net.icmp","status":"ok","evidence":{"socket":"ping socket"}}`)), ""},
		{"icmp skipped with its reason", ran(0, net(`{"id":"net.icmp","status":"skipped","skipped_reason":"ping_group_range excludes gid 65534"}`)), ""},
		{"icmp skipped without a reason", ran(0, net(`{"id":"net.icmp","status":"skipped"}`)), "without a reason"},
		{"icmp warning", ran(0, net(`{"id":"net.icmp","status":"warning","hint":"filtered"}`)), "warning"},
		{"icmp absent", ran(0, net(`{"id":"net.x","status":"ok"}`)), "absent"},
	} {
		judged(t, tc.name, judgeProbeNet(tc.c), tc.want)
	}
	refused := func(result string) string {
		return `{"schema":"ectool.report/v1","command":"probe net","checks":[{"id":"net.tcp","status":"failed","evidence":{"result":"` + result + `"}},` +
			`{"id":"net.tls","status":"skipped","skipped_reason":"depends on net.tcp"}],"first_failure":{"id":"net.tcp"}}`
	}
	for _, tc := range []struct {
		name string
		c    *Command
		want string
	}{
		{"refused", ran(1, refused("refused")), ""},
		{"timed out", ran(1, refused("timeout")), "want refused"},
		{"exit 0", ran(0, refused("refused")), "want 1"},
	} {
		judged(t, tc.name, judgeProbeRefused(tc.c), tc.want)
	}
}

func TestAStreamIsReadRecordByRecord(t *testing.T) {
	c := ran(1, `{"topic":"a","payload":"x","retain":true}`+"\n"+`not json`+"\n"+
		`{"summary":{"received":1,"lost":2}}`+"\n"+`{"error":{"message":"connection lost","exit_code":1}}`+"\n")
	ms, sum := messages(c)
	if len(ms) != 1 || ms[0].Topic != "a" || !ms[0].Retain || sum == nil || sum.Lost != 2 {
		t.Errorf("messages %+v, summary %+v", ms, sum)
	}
	if e := c.Error(); e == nil || e.Message != "connection lost" {
		t.Errorf("closing error %+v", e)
	}
	if _, err := c.Report(); err == nil || !strings.Contains(err.Error(), "connection lost") {
		t.Errorf("a stream ending on an error is no report: %v", err)
	}
}

func TestCommandLinesPasteIntoAShell(t *testing.T) {
	got := CommandLine([]string{"mqtt", "sub", "-t", "ec-data/lab/+/telemetry", "-m", "it's", ""})
	want := `ectool mqtt sub -t 'ec-data/lab/+/telemetry' -m 'it'\''s' ''`
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if n := commandName(ran(0, "")); n != "ectool x y" {
		t.Errorf("commandName %q", n)
	}
}
