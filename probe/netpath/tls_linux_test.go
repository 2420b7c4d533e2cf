//go:build linux

package netpath

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/certs"
	"github.com/ecdata/ectool/internal/testenv"
)

func TestTLSVerdictsAgainstMosquitto(t *testing.T) {
	t.Parallel()
	other, err := certs.WriteSet(testenv.PrivateDir(t)) // a second CA, which signed none of the broker's
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		cfg    testenv.MosquittoConfig
		client func(b *testenv.Mosquitto) Options
		status report.Status
		words  string
	}{
		{"valid", testenv.MosquittoConfig{TLS: true}, func(b *testenv.Mosquitto) Options {
			return Options{TLS: trust(t, b.CAFile), CAFile: b.CAFile}
		}, report.OK, `"verified":true`},
		{"expired", testenv.MosquittoConfig{TLS: true, ServerCert: "expired"}, func(b *testenv.Mosquitto) Options {
			return Options{TLS: trust(t, b.CAFile), CAFile: b.CAFile}
		}, report.Failed, "certificate expired"},
		{"wrong host", testenv.MosquittoConfig{TLS: true, ServerCert: "wrong-host"}, func(b *testenv.Mosquitto) Options {
			return Options{TLS: trust(t, b.CAFile), CAFile: b.CAFile}
		}, report.Failed, "hostname mismatch"},
		{"unknown CA", testenv.MosquittoConfig{TLS: true}, func(b *testenv.Mosquitto) Options {
			return Options{TLS: trust(t, other.CAFile), CAFile: other.CAFile}
		}, report.Failed, "unknown authority"},
		{"client certificate required, none sent", testenv.MosquittoConfig{TLS: true, RequireCert: true}, func(b *testenv.Mosquitto) Options {
			return Options{TLS: trust(t, b.CAFile), CAFile: b.CAFile}
		}, report.Failed, "requires a client certificate"},
		{"client certificate accepted", testenv.MosquittoConfig{TLS: true, RequireCert: true}, func(b *testenv.Mosquitto) Options {
			return Options{TLS: trust(t, b.CAFile, b.ClientCert, b.ClientKey), CAFile: b.CAFile}
		}, report.OK, `"client_cert_accepted":true`},
		{"client certificate of another CA", testenv.MosquittoConfig{TLS: true, RequireCert: true}, func(b *testenv.Mosquitto) Options {
			return Options{TLS: trust(t, b.CAFile, other.ClientCert, other.ClientKey), CAFile: b.CAFile}
		}, report.Failed, "rejected the client certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := testenv.StartMosquitto(t, c.cfg)
			l := probeOne(t, b.URL, c.client(b))
			if l.status(CheckTLS) != c.status || !strings.Contains(l.text(CheckTLS), c.words) {
				t.Errorf("net.tls %s, want %s with %q: %s", l.status(CheckTLS), c.status, c.words, l.text(CheckTLS))
			}
		})
	}
}

// opensslPin is the pin of a PEM certificate file as curl's documentation
// computes it.
func opensslPin(t *testing.T, certFile string) string {
	t.Helper()
	testenv.Require(t, "openssl")
	out, err := exec.Command("sh", "-c", "openssl x509 -in \"$1\" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64", "sh", certFile).Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	return PinPrefix + strings.TrimSpace(string(out))
}

func TestPinsOfTheServerAndItsCAPassAndAWrongOneNamesThePresentedPins(t *testing.T) {
	t.Parallel()
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true})
	serverPin, caPin := opensslPin(t, b.Certs.ServerCert), opensslPin(t, b.CAFile)
	if p := pinOfFile(t, b.Certs.ServerCert); p != serverPin {
		t.Fatalf("Pin %s, openssl %s", p, serverPin)
	}
	o := Options{TLS: trust(t, b.CAFile), CAFile: b.CAFile}
	l := probeOne(t, b.URL, o)
	pins, _ := l[CheckTLS].Evidence["pins"].([]PinEntry)
	// mosquitto sends its CA after its certificate (OpenSSL completes the
	// chain from cafile); a server that does not has the CA's pin listed
	// from the verified chain, not presented (see the long-chain test).
	if len(pins) != 2 || pins[0].Pin != serverPin || !pins[0].Presented || pins[1].Pin != caPin {
		t.Fatalf("pins %+v, want the server's %s (presented) then the CA's %s", pins, serverPin, caPin)
	}
	for _, pin := range []string{serverPin, caPin} {
		o.Pins = []string{pin}
		if l := probeOne(t, b.URL, o); l.status(CheckTLS) != report.OK || l[CheckTLS].Evidence["pin_matched"] != pin {
			t.Errorf("--pin %s: %s", pin, l.text(CheckTLS))
		}
	}
	wrong := "sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMjE="
	o.Pins = []string{wrong}
	l = probeOne(t, b.URL, o)
	if l.status(CheckTLS) != report.Failed || !strings.Contains(l.text(CheckTLS), serverPin) || !strings.Contains(l.text(CheckTLS), "matches --pin "+wrong) {
		t.Errorf("wrong pin: %s", l.text(CheckTLS))
	}
	// A self-signed broker trusted by its pin alone (--insecure --pin).
	o = Options{Insecure: true, Pins: []string{serverPin}}
	if l := probeOne(t, b.URL, o); l.status(CheckTLS) != report.OK || !strings.Contains(l.text(CheckTLS), "--pin (--insecure") {
		t.Errorf("--insecure --pin: %s", l.text(CheckTLS))
	}
}

func pinOfFile(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return Pin(c)
}

func TestNonTLSTargetSkipsTLS(t *testing.T) {
	t.Parallel()
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	l := probeOne(t, b.URL, Options{Timeout: 2 * time.Second})
	l.expect(t, map[string]report.Status{CheckTCP: report.OK, CheckTLS: report.Skipped})
	if _, ok := l[CheckMQTT]; ok {
		t.Error("net.mqtt without an MQTT step")
	}
}
