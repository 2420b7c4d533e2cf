package main

// Regression tests for the hands-on review of `ectool mqtt` (issue 2). Where
// mosquitto cannot misbehave the way a finding needs (an undefined CONNACK
// code, a broker that never answers, a DISCONNECT during SUBSCRIBE), a tiny
// broker written here stands in: it speaks just enough MQTT on loopback.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/certs"
	"github.com/ecdata/ectool/internal/testenv"
)

// fakeBroker accepts connections on a loopback port; for each it reads the
// CONNECT and hands the connection to serve. It returns the mqtt:// URL.
func fakeBroker(t *testing.T, serve func(c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				if serve == nil {
					_, _ = io.Copy(io.Discard, r) // silent: never answers
					return
				}
				if hdr, _, err := readPacket(r); err != nil || hdr>>4 != 1 {
					return
				}
				serve(c, r)
			}()
		}
	}()
	return "mqtt://" + ln.Addr().String()
}

// readPacket reads one MQTT packet: its first byte and its body.
func readPacket(r *bufio.Reader) (byte, []byte, error) {
	hdr, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for i := 0; i < 4; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mult
		mult *= 128
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r, body)
	return hdr, body, err
}

// untilPacket reads packets until one of type typ (the high nibble) arrives.
func untilPacket(r *bufio.Reader, typ byte) ([]byte, bool) {
	for {
		hdr, body, err := readPacket(r)
		if err != nil {
			return nil, false
		}
		if hdr>>4 == typ {
			return body, true
		}
	}
}

var (
	connack5   = []byte{0x20, 0x03, 0x00, 0x00, 0x00}
	connack311 = []byte{0x20, 0x02, 0x00, 0x00}
)

// timed runs ectool and returns its output, exit code and how long it took.
func timed(t *testing.T, args ...string) (string, string, int, time.Duration) {
	t.Helper()
	testenv.Binary(t) // built before the clock starts
	start := time.Now()
	out, errOut, code := run{args: args}.exec(t)
	return out, errOut, code, time.Since(start)
}

// B5: --retained-only --count N with fewer than N retained messages is a
// failure that says how many there were.
func TestSubRetainedOnlyWithTooFewRetainedExitsOne(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	mosquittoPub(t, b, "-t", "rv/a", "-m", "one", "-r")
	out, errOut, code := ectoolMQTT(t, "sub", "-b", b.URL, "-t", "rv/#", "--retained-only", "--count", "2", "--timeout", "5s")
	if code != 1 || out != "rv/a one\n" || !strings.Contains(errOut, "only 1 of 2 retained message(s)") {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, out, errOut)
	}
	// Nothing retained at all is the same failure, with a JSON error line.
	out, errOut, code = ectoolMQTT(t, "sub", "-b", b.URL, "-t", "nothing/#", "--retained-only", "--count", "3", "-o", "json")
	if code != 1 || !strings.Contains(errOut, "only 0 of 3") || !strings.Contains(out, `"error"`) || !strings.Contains(out, `"received":0`) {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, out, errOut)
	}
	// Enough is a success.
	if out, errOut, code := ectoolMQTT(t, "sub", "-b", b.URL, "-t", "rv/#", "--retained-only", "--count", "1"); code != 0 {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, out, errOut)
	}
}

// B1: a 3.1.1 CONNACK return code the protocol does not define is a
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

// B8: an MQTT 5 broker that disconnects (with a reason) or just closes
// during SUBSCRIBE is named at once, never waited out as a timeout.
func TestMQTT5SubscribeEndsWhenTheBrokerDisconnects(t *testing.T) {
	withReason := fakeBroker(t, func(c net.Conn, r *bufio.Reader) {
		_, _ = c.Write(connack5)
		if _, ok := untilPacket(r, 8); ok {
			_, _ = c.Write([]byte{0xE0, 0x01, 0x98}) // DISCONNECT: administrative action
			_, _ = io.Copy(io.Discard, r)            // the DISCONNECT alone must end ectool: the socket stays open until it leaves
		}
	})
	closing := fakeBroker(t, func(c net.Conn, r *bufio.Reader) {
		_, _ = c.Write(connack5)
		untilPacket(r, 8)
		// Close our side only and read on: closing outright can reset the
		// connection when bytes from ectool arrive after it
		// (seen once in -count=5 under load: "connection was reset"), and
		// this case is about a close.
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, r)
	})
	const timeout = 20 * time.Second // far longer than the test may take
	for _, tc := range []struct {
		url  string
		args []string
		want string
	}{
		{withReason, []string{"sub", "-t", "a"}, "administrative action (DISCONNECT 0x98)"},
		{withReason, []string{"clear-retained", "-t", "a/#"}, "administrative action (DISCONNECT 0x98)"},
		{closing, []string{"sub", "-t", "a"}, "the broker closed the connection"},
	} {
		args := append([]string{"mqtt"}, tc.args...)
		_, errOut, code, took := timed(t, append(args, "-b", tc.url, "--timeout", timeout.String())...)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "raise --timeout") || strings.Contains(errOut, "EOF") {
			t.Fatalf("%v (%s): exit %d\n%s", tc.args, tc.want, code, errOut)
		}
		if took > timeout/2 {
			t.Fatalf("%v took %s: it waited for the timeout", tc.args, took)
		}
	}
}

// B3: a broker that accepts TCP but never answers, or answers CONNACK and
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

// B4: a QoS 1 acknowledgement timeout is diagnosed as one every time, never
// as the broker closing the connection (it was ectool that closed it).
func TestPubAckTimeoutIsAlwaysDiagnosedAsATimeout(t *testing.T) {
	mute := fakeBroker(t, func(c net.Conn, r *bufio.Reader) {
		_, _ = c.Write(connack5)
		_, _ = io.Copy(io.Discard, r)
	})
	for i := 0; i < 4; i++ {
		out, errOut, code := ectoolMQTT(t, "pub", "-b", mute, "-t", "a", "-m", "x", "-q", "1", "--count", "3", "--timeout", "1s", "-o", "json")
		if code != 1 || !strings.Contains(errOut, "3 publish(es) not acknowledged within 1s") || strings.Contains(errOut+out, "closed") {
			t.Fatalf("run %d: exit %d\nstdout %s\nstderr %s", i, code, out, errOut)
		}
	}
}

// B7: a 3.1.1 QoS 0 publish the broker disconnects for (too large here) is
// exit 1 with the reason, not "published".
func TestMQTT311QoS0PublishTheBrokerDisconnectsForFails(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{Extra: "max_packet_size 1000"})
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("a"), 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := ectoolMQTT(t, "pub", "-b", b.URL, "-t", "a", "--file", big, "--mqtt-version", "3.1.1")
	if code != 1 || !strings.Contains(errOut, "closed the connection") || !strings.Contains(errOut, "max_packet_size") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	// A small one still passes on the same broker, on both versions.
	for _, v := range mqttVersions {
		if _, errOut, code := ectoolMQTT(t, "pub", "-b", b.URL, "-t", "a", "-m", "small", "--mqtt-version", v.ectool); code != 0 {
			t.Fatalf("MQTT %s: exit %d\n%s", v.ectool, code, errOut)
		}
	}
}

// B9: pub --stdin-lines stops on SIGTERM while stdin stays open, publishes
// what it read, and says it was interrupted.
func TestPubStdinLinesStopsOnSignalWhileStdinIsOpen(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		got := mosquittoSub(t, b, "mqttv5", 2, "-t", "si/y")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, testenv.Binary(t), "mqtt", "pub", "-b", b.URL, "-t", "si/y", "--stdin-lines", "-q", "1")
		cmd.Env = append(os.Environ(), "ECTOOL_MQTT_BROKER=", "NO_COLOR=1")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(stdin, "a\nb\n")
		lines := got() // both arrived: the pipe is still open
		_ = cmd.Process.Signal(sig)
		start := time.Now()
		err = cmd.Wait()
		took := time.Since(start)
		cancel()
		_ = stdin.Close()
		var ee *exec.ExitError
		code := 0
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		if code != 0 || took > 10*time.Second || !strings.Contains(out.String(), "published 2 message(s)") ||
			!strings.Contains(errOut.String(), "interrupted") || len(lines) != 2 {
			t.Fatalf("%s: exit %d after %s\nstdout %s\nstderr %s\nreceived %q", sig, code, took, out.String(), errOut.String(), lines)
		}
	}
}

// G1, G2: --expect-seq counts loss from the first number received, and
// judges nothing received as a failure.
func TestExpectSeqJoinsLateAndFailsOnNothing(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	wait := startSub(t, "-b", b.URL, "-t", "seq/late", "-q", "1", "--count", "4", "--timeout", "20s", "--expect-seq")
	for n := 9; n <= 12; n++ { // 1 to 8 went out before the subscriber joined
		mosquittoPub(t, b, "-t", "seq/late", "-q", "1", "-m", fmt.Sprintf(`{"seq":%d,"ts":%d,"src":"p"}`, n, time.Now().UnixNano()))
	}
	out, errOut, code := wait()
	if code != 0 || !strings.Contains(out, "summary: received 4, lost 0, duplicated 0, out of order 0 (8 numbered before the first received") {
		t.Fatalf("late join: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	out, errOut, code = ectoolMQTT(t, "sub", "-b", b.URL, "-t", "seq/none", "--expect-seq", "--timeout", "1s", "-o", "json")
	if code != 1 || !strings.Contains(errOut, "no sequenced message arrived") || !strings.Contains(out, `"summary"`) || !strings.Contains(out, `"error"`) {
		t.Fatalf("nothing: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

// G4: sub -o json ends its stream with an {"error":...} line on failure.
func TestSubJSONFailureEndsWithAnErrorLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // refused from now on
	out, _, code := ectoolMQTT(t, "sub", "-b", "mqtt://"+addr, "-t", "a", "-o", "json")
	var line struct {
		Error struct {
			Step    string `json:"step"`
			Message string `json:"message"`
			Hint    string `json:"hint"`
		} `json:"error"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &line) != nil || line.Error.Step != "mqtt.tcp" || line.Error.Message == "" {
		t.Fatalf("exit %d\nstdout %q", code, out)
	}
}

// G8, G9: under --strict the deciding warning is the report's first
// failure (and the text does not end "OK"); an explicit --topic-prefix the
// ACL refuses is a failure without --strict.
func TestMQTTCheckStrictAndExplicitPrefix(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{
		Users: map[string]string{"meter": "s3cret"},
		ACL:   "user meter\ntopic readwrite devices/meter/#\n",
	})
	pw := filepath.Join(t.TempDir(), "pw")
	_ = os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	login := []string{"-b", b.URL, "-u", "meter", "--password-file", pw}

	r := mqttCheck(t, 1, append(login, "--strict")...)
	if r.status(t, "mqtt.acl_test_prefix") != "failed" || r.FirstFailure == nil || r.FirstFailure.ID != "mqtt.acl_test_prefix" {
		t.Fatalf("--strict: acl_test_prefix %s, first failure %+v", r.status(t, "mqtt.acl_test_prefix"), r.FirstFailure)
	}
	out, _, code := ectool(t, append([]string{"mqtt", "check", "--count", "1", "--strict"}, login...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; code != 1 || strings.HasPrefix(last, "OK") || !strings.Contains(last, "mqtt.acl_test_prefix") {
		t.Fatalf("--strict text: exit %d, last line %q", code, last)
	}

	r = mqttCheck(t, 1, append(login, "--topic-prefix", "devices/other/check")...)
	if r.status(t, "mqtt.acl_test_prefix") != "failed" || r.FirstFailure == nil {
		t.Fatalf("explicit prefix: acl_test_prefix %s, first failure %+v", r.status(t, "mqtt.acl_test_prefix"), r.FirstFailure)
	}
	// The default prefix stays a warning.
	r = mqttCheck(t, 0, login...)
	if r.status(t, "mqtt.acl_test_prefix") != "warning" {
		t.Fatalf("default prefix: acl_test_prefix %s", r.status(t, "mqtt.acl_test_prefix"))
	}
	// G6: the text run says how many checks that skipped.
	_, errOut, code := ectool(t, append([]string{"mqtt", "check", "--count", "1"}, login...)...)
	if code != 0 || !strings.Contains(errOut, "check(s) skipped because these credentials may not use the test prefix") {
		t.Fatalf("default prefix text: exit %d\n%s", code, errOut)
	}
}

// G3, N7: an encrypted client key and an empty password file are named
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

// B2: a broker refusing an expired client certificate is named as such (Go
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

// G3: no bare Go error for a ws:// URL on a plain MQTT port, nor for a QoS
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

// G7: clear-retained goes on past a refused topic and lists what it
// cleared and what it could not.
func TestClearRetainedListsClearedAndRefused(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{
		Users: map[string]string{"admin": "adm1n", "tech": "t3ch"},
		ACL:   "user admin\ntopic readwrite #\n\nuser tech\ntopic read cr/#\ntopic write cr/a/#\n",
	})
	for _, topic := range []string{"cr/a/x", "cr/b/y", "cr/c/z"} {
		mosquittoPub(t, b, "-u", "admin", "-P", "adm1n", "-t", topic, "-m", "v", "-r", "-q", "1")
	}
	pw := filepath.Join(t.TempDir(), "pw")
	_ = os.WriteFile(pw, []byte("t3ch\n"), 0o600)
	out, errOut, code := ectoolMQTT(t, "clear-retained", "-b", b.URL, "-u", "tech", "--password-file", pw, "-t", "cr/#")
	if code != 1 || !strings.Contains(out, "cleared cr/a/x") || !strings.Contains(out, "NOT cleared cr/b/y") ||
		!strings.Contains(out, "NOT cleared cr/c/z") || !strings.Contains(out, "found 3 retained message(s) under cr/#: 1 cleared, 2 not") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

// N6, N18: --stdin-lines skips blank lines (a blank retained message would
// delete the retained value), and --rate does not wait after the last one.
func TestPubSkipsBlankLinesAndRateEndsAtTheLastMessage(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	got := mosquittoSub(t, b, "mqttv5", 2, "-t", "bl/x")
	out, errOut, code := run{args: []string{"mqtt", "pub", "-b", b.URL, "-t", "bl/x", "--stdin-lines", "-q", "1"}, stdin: "one\n\n\ntwo\n"}.exec(t)
	if code != 0 || !strings.Contains(out, "published 2 message(s)") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if lines := got(); len(lines) != 2 || lines[0] != "bl/x one" || lines[1] != "bl/x two" {
		t.Fatalf("received %q", lines)
	}
	// One message at 0.1/s is sent at once: no 10 s wait after it.
	_, errOut, code, took := timed(t, "mqtt", "pub", "-b", b.URL, "-t", "bl/y", "-m", "x", "--rate", "0.1")
	if code != 0 || took > 8*time.Second {
		t.Fatalf("--rate 0.1 --count 1: exit %d after %s\n%s", code, took, errOut)
	}
}

// N13, N14: a broker wanting a user name when none was given says so; a
// PUBACK "no matching subscribers" is counted and noted (still exit 0).
func TestNoUserNameHintAndNoMatchingSubscribers(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	out, errOut, code := ectoolMQTT(t, "pub", "-b", b.URL, "-t", "nosub/x", "-m", "x", "-q", "1", "-o", "json")
	var r struct {
		Details struct {
			NoMatch int `json:"no_matching_subscribers"`
		} `json:"details"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Details.NoMatch != 1 || !strings.Contains(errOut, "no matching subscribers") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	locked := testenv.StartMosquitto(t, testenv.MosquittoConfig{Users: map[string]string{"meter": "s3cret"}})
	for _, v := range mqttVersions {
		_, errOut, code := ectoolMQTT(t, "pub", "-b", locked.URL, "-t", "a", "-m", "x", "--mqtt-version", v.ectool)
		if code != 1 || !strings.Contains(errOut, "no user name was given") {
			t.Fatalf("MQTT %s: exit %d\n%s", v.ectool, code, errOut)
		}
	}
}

// N9: shell completion offers the values of --mqtt-version and -q.
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

// A refused publish leaves a live broker: ectool still says DISCONNECT, so
// the broker does not publish the Will (only a dead or silent broker is
// cut off without it).
func TestRefusedPublishStillDisconnectsCleanly(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{
		Users: map[string]string{"meter": "s3cret"},
		ACL:   "user meter\ntopic readwrite devices/meter/#\n",
	})
	pw := filepath.Join(t.TempDir(), "pw")
	_ = os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	login := []string{"-b", b.URL, "-u", "meter", "--password-file", pw}
	wait := startSub(t, append(login, "-t", "devices/meter/will", "--count", "1", "--timeout", "3s")...)
	_, errOut, code := ectoolMQTT(t, append(append([]string{"pub"}, login...), "-t", "devices/other/x", "-m", "x", "-q", "1",
		"--will-topic", "devices/meter/will", "--will-message", "gone")...)
	if code != 1 || !strings.Contains(errOut, "not authorized") {
		t.Fatalf("pub: exit %d\n%s", code, errOut)
	}
	if out, errOut, code := wait(); code != 1 || out != "" {
		t.Fatalf("the Will was published: exit %d\nstdout %q\nstderr %s", code, out, errOut)
	}
}

// N15: check --client-id "" sends an empty id, so "does this broker assign
// ids?" can be tested; the helper connections get ids of their own.
func TestMQTTCheckWithAnEmptyClientID(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	r := mqttCheck(t, 0, "-b", b.URL, "--client-id", "", "--count", "1")
	for _, c := range r.Checks {
		if c.ID == "mqtt.connect" {
			if id, _ := c.Evidence["assigned_client_id"].(string); id == "" {
				t.Fatalf("mqtt.connect evidence %v: want the id the broker assigned", c.Evidence)
			}
		}
	}
	r.expect(t, map[string]string{"mqtt.retained": "ok", "mqtt.will": "ok"})
}
