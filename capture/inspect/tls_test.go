package inspect_test

import (
	"bytes"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/capture/inspect"
	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/pcapsynth"
	"github.com/ecdata/ectool/internal/testenv"
)

// TestTLSMetadataMatchesTshark records TLS connections to mosquitto:
// ectool (TLS 1.3) with and without the broker's CA, and openssl s_client
// forced to TLS 1.2, with and without it. ectool reads server names,
// versions, handshake completion and the alerts sent in clear as tshark
// does, and the refused handshakes fail inspect.tls.
func TestTLSMetadataMatchesTshark(t *testing.T) {
	ectool := testenv.Binary(t)
	tshark := testenv.Require(t, "tshark")
	openssl := testenv.Require(t, "openssl")
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true})
	dump := startTcpdump(t, b.Port)
	addr := b.Addr()
	run(t, ectool, "mqtt", "pub", "-b", b.URL, "--ca", b.CAFile, "--servername", "localhost", "-t", "s/x", "-m", "hi", "-q", "1")
	if out, err := exec.Command(ectool, "mqtt", "pub", "-b", b.URL, "--servername", "localhost", "-t", "s/x", "-m", "hi").CombinedOutput(); err == nil {
		t.Fatalf("a client without the CA got through: %s", out)
	}
	sclient := func(args ...string) (string, error) {
		cmd := exec.Command(openssl, append([]string{"s_client", "-tls1_2", "-connect", addr, "-servername", "localhost"}, args...)...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := sclient("-CAfile", b.CAFile, "-verify_return_error"); err != nil {
		t.Fatalf("openssl with the CA: %v\n%s", err, out)
	}
	if out, err := sclient("-verify_return_error"); err == nil {
		t.Fatalf("openssl without the CA got through:\n%s", out)
	}
	file := dump.stop()

	_, res := decodeFile(t, file, inspect.Options{Ports: []uint16{uint16(b.Port)}})
	var hellos []*inspect.Connection
	fatal := 0
	for _, c := range res.Connections {
		if c.TLS == nil {
			t.Errorf("stream %d on the TLS port read as %s", c.Stream, c.Protocol)
			continue
		}
		for _, a := range c.TLS.Alerts {
			if a.Level == "fatal" {
				fatal++
			}
		}
		if c.TLS.Version != "" {
			hellos = append(hellos, c)
		}
	}
	if len(hellos) != 4 {
		t.Fatalf("%d TLS connections with a ServerHello, want 4", len(hellos))
	}
	want := []struct {
		version  string
		complete bool
	}{{"1.3", true}, {"1.3", false}, {"1.2", true}, {"1.2", false}}
	for i, w := range want {
		got := hellos[i].TLS
		if got.Version != w.version || got.Complete != w.complete || got.SNI != "localhost" || (got.HandshakeMS != nil) != w.complete {
			t.Errorf("connection %d: %+v, want TLS %s complete=%v with SNI localhost", i, got, w.version, w.complete)
		}
	}
	if a := hellos[3].TLS.Alerts; len(a) == 0 || a[0].From != "client" || a[0].Description != "unknown_ca" {
		t.Errorf("openssl without the CA: alerts %+v, want unknown_ca from the client", a)
	}
	rep := report.New("capture inspect", file, nil)
	res.Report(rep, nil)
	rep.Finish()
	if rep.FirstFailure == nil || rep.FirstFailure.ID != inspect.CheckTLS || !strings.Contains(rep.FirstFailure.Hint, "Wireshark") {
		t.Errorf("first failure %+v, want inspect.tls with the key log hint", rep.FirstFailure)
	}
	if res.TLS.Count < 2 {
		t.Errorf("%d TLS findings, want both refused handshakes: %+v", res.TLS.Count, res.TLS.First)
	}

	// tshark's view of the same file.
	out := run(t, tshark, "-r", file, "-d", "tcp.port=="+strconv.Itoa(b.Port)+",tls", "-T", "fields",
		"-e", "tls.handshake.extensions_server_name", "-e", "tls.alert_message.level", "-E", "occurrence=a")
	snis, alerts := 0, 0
	for _, l := range strings.Split(out, "\n") {
		cols := strings.Split(l, "\t")
		if len(cols) < 2 {
			continue
		}
		if cols[0] == "localhost" {
			snis++
		}
		for _, lv := range strings.Split(cols[1], ",") {
			if lv == "2" {
				alerts++
			}
		}
	}
	if snis != 4 {
		t.Errorf("tshark sees %d ClientHello naming localhost, want 4", snis)
	}
	if fatal != alerts {
		t.Errorf("ectool reads %d fatal alerts in clear, tshark %d", fatal, alerts)
	}
}

// TestAlertsInClearOnAConnectionJoinedMidWay: a 2-byte alert record is in
// clear whatever came before it (a broker answering a half-open probe that
// began before the capture did); a longer one, after the keys changed, is
// encrypted. tshark reads them the same way.
func TestAlertsInClearOnAConnectionJoinedMidWay(t *testing.T) {
	file := synth(t, pcapsynth.Options{}, func(w *pcapsynth.Writer) {
		broker := netip.MustParseAddrPort("10.0.0.1:8883")
		c := w.NewConn(netip.MustParseAddrPort("10.0.0.2:40000"), broker)
		c.Send(pcapsynth.ToClient, t0, []byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32}) // fatal decode_error
		c.Reset(pcapsynth.ToClient, t0)
		c = w.NewConn(netip.MustParseAddrPort("10.0.0.2:40001"), broker)
		enc := append([]byte{0x15, 0x03, 0x03, 0x00, 0x1a}, bytes.Repeat([]byte{0xa5}, 26)...)
		c.Send(pcapsynth.ToServer, t0.Add(time.Second), []byte{0x17, 0x03, 0x03, 0x00, 0x03, 1, 2, 3})
		c.Send(pcapsynth.ToServer, t0.Add(time.Second), enc)
		c.Close(t0.Add(time.Second))
	})
	_, res := decodeFile(t, file, inspect.Options{})
	var got []string
	for _, c := range res.Connections {
		if c.TLS == nil {
			t.Fatalf("stream %d on 8883 read as %s", c.Stream, c.Protocol)
		}
		for _, a := range c.TLS.Alerts {
			got = append(got, a.From+" "+a.Level+" "+a.Description)
		}
	}
	if want := []string{"broker fatal decode_error", "client encrypted encrypted"}; strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("alerts %q, want %q", got, want)
	}
	if res.TLS.Count != 1 {
		t.Errorf("%d TLS findings, want the fatal alert: %+v", res.TLS.Count, res.TLS.First)
	}
	tshark := testenv.Require(t, "tshark")
	out := run(t, tshark, "-r", file, "-d", "tcp.port==8883,tls", "-Y", "tls.record.content_type == 21", "-T", "fields",
		"-e", "tcp.stream", "-e", "tls.alert_message.level", "-e", "tls.alert_message.desc")
	var alerts []string
	for _, l := range testenv.Lines(out) {
		if strings.Count(l, "\t") == 2 {
			alerts = append(alerts, l)
		}
	}
	if want := []string{"0\t2\t50", "1\t\t"}; strings.Join(alerts, "|") != strings.Join(want, "|") {
		t.Errorf("tshark reads the alerts as %q, want %q: the fatal decode_error (2, 50) in clear, the other encrypted", alerts, want)
	}
}
