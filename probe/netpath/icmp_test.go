package netpath

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/ecdata/ectool/diag/report"
)

func TestEchoRepliesAreOursOnlyWithOurID(t *testing.T) {
	m := icmp.Message{Type: ipv4.ICMPTypeEchoReply, Body: &icmp.Echo{ID: 77, Seq: 5, Data: []byte("x")}}
	b, _ := m.Marshal(nil)
	ip := append([]byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}, b...)
	if seq, ok := parseEchoReply(ip, false, true, 77); !ok || seq != 5 {
		t.Errorf("raw reply: %d %v", seq, ok)
	}
	if _, ok := parseEchoReply(ip, false, true, 78); ok {
		t.Error("a raw socket took another program's reply")
	}
	if seq, ok := parseEchoReply(b, false, false, 0); !ok || seq != 5 {
		t.Errorf("ping socket reply: %d %v", seq, ok)
	}
	req := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: 77, Seq: 5}}
	rb, _ := req.Marshal(nil)
	if _, ok := parseEchoReply(rb, false, false, 0); ok {
		t.Error("an echo request was taken for a reply")
	}
}

func FuzzParseEchoReply(f *testing.F) {
	m := icmp.Message{Type: ipv4.ICMPTypeEchoReply, Body: &icmp.Echo{ID: 1, Seq: 2, Data: []byte("abc")}}
	b, _ := m.Marshal(nil)
	f.Add(b, false, false)
	f.Add(append([]byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}, b...), false, true)
	f.Add([]byte{0x4f}, false, true)
	f.Add([]byte{129, 0, 0, 0, 0, 1, 0, 2}, true, false)
	f.Fuzz(func(t *testing.T, b []byte, v6, raw bool) {
		_, _ = parseEchoReply(b, v6, raw, 1)
	})
}

func check(id string) *report.Check {
	return &report.Check{ID: id, Status: report.OK, Evidence: map[string]any{}}
}

func TestNoEchoReplyIsAWarningOnlyWhileTCPWorks(t *testing.T) {
	silent := icmpOutcome{kind: "raw socket", sent: 3, errs: map[string]int{}, timeout: 5 * time.Second}
	ch := check(CheckICMP)
	silent.judge(ch, &report.Check{Status: report.OK})
	if ch.Status != report.Warning || !strings.Contains(ch.Hint, "filtered") {
		t.Errorf("TCP ok: %s %q", ch.Status, ch.Hint)
	}
	ch = check(CheckICMP)
	silent.judge(ch, &report.Check{Status: report.Failed})
	if ch.Status != report.Failed {
		t.Errorf("TCP failed too: %s", ch.Status)
	}
	lossy := icmpOutcome{kind: "ping socket", sent: 3, received: 2, errs: map[string]int{}}
	ch = check(CheckICMP)
	lossy.judge(ch, &report.Check{Status: report.OK})
	if ch.Status != report.Warning || !strings.Contains(ch.Hint, "1 of 3 echoes lost") {
		t.Errorf("loss: %s %q", ch.Status, ch.Hint)
	}
	if r := (icmpOutcome{skipped: "no socket"}).pmtuSkip(); !strings.Contains(r, "no socket") {
		t.Errorf("skip reason %q", r)
	}
	if r := silent.pmtuSkip(); !strings.Contains(r, "no answer") {
		t.Errorf("skip reason %q", r)
	}
}

func TestPathMTUVerdicts(t *testing.T) {
	sizes := func(pass ...int) map[int]bool {
		m := map[int]bool{}
		for _, s := range []int{1500, 1460, 1420, 1400, 1280, 576, 128} {
			m[s] = false
		}
		for _, s := range pass {
			m[s] = true
		}
		return m
	}
	hole := pmtuOutcome{kind: "raw socket", ifaceMTU: 1500, top: 1500, passed: sizes(1400, 1280, 576, 128), pathMTU: 1400}
	ch := check(CheckPMTU)
	hole.judge(ch, "", "eth0")
	if ch.Status != report.Failed || !strings.Contains(ch.Evidence["error"].(string), "up to 1400 bytes cross, from 1420 bytes they vanish") || !strings.Contains(ch.Hint, "clamp the TCP MSS to 1360") || !strings.Contains(ch.Hint, "eth0") {
		t.Errorf("black hole: %s %v %q", ch.Status, ch.Evidence["error"], ch.Hint)
	}
	told := hole
	told.fragNeeded, told.reported = 2, 1400
	ch = check(CheckPMTU)
	told.judge(ch, "", "eth0")
	if ch.Status != report.OK || ch.Evidence["reported_mtu"] != 1400 {
		t.Errorf("frag needed: %s %v", ch.Status, ch.Evidence)
	}
	all := pmtuOutcome{kind: "raw socket", ifaceMTU: 1500, top: 1500, passed: sizes(1500, 1460, 1420, 1400, 1280, 576, 128), pathMTU: 1500}
	ch = check(CheckPMTU)
	all.judge(ch, "", "eth0")
	if ch.Status != report.OK {
		t.Errorf("all pass: %s", ch.Status)
	}
	lossy := pmtuOutcome{kind: "raw socket", ifaceMTU: 1500, top: 1500, passed: sizes(1500, 1460, 1420, 1280, 576, 128), pathMTU: 1500}
	ch = check(CheckPMTU)
	lossy.judge(ch, "", "eth0")
	if ch.Status != report.Warning {
		t.Errorf("a hole below a pass: %s", ch.Status)
	}
}
