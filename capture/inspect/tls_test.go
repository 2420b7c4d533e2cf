package inspect_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/ecdata/ectool/capture/inspect"
	"github.com/ecdata/ectool/diag/report"
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
