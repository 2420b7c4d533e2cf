package main

// What every mqtt command does alike while reaching and logging in to a
// broker: the connection steps, TLS and credential inputs, the shared flags.

import (
	"bufio"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/certs"
	"github.com/ecdata/ectool/internal/testenv"
)

// A 3.1.1 CONNACK return code the protocol does not define is a
// refusal, worded, never "CONNECT accepted".
func TestUndefinedMQTT311ConnackCodeIsARefusal(t *testing.T) {
	for _, rc := range []byte{0x06, 0x80} {
		url := fakeBroker(t, func(c net.Conn, r *bufio.Reader) {
			_, _ = c.Write([]byte{0x20, 0x02, 0x00, rc})
			_, _ = io.Copy(io.Discard, r) // keep the socket open until ectool leaves, as a broker might
		})
		want := fmt.Sprintf("CONNACK code 0x%02X, which MQTT 3.1.1 does not define", rc)
		_, errOut, code := ectoolMQTT(t, "pub", "-b", url, "-t", "a", "-m", "x", "--mqtt-version", "3.1.1", "--timeout", "3s")
		if code != 1 || !strings.Contains(errOut, "mqtt.connect failed") || !strings.Contains(errOut, want) {
			t.Fatalf("pub, code 0x%02X: exit %d\n%s", rc, code, errOut)
		}
		r := mqttCheck(t, 1, "-b", url, "--mqtt-version", "3.1.1", "--timeout", "3s")
		if r.status(t, "mqtt.connect") != "failed" || !strings.Contains(r.text("mqtt.connect"), "does not define") {
			t.Fatalf("check, code 0x%02X: mqtt.connect %s: %s", rc, r.status(t, "mqtt.connect"), r.text("mqtt.connect"))
		}
	}
}

// A broker that accepts TCP but never answers, or answers CONNACK and
// then nothing, fails within --timeout (a generous bound: the failure must
// not wait for a graceful close on top of it).
func TestSilentBrokerFailsWithinTheTimeout(t *testing.T) {
	silent := fakeBroker(t, nil)
	mute5 := fakeBroker(t, func(c net.Conn, r *bufio.Reader) {
		_, _ = c.Write(connack5)
		_, _ = io.Copy(io.Discard, r)
	})
	mute311 := fakeBroker(t, func(c net.Conn, r *bufio.Reader) {
		_, _ = c.Write(connack311)
		_, _ = io.Copy(io.Discard, r)
	})
	const timeout = 2 * time.Second
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"pub, no CONNACK", []string{"pub", "-b", silent, "-t", "a", "-m", "x"}, "no CONNACK within 2s"},
		{"sub, no CONNACK", []string{"sub", "-b", silent, "-t", "a"}, "no CONNACK within 2s"},
		{"check, no CONNACK", []string{"check", "-b", silent}, "no CONNACK within 2s"},
		{"sub v5, no SUBACK", []string{"sub", "-b", mute5, "-t", "a"}, "mqtt.subscribe failed: no SUBACK"},
		{"sub 3.1.1, no SUBACK", []string{"sub", "-b", mute311, "-t", "a", "--mqtt-version", "3.1.1"}, "SUBACK"},
		{"pub v5, no PUBACK", []string{"pub", "-b", mute5, "-t", "a", "-m", "x", "-q", "1"}, "not acknowledged within 2s"},
		{"pub 3.1.1, no PUBACK", []string{"pub", "-b", mute311, "-t", "a", "-m", "x", "-q", "1", "--mqtt-version", "3.1.1"}, "not acknowledged within 2s"},
		{"pub 3.1.1 QoS 0, no PINGRESP", []string{"pub", "-b", mute311, "-t", "a", "-m", "x", "--mqtt-version", "3.1.1"}, "PINGREQ"},
		{"clear-retained v5, no SUBACK", []string{"clear-retained", "-b", mute5, "-t", "a/#"}, "no SUBACK"},
	} {
		out, errOut, code, took := timed(t, append(append([]string{"mqtt"}, tc.args...), "--timeout", timeout.String())...)
		if code != 1 || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%s: exit %d\n%s%s", tc.name, code, out, errOut)
		}
		if took > timeout+3*time.Second {
			t.Errorf("%s: took %s with --timeout %s", tc.name, took, timeout)
		}
	}
}

// An encrypted client key and an empty password file are named
// before any I/O (exit 2), not passed on as Go's parse error.
func TestEncryptedKeyAndEmptyPasswordFileAreUsageErrors(t *testing.T) {
	set, err := certs.WriteSet(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	kb, err := os.ReadFile(set.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(kb)
	//lint:ignore SA1019 a legacy encrypted key is what the test needs
	enc, err := x509.EncryptPEMBlock(rand.Reader, blk.Type, blk.Bytes, []byte("pw"), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	encKey := filepath.Join(t.TempDir(), "enc.key")
	empty := filepath.Join(t.TempDir(), "empty")
	_ = os.WriteFile(encKey, pem.EncodeToMemory(enc), 0o600)
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	_, errOut, code := ectoolMQTT(t, "pub", "-b", "mqtts://127.0.0.1:1", "--ca", set.CAFile, "--cert", set.ClientCert, "--key", encKey, "-t", "a", "-m", "x")
	if code != 2 || !strings.Contains(errOut, "is encrypted") || !strings.Contains(errOut, "openssl pkey") {
		t.Fatalf("encrypted key: exit %d\n%s", code, errOut)
	}
	_, errOut, code = ectoolMQTT(t, "pub", "-b", "mqtt://127.0.0.1:1", "-u", "x", "--password-file", empty, "-t", "a", "-m", "x")
	if code != 2 || !strings.Contains(errOut, "is empty") {
		t.Fatalf("empty password file: exit %d\n%s", code, errOut)
	}
}

// A broker refusing an expired client certificate is named as such (Go
// spells the alert "expired certificate"), and the expiry is seen locally.
func TestExpiredClientCertificateIsNamed(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true, RequireCert: true})
	old, err := b.Certs.CA.Issue(certs.Spec{CommonName: "old-device", Client: true,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := old.Write(t.TempDir(), "old")
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, code := ectoolMQTT(t, "pub", "-b", b.URL, "--ca", b.CAFile, "--cert", cert, "--key", key, "-t", "a", "-m", "x", "--timeout", "5s")
	if code != 1 || !strings.Contains(errOut, "mqtt.tls failed") || !strings.Contains(errOut, "client certificate (--cert) has expired") ||
		!strings.Contains(errOut, "expired on") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
}

// No bare Go error for a ws:// URL on a plain MQTT port, nor for a QoS
// above the broker's maximum.
func TestWebSocketOnPlainPortAndMaxQoSAreWorded(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{ListenerExtra: "max_qos 1"})
	ws := strings.Replace(b.URL, "mqtt://", "ws://", 1) + "/mqtt"
	_, errOut, code := ectoolMQTT(t, "pub", "-b", ws, "-t", "a", "-m", "x", "--timeout", "5s")
	if code != 1 || !strings.Contains(errOut, "does not speak WebSocket") || strings.Contains(errOut, "read tcp") {
		t.Fatalf("ws on a plain port: exit %d\n%s", code, errOut)
	}
	_, errOut, code = ectoolMQTT(t, "pub", "-b", b.URL, "-t", "a", "-m", "x", "-q", "2")
	if code != 1 || !strings.Contains(errOut, "maximum QoS is 1") || !strings.Contains(errOut, "-q 1") || strings.Contains(errOut, "invalid argument") {
		t.Fatalf("QoS 2 on a max_qos 1 broker: exit %d\n%s", code, errOut)
	}
}

// Shell completion offers the values of --mqtt-version and -q.
func TestCompletionOffersMQTTFlagValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "mqtt", "pub", "--mqtt-version", ""}, "5\n3.1.1\n"},
		{[]string{"__complete", "mqtt", "sub", "-q", ""}, "0\n1\n2\n"},
		{[]string{"__complete", "mqtt", "check", "--tls-min", ""}, "1.2\n1.3\n"},
	} {
		out, _, code := run{args: tc.args}.exec(t)
		if code != 0 || !strings.HasPrefix(out, tc.want) {
			t.Errorf("%v: exit %d\n%s", tc.args, code, out)
		}
	}
}
