package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ecdata/ectool/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func startBroker(t *testing.T) *Broker {
	t.Helper()
	b, err := Start(t.Context(), Config{Site: "lab", Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("starting the lab broker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func port(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Port()
}

// mosq runs a mosquitto client and returns its combined output and exit code.
func mosq(t *testing.T, program string, args ...string) (string, int) {
	t.Helper()
	path := testenv.Require(t, program)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish: %s", program, args, out.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running %s: %v", program, err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

func login(b *Broker, user string) []string {
	return []string{"-h", "127.0.0.1", "-u", user, "-P", b.User(user).Password}
}

func TestEveryLabUserLogsInAndAWrongPasswordIsRefused(t *testing.T) {
	b := startBroker(t)
	p := port(t, b.MQTT)
	own := map[string]string{"gateway": "ec-data/lab/m1/telemetry", "tech": "ectool/t", "admin": "anything/at/all"}
	for _, u := range b.Users {
		for _, v := range []string{"mqttv5", "mqttv311"} {
			out, rc := mosq(t, "mosquitto_pub", append(login(b, u.Name), "-p", p, "-V", v, "-q", "1", "-t", own[u.Name], "-m", "x", "-d")...)
			if rc != 0 || !strings.Contains(out, "received PUBACK") {
				t.Errorf("%s (%s) publishing on %s: rc=%d\n%s", u.Name, v, own[u.Name], rc, out)
			}
		}
		pw, err := os.ReadFile(u.PasswordFile)
		if err != nil || strings.TrimSpace(string(pw)) != u.Password {
			t.Errorf("%s: password file %s holds %q, %v", u.Name, u.PasswordFile, pw, err)
		}
	}
	out, rc := mosq(t, "mosquitto_pub", "-h", "127.0.0.1", "-p", p, "-V", "mqttv5", "-u", "tech", "-P", "wrong", "-t", "ectool/t", "-m", "x", "-d")
	if rc == 0 || !strings.Contains(out, "CONNACK (134)") {
		t.Errorf("wrong password: want CONNACK 134 (bad user name or password), rc=%d\n%s", rc, out)
	}
	out, rc = mosq(t, "mosquitto_pub", "-h", "127.0.0.1", "-p", p, "-V", "mqttv5", "-t", "ectool/t", "-m", "x", "-d")
	if rc == 0 || !strings.Contains(out, "CONNACK (134)") {
		t.Errorf("anonymous: want CONNACK 134, rc=%d\n%s", rc, out)
	}
}

func TestACLRefusesWithReasonCode0x87OnMQTT5(t *testing.T) {
	b := startBroker(t)
	p := port(t, b.MQTT)
	cases := []struct{ user, topic string }{
		{"tech", "denied/x"},
		{"admin", "denied/x"},
		{"gateway", "ec-data/othersite/m1/telemetry"},
		{"gateway", "ectool/t"},
		{"tech", "ec-data/lab/m1/telemetry"}, // tech may read ec-data, not write it
	}
	for _, c := range cases {
		out, _ := mosq(t, "mosquitto_pub", append(login(b, c.user), "-p", p, "-V", "mqttv5", "-q", "1", "-t", c.topic, "-m", "x", "-d")...)
		if !strings.Contains(out, "received PUBACK (Mid: 1, RC:135)") {
			t.Errorf("%s publishing QoS 1 on %s: want PUBACK 0x87 (135)\n%s", c.user, c.topic, out)
		}
	}
	subCases := []struct{ user, filter string }{
		{"tech", "denied/x"},
		{"admin", "denied/#"},
		{"gateway", "ec-data/othersite/#"},
		{"gateway", "#"},
		{"tech", "#"},
	}
	for _, c := range subCases {
		out, _ := mosq(t, "mosquitto_sub", append(login(b, c.user), "-p", p, "-V", "mqttv5", "-t", c.filter, "-W", "1", "-d")...)
		if !strings.Contains(out, "Subscribed (mid: 1): 135") {
			t.Errorf("%s subscribing to %s: want SUBACK 0x87 (135)\n%s", c.user, c.filter, out)
		}
	}
	// What the ACL allows is granted.
	out, _ := mosq(t, "mosquitto_sub", append(login(b, "tech"), "-p", p, "-V", "mqttv5", "-t", "ec-data/#", "-q", "1", "-W", "1", "-d")...)
	if !strings.Contains(out, "Subscribed (mid: 1): 1") {
		t.Errorf("tech subscribing to ec-data/#: want granted QoS 1\n%s", out)
	}
}

func TestACLRefusesOnMQTT311(t *testing.T) {
	b := startBroker(t)
	p := port(t, b.MQTT)
	out, _ := mosq(t, "mosquitto_sub", append(login(b, "tech"), "-p", p, "-V", "mqttv311", "-t", "denied/x", "-W", "1", "-d")...)
	if !strings.Contains(out, "Subscribed (mid: 1): 128") {
		t.Errorf("3.1.1 subscription to denied/x: want SUBACK 0x80 (128)\n%s", out)
	}
	// 3.1.1 has no negative PUBACK: the broker closes the connection.
	out, rc := mosq(t, "mosquitto_pub", append(login(b, "tech"), "-p", p, "-V", "mqttv311", "-q", "1", "-t", "denied/x", "-m", "x", "-d")...)
	if rc == 0 || strings.Contains(out, "received PUBACK") {
		t.Errorf("3.1.1 QoS 1 publish to denied/x: want the connection closed without PUBACK, rc=%d\n%s", rc, out)
	}
}

func TestDeniedMessagesAreNeverDelivered(t *testing.T) {
	b := startBroker(t)
	p := port(t, b.MQTT)
	// admin subscribes to everything; a QoS 0 publish to the denied tree
	// (which the protocol cannot refuse) must not arrive, while an allowed
	// one published after it does.
	// stdbuf -oL: mosquitto_sub's stdout is a pipe here, and its
	// "Subscribed" line must arrive before anything is published.
	args := append([]string{"-oL", testenv.Require(t, "mosquitto_sub")}, login(b, "admin")...)
	sub := exec.Command(testenv.Require(t, "stdbuf"), append(args, "-p", p, "-V", "mqttv5", "-t", "#", "-v", "-d", "-W", "10", "-C", "1")...)
	stdout, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Process.Kill(); _ = sub.Wait() })
	// Never a hang: the reads below end when mosquitto_sub is killed.
	stop := time.AfterFunc(30*time.Second, func() { _ = sub.Process.Kill() })
	defer stop.Stop()
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "Subscribed") {
			break
		}
	}
	if n := b.Subscribers("ectool/ok"); n != 1 {
		t.Errorf("broker counts %d subscribers matching ectool/ok, want 1 (admin's #)", n)
	}
	mosq(t, "mosquitto_pub", append(login(b, "tech"), "-p", p, "-t", "denied/x", "-m", "secret")...)
	mosq(t, "mosquitto_pub", append(login(b, "tech"), "-p", p, "-t", "ectool/ok", "-m", "fine")...)
	var got []string
	for lines.Scan() {
		if l := lines.Text(); !strings.HasPrefix(l, "Client ") {
			got = append(got, l)
		}
	}
	if len(got) != 1 || got[0] != "ectool/ok fine" {
		t.Errorf("admin's subscriber to # received %q, want only \"ectool/ok fine\"", got)
	}
}

func TestTLSListenerServesTheLabCA(t *testing.T) {
	b := startBroker(t)
	p := port(t, b.MQTTS)
	for _, v := range []string{"tlsv1.2", "tlsv1.3"} {
		out, rc := mosq(t, "mosquitto_pub", append(login(b, "tech"), "-p", p, "--cafile", b.CAFile, "--tls-version", v, "-q", "1", "-t", "ectool/t", "-m", "x", "-d")...)
		if rc != 0 || !strings.Contains(out, "received PUBACK") {
			t.Errorf("TLS (%s) with the lab CA: rc=%d\n%s", v, rc, out)
		}
	}
	// The certificate names localhost and 127.0.0.1, chains to ca.pem, and
	// TLS 1.1 is refused.
	pemCA, err := os.ReadFile(b.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	for _, name := range []string{"localhost", "127.0.0.1"} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", "127.0.0.1:"+p, &tls.Config{RootCAs: pool, ServerName: name})
		if err != nil {
			t.Errorf("TLS to the lab broker as %s: %v", name, err)
			continue
		}
		if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
			t.Errorf("negotiated TLS version %x, want 1.3", v)
		}
		c.Close()
	}
	if c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", "127.0.0.1:"+p, &tls.Config{RootCAs: pool, ServerName: "localhost", MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Error("the lab broker accepted TLS 1.1")
	}
	if c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", "127.0.0.1:"+p, &tls.Config{ServerName: "localhost"}); err == nil {
		c.Close()
		t.Error("the lab certificate verified against the system roots")
	}
	for _, f := range []string{b.KeyFile, b.User("tech").PasswordFile} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: want mode 0600, got %v (%v)", f, st.Mode().Perm(), err)
		}
	}
}

func TestWebSocketListenerSpeaksMQTT(t *testing.T) {
	b := startBroker(t)
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial(b.WS, nil)
	if err != nil {
		t.Fatalf("websocket dial %s: %v", b.WS, err)
	}
	defer c.Close()
	// MQTT 3.1.1 CONNECT, clean session, keep-alive 30 s, user tech.
	user, pass := "tech", b.User("tech").Password
	var vh bytes.Buffer
	vh.Write([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0xC2, 0, 30})
	for _, s := range []string{"ws-test", user, pass} {
		vh.Write([]byte{0, byte(len(s))})
		vh.WriteString(s)
	}
	pkt := append([]byte{0x10, byte(vh.Len())}, vh.Bytes()...)
	if err := c.WriteMessage(websocket.BinaryMessage, pkt); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("reading CONNACK over websocket: %v", err)
	}
	if !bytes.Equal(msg, []byte{0x20, 2, 0, 0}) {
		t.Errorf("CONNACK over websocket = % x, want 20 02 00 00 (accepted)", msg)
	}
}

func TestAPortInUseIsAListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().(*net.TCPAddr).Port
	_, err = Start(t.Context(), Config{Dir: t.TempDir(), MQTTPort: taken})
	var le *ListenError
	if !errors.As(err, &le) || le.Name != "mqtt" {
		t.Fatalf("starting on a taken port: got %v, want a *ListenError for mqtt", err)
	}
}

func TestClosingTheContextStopsTheBroker(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	b, err := Start(ctx, Config{Dir: t.TempDir(), MQTTSPort: -1, WSPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	if b.MQTTS != "" || b.WS != "" {
		t.Errorf("turned-off listeners advertised: %q %q", b.MQTTS, b.WS)
	}
	addr := strings.TrimPrefix(b.MQTT, "mqtt://")
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the broker still accepts connections after its context ended")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMTLSListenerWantsTheLabClientCertificate(t *testing.T) {
	b := startBroker(t)
	p := port(t, b.MTLS)
	out, rc := mosq(t, "mosquitto_pub", append(login(b, "tech"), "-p", p, "--cafile", b.CAFile,
		"--cert", b.ClientCertFile, "--key", b.ClientKeyFile, "-q", "1", "-t", "ectool/t", "-m", "x", "-d")...)
	if rc != 0 || !strings.Contains(out, "received PUBACK") {
		t.Errorf("mTLS with the lab client certificate: rc=%d\n%s", rc, out)
	}
	out, rc = mosq(t, "mosquitto_pub", append(login(b, "tech"), "-p", p, "--cafile", b.CAFile, "-q", "1", "-t", "ectool/t", "-m", "x", "-d")...)
	if rc == 0 || strings.Contains(out, "received PUBACK") {
		t.Errorf("mTLS without a client certificate was accepted: rc=%d\n%s", rc, out)
	}
	if st, err := os.Stat(b.ClientKeyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("client key %s: want mode 0600 (%v)", b.ClientKeyFile, err)
	}
}

func TestSilentConnectionsDoNotHoldTheBrokerOpen(t *testing.T) {
	b, err := Start(t.Context(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// Connections that never send CONNECT (nor finish a TLS handshake):
	// mochi alone would wait for them forever when closing.
	for _, u := range []string{b.MQTT, b.MQTTS, b.MTLS} {
		c, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimPrefix(u, "mqtts://"), "mqtt://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	taken := func() bool {
		b.conns.mu.Lock()
		n := len(b.conns.conns)
		b.conns.mu.Unlock()
		return n == 3 && b.conns.pending() == 0
	}
	for deadline := time.Now().Add(10 * time.Second); !taken(); {
		if time.Now().After(deadline) {
			t.Fatal("the broker did not take the connections in hand")
		}
		time.Sleep(10 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { _ = b.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return with silent connections open")
	}
}
