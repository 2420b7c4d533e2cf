//go:build linux

package netpath

import (
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/certs"
	"github.com/ecdata/ectool/internal/testenv"
)

// routedSite is client (the test's namespace) ⇄ router ⇄ server, with a
// broker on the server serving a long certificate chain. clientMTU and
// routerMTU are the two ends of the client's link.
func routedSite(t *testing.T, set *certs.Set, clientMTU, routerMTU int) *testenv.Mosquitto {
	t.Helper()
	router, server := testenv.NewNetns(t), testenv.NewNetns(t)
	front := testenv.ProbeLink(t, "", router)
	back := testenv.ProbeLink(t, router, server)
	testenv.ProbeSysctl(t, router, "net.ipv4.ip_forward", "1")
	testenv.ProbeRun(t, "", "ip", "route", "add", back.Net.String(), "via", front.AddrB.String())
	t.Cleanup(func() { _ = testenv.ProbeCommand("", -1, "ip", "route", "del", back.Net.String()).Run() })
	testenv.ProbeRun(t, server, "ip", "route", "add", "default", "via", back.AddrA.String())
	// The router tells nobody that a packet was too big for the client's
	// link: the black hole of a misconfigured tunnel or firewall.
	testenv.ProbeNft(t, router, `table inet ectool_test {
 chain output {
  type filter hook output priority 0; policy accept;
  icmp type destination-unreachable icmp code frag-needed drop
  icmpv6 type packet-too-big drop
 }
}
`)
	front.SetMTU(t, "A", clientMTU)
	front.SetMTU(t, "B", routerMTU)
	return testenv.StartMosquitto(t, testenv.MosquittoConfig{Netns: server, Host: back.AddrB.String(), TLS: true, Certs: set})
}

// TestLongCertificateChainOverARouter: a 4096-bit chain with an
// intermediate takes several full-size packets, the first thing a path MTU
// black hole swallows.
func TestLongCertificateChainOverARouter(t *testing.T) {
	t.Parallel()
	set, err := certs.WriteSetWith(testenv.PrivateDir(t), certs.SetOptions{Hosts: []string{"broker.test"}, LongChain: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("MTUBlackHoleStallsTheTLSHandshake", func(t *testing.T) { mtuBlackHole(t, set) })
	t.Run("SmallMTUOnTheClientsOwnLinkOnlyShrinksItsMSS", func(t *testing.T) { smallClientMTU(t, set) })
}

func mtuBlackHole(t *testing.T, set *certs.Set) {
	t.Parallel()
	b := routedSite(t, set, 1500, 1400)
	o := Options{Timeout: 2 * time.Second, TLS: trust(t, set.CAFile), ServerName: "broker.test"}
	l := probeOne(t, b.URL, o)
	l.expect(t, map[string]report.Status{CheckIface: report.OK, CheckICMP: report.OK, CheckTCP: report.OK, CheckPMTU: report.Failed, CheckTLS: report.Failed})
	if !strings.Contains(l.text(CheckPMTU), "black hole") || !strings.Contains(l.text(CheckPMTU), "clamp the TCP MSS") {
		t.Errorf("net.pmtu: %s", l.text(CheckPMTU))
	}
	lo := l[CheckPMTU].Evidence["path_mtu"].(int)
	if lo < 1280 || lo > 1420 {
		t.Errorf("path MTU %d: the router's link is 1400", lo)
	}
	if !strings.Contains(l.text(CheckTLS), "stalled") || !strings.Contains(l[CheckTLS].Hint, "net.pmtu found a path MTU black hole") {
		t.Errorf("net.tls: %s", l.text(CheckTLS))
	}
}

func smallClientMTU(t *testing.T, set *certs.Set) {
	t.Parallel()
	b := routedSite(t, set, 1400, 1400)
	o := Options{Timeout: 3 * time.Second, TLS: trust(t, set.CAFile), ServerName: "broker.test"}
	l := probeOne(t, b.URL, o)
	l.expect(t, map[string]report.Status{CheckTCP: report.OK, CheckPMTU: report.OK, CheckTLS: report.OK})
	if l[CheckPMTU].Evidence["path_mtu"] != 1400 {
		t.Errorf("path MTU %v, want 1400 (the interface's)", l[CheckPMTU].Evidence["path_mtu"])
	}
	chain, _ := l[CheckTLS].Evidence["chain"].([]CertSummary)
	if len(chain) != 2 || chain[0].KeyBits != 4096 {
		t.Errorf("chain %+v: want the server and the intermediate, 4096-bit", chain)
	}
	// The root is not sent: its pin comes from the verified chain.
	pins, _ := l[CheckTLS].Evidence["pins"].([]PinEntry)
	if len(pins) != 3 || pins[2].Presented || pins[2].Pin != pinOfFile(t, set.CAFile) {
		t.Errorf("pins %+v: want the root's last, not presented", pins)
	}
}
