package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
)

// watchFailures runs `mqtt check --every` for two rounds and returns the
// availability check's evidence; both rounds must fail (exit 1).
func watchFailures(t *testing.T, args ...string) watchEvidence {
	t.Helper()
	p := startWatch(t, append(args, "--every", "100ms", "--rounds", "2", "--qos-levels", "1", "--count", "1", "-o", "json")...)
	code := p.wait(t)
	lines := testenv.AssertStream(t, []byte(p.out.String()))
	if code != 1 || len(lines) != 3 {
		t.Fatalf("exit %d with %d lines, want 1 with two rounds and the report: %s%s", code, len(lines), p.out.String(), p.errOut.String())
	}
	var rep struct {
		Checks []struct {
			ID       string        `json:"id"`
			Evidence watchEvidence `json:"evidence"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(lines[2], &rep); err != nil || len(rep.Checks) != 1 || rep.Checks[0].ID != "mqtt.availability" {
		t.Fatalf("report: %v: %s", err, lines[2])
	}
	ev := rep.Checks[0].Evidence
	if ev.Rounds != 2 || ev.OKRounds != 0 || ev.AvailabilityPct != 0 || len(ev.Failures) != 2 {
		t.Fatalf("evidence %+v, want two failed rounds", ev)
	}
	return ev
}

// Each failed round names the first layer that broke: a broker whose
// certificate has expired breaks at TLS, every round.
func TestCheckEveryNamesTLSWhenTheBrokersCertificateFails(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true, ServerCert: "expired"})
	ev := watchFailures(t, "-b", b.URL, "--ca", b.CAFile, "--timeout", "3s")
	for _, f := range ev.Failures {
		if f.Layer != "tls" || f.Check != "mqtt.tls" || !strings.Contains(f.Reason, "expired") {
			t.Errorf("failed round %+v, want layer tls (mqtt.tls) naming the expired certificate", f)
		}
	}
}

// A broker name that does not resolve breaks at DNS. Only inside the
// test package's own network namespace (loopback only, whatever
// resolv.conf says): elsewhere the query would leave the machine.
func TestCheckEveryNamesDNSWhenTheBrokerNameDoesNotResolve(t *testing.T) {
	testenv.RequireNetns(t)
	ev := watchFailures(t, "-b", "mqtt://broker.invalid:1883", "--timeout", "2s")
	for _, f := range ev.Failures {
		if f.Layer != "dns" || f.Check != "mqtt.dns" {
			t.Errorf("failed round %+v, want layer dns (mqtt.dns)", f)
		}
	}
}
