//go:build linux

package netpath

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/certs"
	"github.com/ecdata/ectool/internal/testenv"
)

// ladder is one target's checks by ID.
type ladder map[string]report.Check

func (l ladder) status(id string) report.Status { return l[id].Status }

// text is a check's evidence and hint as one string, to look for words in.
func (l ladder) text(id string) string {
	b, _ := json.Marshal(l[id].Evidence)
	return string(b) + " " + l[id].Hint + " " + l[id].SkippedReason
}

func (l ladder) expect(t *testing.T, want map[string]report.Status) {
	t.Helper()
	for id, s := range want {
		if l.status(id) != s {
			t.Errorf("%s is %q, want %q: %s", id, l.status(id), s, l.text(id))
		}
	}
}

// probeOne runs the ladder against one target and returns its checks.
func probeOne(t *testing.T, target string, o Options) ladder {
	t.Helper()
	tg, err := ParseTarget(target, false)
	if err != nil {
		t.Fatal(err)
	}
	o.Targets = []Target{tg}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Second
	}
	if o.HostsFile == "" {
		o.HostsFile = os.DevNull
	}
	res := Probe(context.Background(), o)
	if res.Err != nil {
		t.Fatalf("probe could not run: %v", res.Err)
	}
	l := ladder{}
	for _, c := range res.Targets[0].Checks {
		l[c.ID] = c
	}
	if t.Failed() || testing.Verbose() {
		for _, c := range res.Targets[0].Checks {
			b, _ := json.Marshal(c)
			t.Logf("%s", b)
		}
	}
	return l
}

// trust is a client configuration trusting the CA in caFile.
func trust(t *testing.T, caFile string, client ...string) *tls.Config {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	c := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if len(client) == 2 {
		kp, err := tls.LoadX509KeyPair(client[0], client[1])
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{kp}
	}
	return c
}

// site is a server namespace reached over one veth from the test's own:
// dnsmasq answers for broker.test there, mosquitto listens with TLS.
type site struct {
	ns     string
	link   *testenv.ProbeLinkPair
	certs  *certs.Set
	broker *testenv.Mosquitto
	dns    string
	port   string // the broker's
}

func newSite(t *testing.T) *site {
	t.Helper()
	s := &site{ns: testenv.NewNetns(t)}
	s.link = testenv.ProbeLink(t, "", s.ns)
	var err error
	if s.certs, err = certs.WriteSet(testenv.PrivateDir(t), "broker.test", s.link.AddrB.String()); err != nil {
		t.Fatal(err)
	}
	testenv.StartProbeDnsmasq(t, s.ns, s.link.AddrB, map[string][]string{"broker.test": {s.link.AddrB.String()}})
	s.dns = net.JoinHostPort(s.link.AddrB.String(), "53")
	s.broker = testenv.StartMosquitto(t, testenv.MosquittoConfig{Netns: s.ns, Host: s.link.AddrB.String(), TLS: true, Certs: s.certs})
	s.port = strconv.Itoa(s.broker.Port)
	return s
}

func TestHealthyPathToABrokerInANamespace(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	l := probeOne(t, "mqtts://broker.test:"+s.port, Options{DNS: []string{s.dns}, TLS: trust(t, s.certs.CAFile), CAFile: s.certs.CAFile})
	l.expect(t, map[string]report.Status{CheckIface: report.OK, CheckDNS: report.OK, CheckICMP: report.OK, CheckTCP: report.OK, CheckPMTU: report.OK, CheckTLS: report.OK})
	if l[CheckIface].Evidence["interface"] != s.link.A {
		t.Errorf("net.iface names %v, want %s", l[CheckIface].Evidence["interface"], s.link.A)
	}
	rs := l[CheckDNS].Evidence["resolvers"].([]ResolverResult)
	if len(rs) != 1 || rs[0].A.Result != dnsAnswered || rs[0].AAAA.Result != dnsNoData {
		t.Errorf("resolvers %+v: want A answered and AAAA without data", rs)
	}
	if l[CheckICMP].Evidence["socket"] != "raw socket" || l[CheckICMP].Evidence["received"] != 3 {
		t.Errorf("icmp as root in a namespace whose ping_group_range is the default: %v", l[CheckICMP].Evidence)
	}
	if l[CheckPMTU].Evidence["path_mtu"] != 1500 {
		t.Errorf("path MTU %v, want 1500", l[CheckPMTU].Evidence["path_mtu"])
	}
	if l[CheckTLS].Evidence["server_name"] != "broker.test" || l[CheckTLS].Evidence["verified"] != true {
		t.Errorf("tls evidence %v", l[CheckTLS].Evidence)
	}
}

func TestDNSOutcomesAreToldApart(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	servfail := testenv.ProbeUDPResponder(t, func(q []byte) []byte { return servFail(q) })
	silent := testenv.ProbeUDPResponder(t, nil)
	cases := []struct {
		name, target string
		dns          []string
		status       report.Status
		result       string // resolvers[0].a.result
		words        string
	}{
		{"dnsmasq answers", "mqtts://broker.test:" + s.port, []string{s.dns}, report.OK, dnsAnswered, ""},
		{"NXDOMAIN", "mqtts://missing.test:" + s.port, []string{s.dns}, report.Failed, dnsNXDomain, "does not exist (NXDOMAIN)"},
		{"SERVFAIL", "mqtts://broker.test:" + s.port, []string{servfail}, report.Failed, dnsServFail, "SERVFAIL"},
		{"silence", "mqtts://broker.test:" + s.port, []string{silent}, report.Failed, dnsTimeout, "no DNS answer"},
		{"one of two silent", "mqtts://broker.test:" + s.port, []string{s.dns, silent}, report.Warning, dnsAnswered, "gave no answer within 1s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := probeOne(t, c.target, Options{DNS: c.dns, Timeout: time.Second, TLS: trust(t, s.certs.CAFile)})
			if l.status(CheckDNS) != c.status || !strings.Contains(l.text(CheckDNS), c.words) {
				t.Errorf("net.dns %s: %s", l.status(CheckDNS), l.text(CheckDNS))
			}
			if rs, _ := l[CheckDNS].Evidence["resolvers"].([]ResolverResult); len(rs) == 0 || rs[0].A.Result != c.result {
				t.Errorf("first resolver: %+v, want A %s", rs, c.result)
			}
			if c.status == report.Failed && (l.status(CheckTCP) != report.Skipped || !strings.Contains(l[CheckTCP].SkippedReason, CheckDNS)) {
				t.Errorf("net.tcp after a failed net.dns: %s %q", l.status(CheckTCP), l[CheckTCP].SkippedReason)
			}
		})
	}
}

func TestBrokerPortDroppedIsATimeoutAndRejectedIsRefused(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, rule, result string }{
		{"dropped", "tcp dport %d drop", "timed_out"},
		{"rejected", "tcp dport %d reject with tcp reset", "refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t)
			testenv.ProbeNft(t, s.ns, "table inet ectool_test {\n chain input {\n  type filter hook input priority 0; policy accept;\n  "+fmt.Sprintf(c.rule, s.broker.Port)+"\n }\n}\n")
			l := probeOne(t, s.broker.URL, Options{Timeout: time.Second, TLS: trust(t, s.certs.CAFile)})
			l.expect(t, map[string]report.Status{CheckICMP: report.OK, CheckTCP: report.Failed, CheckTLS: report.Skipped})
			if l[CheckTCP].Evidence["result"] != c.result {
				t.Errorf("net.tcp result %v, want %s", l[CheckTCP].Evidence["result"], c.result)
			}
		})
	}
}

func TestICMPFilteredWhileTCPWorksIsAWarning(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	testenv.ProbeNft(t, s.ns, "table inet ectool_test {\n chain input {\n  type filter hook input priority 0; policy accept;\n  icmp type echo-request drop\n }\n}\n")
	l := probeOne(t, s.broker.URL, Options{Timeout: time.Second, TLS: trust(t, s.certs.CAFile)})
	l.expect(t, map[string]report.Status{CheckICMP: report.Warning, CheckTCP: report.OK, CheckPMTU: report.Skipped, CheckTLS: report.OK})
	if !strings.Contains(l[CheckPMTU].SkippedReason, "ICMP echo gets no answer") {
		t.Errorf("net.pmtu skipped for %q", l[CheckPMTU].SkippedReason)
	}
}

func TestNoRouteIsNamedWhereItIs(t *testing.T) {
	t.Parallel()
	t.Run("here", func(t *testing.T) {
		t.Parallel()
		testenv.NewNetns(t) // root and iproute2, as the others need
		l := probeOne(t, "198.51.100.1:8883", Options{})
		l.expect(t, map[string]report.Status{CheckIface: report.Failed, CheckTCP: report.Skipped})
		if !strings.Contains(l.text(CheckIface), "no route to 198.51.100.1") {
			t.Errorf("net.iface: %s", l.text(CheckIface))
		}
	})
	t.Run("at a router", func(t *testing.T) {
		t.Parallel()
		router := testenv.NewNetns(t)
		link := testenv.ProbeLink(t, "", router)
		testenv.ProbeSysctl(t, router, "net.ipv4.ip_forward", "1")
		testenv.ProbeRun(t, "", "ip", "route", "add", "203.0.113.0/24", "via", link.AddrB.String())
		t.Cleanup(func() { _ = testenv.ProbeCommand("", -1, "ip", "route", "del", "203.0.113.0/24").Run() })
		l := probeOne(t, "203.0.113.7:8883", Options{Timeout: 2 * time.Second})
		l.expect(t, map[string]report.Status{CheckIface: report.OK, CheckICMP: report.Failed, CheckTCP: report.Failed})
		if l[CheckTCP].Evidence["result"] != "no_route" || !strings.Contains(l.text(CheckICMP), "network unreachable") {
			t.Errorf("net.tcp %v, net.icmp %s", l[CheckTCP].Evidence["result"], l.text(CheckICMP))
		}
	})
}

func TestBoundToOneOfTwoInterfaces(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	dead := testenv.NewNetns(t)
	other := testenv.ProbeLink(t, "", dead)
	testenv.ProbeSysctl(t, dead, "net.ipv4.ip_forward", "1")
	// The routing table sends the broker through the dead end.
	host := s.link.AddrB.String()
	testenv.ProbeRun(t, "", "ip", "route", "add", host+"/32", "via", other.AddrB.String())
	t.Cleanup(func() { _ = testenv.ProbeCommand("", -1, "ip", "route", "del", host+"/32").Run() })
	o := Options{Timeout: time.Second, TLS: trust(t, s.certs.CAFile)}

	l := probeOne(t, s.broker.URL, o)
	if l.status(CheckTCP) != report.Failed || l[CheckIface].Evidence["interface"] != other.A {
		t.Errorf("unbound: the routing table's way (%v) should fail: net.tcp %s", l[CheckIface].Evidence["interface"], l.status(CheckTCP))
	}
	o.Iface = s.link.A
	l = probeOne(t, s.broker.URL, o)
	l.expect(t, map[string]report.Status{CheckIface: report.OK, CheckICMP: report.OK, CheckTCP: report.OK, CheckTLS: report.OK})
	if !strings.Contains(l.text(CheckIface), s.link.Net.String()+" (on the link)") {
		t.Errorf("net.iface route: %s", l.text(CheckIface))
	}
	o.Iface = other.A
	l = probeOne(t, s.broker.URL, o)
	if l.status(CheckTCP) != report.Failed || !strings.Contains(l.text(CheckIface), host+"/32 via "+other.AddrB.String()) {
		t.Errorf("bound to the dead end: net.tcp %s, net.iface %s", l.status(CheckTCP), l.text(CheckIface))
	}
}

func TestIfaceWithoutARouteToTheTargetFailsTheIfaceLayer(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	spare := testenv.ProbeLink(t, "", testenv.NewNetns(t))
	l := probeOne(t, s.broker.URL, Options{Iface: spare.A, Timeout: time.Second})
	l.expect(t, map[string]report.Status{CheckIface: report.Failed, CheckTCP: report.Skipped})
	if !strings.Contains(l.text(CheckIface), "no route through "+spare.A+" covers "+s.link.AddrB.String()) || !strings.Contains(l.text(CheckIface), "the routing table sends it through "+s.link.A) {
		t.Errorf("net.iface: %s", l.text(CheckIface))
	}
}

func TestMissingInterfaceCannotRun(t *testing.T) {
	t.Parallel()
	tg, _ := ParseTarget("198.51.100.1:443", false)
	res := Probe(context.Background(), Options{Targets: []Target{tg}, Iface: "wwan9"})
	var ce *CannotRunError
	if !errors.As(res.Err, &ce) {
		t.Fatalf("err %v, want a CannotRunError", res.Err)
	}
	c := res.Targets[0].Checks[0]
	if c.ID != CheckIface || c.Status != report.Failed || !strings.Contains(c.Evidence["error"].(string), `no interface "wwan9"`) {
		t.Errorf("net.iface %+v", c)
	}
}
