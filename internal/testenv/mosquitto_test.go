package testenv_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/certs"
	"github.com/ecdata/ectool/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// mosquittoRoundTrip publishes one message with mosquitto_pub and reads it
// back with mosquitto_sub, both given the same extra arguments.
func mosquittoRoundTrip(t *testing.T, b *testenv.Mosquitto, args ...string) (string, error) {
	t.Helper()
	sub := testenv.Require(t, "mosquitto_sub")
	pub := testenv.Require(t, "mosquitto_pub")
	base := []string{"-h", b.Host, "-p", strconv.Itoa(b.Port)}
	// A retained message makes the order of pub and sub irrelevant.
	pubOut, err := exec.Command(pub, append(append(base, args...), "-t", "t/1", "-m", "hello", "-r", "-q", "1")...).CombinedOutput()
	if err != nil {
		return string(pubOut), err
	}
	out, err := exec.Command(sub, append(append(base, args...), "-t", "t/#", "-C", "1", "-W", "5")...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestPlainMosquittoDeliversARetainedMessage(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{NoQueueLimits: true})
	if !strings.HasPrefix(b.URL, "mqtt://127.0.0.1:") {
		t.Fatalf("URL = %q", b.URL)
	}
	out, err := mosquittoRoundTrip(t, b)
	if err != nil || out != "hello" {
		t.Fatalf("round trip: %v: %q", err, out)
	}
}

func TestMutualTLSMosquittoWantsAClientCertificate(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true, RequireCert: true})
	if !strings.HasPrefix(b.URL, "mqtts://") {
		t.Fatalf("URL = %q", b.URL)
	}
	out, err := mosquittoRoundTrip(t, b, "--cafile", b.CAFile, "--cert", b.ClientCert, "--key", b.ClientKey)
	if err != nil || out != "hello" {
		t.Fatalf("round trip with client cert: %v: %q", err, out)
	}
	// Without a certificate the handshake must fail.
	ca, _ := os.ReadFile(b.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	c, err := tls.Dial("tcp", b.Addr(), &tls.Config{RootCAs: pool})
	if err == nil {
		// TLS 1.3: the refusal arrives with the first read.
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate was accepted")
	}
	// An untrusted client certificate is refused too.
	if out, err := mosquittoRoundTrip(t, b, "--cafile", b.CAFile, "--cert", b.Certs.UntrustedClientCert, "--key", b.Certs.UntrustedClientKey); err == nil {
		t.Fatalf("untrusted client certificate accepted: %q", out)
	}
}

func TestExpiredServerCertificateFailsVerification(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true, ServerCert: "expired"})
	ca, _ := os.ReadFile(b.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	_, err := tls.Dial("tcp", b.Addr(), &tls.Config{RootCAs: pool})
	var inv x509.CertificateInvalidError
	if !errors.As(err, &inv) || inv.Reason != x509.Expired {
		t.Fatalf("want an expired-certificate error, got %v", err)
	}
}

func TestPasswordAndACLAreEnforced(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{
		Users: map[string]string{"meter": "s3cret", "other": "pw"},
		ACL:   "user meter\ntopic readwrite t/#\n",
	})
	if out, err := mosquittoRoundTrip(t, b, "-u", "meter", "-P", "s3cret"); err != nil || out != "hello" {
		t.Fatalf("allowed user: %v: %q", err, out)
	}
	if out, err := mosquittoRoundTrip(t, b, "-u", "meter", "-P", "wrong"); err == nil {
		t.Fatalf("wrong password accepted: %q", out)
	}
}

func TestWebSocketsListener(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{WebSockets: true})
	if !strings.HasPrefix(b.WSURL, "ws://127.0.0.1:") || b.WSPort == 0 {
		t.Fatalf("WSURL = %q", b.WSURL)
	}
}

func TestCertificateSetVerifies(t *testing.T) {
	s, err := certs.WriteSet(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: s.CA.Pool(), DNSName: "localhost"}
	load := func(f string) *x509.Certificate {
		t.Helper()
		c, err := tls.LoadX509KeyPair(f, strings.TrimSuffix(f, ".crt")+".key")
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		x, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	if _, err := load(s.ServerCert).Verify(opts); err != nil {
		t.Errorf("server cert: %v", err)
	}
	if _, err := load(s.WrongHostServerCert).Verify(opts); err == nil {
		t.Error("wrong-host cert verified for localhost")
	}
	if _, err := load(s.ExpiredServerCert).Verify(opts); err == nil {
		t.Error("expired cert verified")
	}
	self := load(s.SelfSignedServerCert)
	if _, err := self.Verify(opts); err == nil {
		t.Error("self-signed cert verified against the CA")
	}
	if err := self.CheckSignatureFrom(self); err != nil {
		// A leaf is not a CA, so CheckSignatureFrom refuses it; check the
		// signature directly instead.
		if err2 := self.CheckSignature(self.SignatureAlgorithm, self.RawTBSCertificate, self.Signature); err2 != nil {
			t.Errorf("self-signed cert does not verify with its own key: %v", err2)
		}
	}
	if _, err := tls.LoadX509KeyPair(s.ClientCert, s.MismatchedKey); err == nil {
		t.Error("mismatched key loaded with the client cert")
	}
}

func caPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	ca, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return pool
}
