package mqtt_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/certs"
	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/probe/mqtt"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, o mqtt.Options) mqtt.Client {
	t.Helper()
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	c, err := mqtt.Connect(ctxT(t, 10*time.Second), o)
	if err != nil {
		t.Fatalf("connect %s (MQTT %s): %v", o.Broker, o.Version, err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

func receive(t *testing.T, c mqtt.Client, n int, within time.Duration) []mqtt.Message {
	t.Helper()
	var got []mqtt.Message
	deadline := time.After(within)
	for len(got) < n {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatalf("connection ended after %d of %d messages: %v", len(got), n, c.Err())
			}
			got = append(got, m)
		case <-deadline:
			t.Fatalf("only %d of %d messages within %s", len(got), n, within)
		}
	}
	return got
}

var versions = []mqtt.Version{mqtt.V5, mqtt.V311}

func TestPublishAndSubscribeAtEveryQoSOnBothVersions(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{NoQueueLimits: true})
	for _, v := range versions {
		t.Run("mqtt"+string(v), func(t *testing.T) {
			sub := connect(t, mqtt.Options{Broker: b.URL, Version: v, CleanStart: true})
			codes, err := sub.Subscribe(ctxT(t, 5*time.Second), mqtt.Subscription{Filter: "rt/" + string(v) + "/#", QoS: 2})
			if err != nil || len(codes) != 1 || codes[0] != 2 {
				t.Fatalf("subscribe: %v %v", codes, err)
			}
			pub := connect(t, mqtt.Options{Broker: b.URL, Version: v, CleanStart: true})
			for q := byte(0); q <= 2; q++ {
				for i := 0; i < 50; i++ {
					if err := pub.Publish(ctxT(t, 5*time.Second), mqtt.Message{Topic: fmt.Sprintf("rt/%s/q%d", v, q), Payload: []byte(fmt.Sprint(i)), QoS: q}); err != nil {
						t.Fatalf("publish QoS %d: %v", q, err)
					}
				}
			}
			got := receive(t, sub, 150, 10*time.Second)
			for i, m := range got {
				wantQ := byte(i / 50)
				if m.QoS != wantQ || string(m.Payload) != fmt.Sprint(i%50) {
					t.Fatalf("message %d: QoS %d payload %q, want QoS %d payload %d (order kept?)", i, m.QoS, m.Payload, wantQ, i%50)
				}
			}
		})
	}
}

func TestRetainedMessageReachesALateSubscriber(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	for _, v := range versions {
		pub := connect(t, mqtt.Options{Broker: b.URL, Version: v, CleanStart: true})
		topic := "ret/" + string(v)
		if err := pub.Publish(ctxT(t, 5*time.Second), mqtt.Message{Topic: topic, Payload: []byte("kept"), QoS: 1, Retain: true}); err != nil {
			t.Fatal(err)
		}
		sub := connect(t, mqtt.Options{Broker: b.URL, Version: v, CleanStart: true})
		if _, err := sub.Subscribe(ctxT(t, 5*time.Second), mqtt.Subscription{Filter: topic, QoS: 1}); err != nil {
			t.Fatal(err)
		}
		m := receive(t, sub, 1, 5*time.Second)[0]
		if !m.Retain || string(m.Payload) != "kept" {
			t.Fatalf("MQTT %s: got %+v", v, m)
		}
	}
}

func TestUserPropertiesTravelOnMQTT5(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	sub := connect(t, mqtt.Options{Broker: b.URL})
	if _, err := sub.Subscribe(ctxT(t, 5*time.Second), mqtt.Subscription{Filter: "props", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	pub := connect(t, mqtt.Options{Broker: b.URL})
	exp := uint32(60)
	err := pub.Publish(ctxT(t, 5*time.Second), mqtt.Message{Topic: "props", Payload: []byte("{}"), QoS: 1, Properties: mqtt.Properties{
		ContentType: "application/json", MessageExpiry: &exp, UserProperties: []mqtt.UserProperty{{Key: "site", Value: "A"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	m := receive(t, sub, 1, 5*time.Second)[0]
	if m.Properties.ContentType != "application/json" || len(m.Properties.UserProperties) != 1 || m.Properties.UserProperties[0].Value != "A" {
		t.Fatalf("properties lost: %+v", m.Properties)
	}
}

func TestACLRefusalsAreErrorsInWords(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{
		Users: map[string]string{"meter": "pw"},
		ACL:   "user meter\ntopic readwrite allowed/#\n",
	})
	// MQTT 5: a refused QoS 1 publish is PUBACK 0x87, a refused
	// subscription SUBACK 0x87.
	c := connect(t, mqtt.Options{Broker: b.URL, Username: "meter", Password: "pw", HasPassword: true})
	err := c.Publish(ctxT(t, 5*time.Second), mqtt.Message{Topic: "denied/x", Payload: []byte("x"), QoS: 1})
	var re *mqtt.ReasonError
	if !errors.As(err, &re) || re.Code != 0x87 || mqtt.StepOf(err) != mqtt.StepPublish {
		t.Fatalf("refused publish: got %v", err)
	}
	if _, hint := mqtt.Explain(err); !strings.Contains(hint, "ACL") {
		t.Errorf("hint %q does not mention the ACL", hint)
	}
	if err := c.Publish(ctxT(t, 5*time.Second), mqtt.Message{Topic: "allowed/x", Payload: []byte("x"), QoS: 1}); err != nil {
		t.Fatalf("allowed publish: %v", err)
	}
}

func TestBadPasswordIsRefusedInCONNACK(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{Users: map[string]string{"meter": "pw"}})
	// mosquitto 2.0 answers MQTT 5 with 0x87 (not authorized) rather than
	// 0x86; both are worded.
	want := map[mqtt.Version][]byte{mqtt.V5: {0x86, 0x87}, mqtt.V311: {4, 5}}
	for _, v := range versions {
		_, err := mqtt.Connect(ctxT(t, 10*time.Second), mqtt.Options{Broker: b.URL, Version: v, Username: "meter", Password: "wrong", HasPassword: true, ConnectTimeout: 5 * time.Second})
		var re *mqtt.ReasonError
		if !errors.As(err, &re) || !bytes.Contains(want[v], []byte{re.Code}) || mqtt.StepOf(err) != mqtt.StepConnect {
			t.Fatalf("MQTT %s: got %v", v, err)
		}
		if msg, _ := mqtt.Explain(err); !strings.Contains(msg, "bad user name or password") && !strings.Contains(msg, "not authorized") {
			t.Errorf("MQTT %s: message %q", v, msg)
		}
	}
}

func TestNothingListeningIsRefusedAtTheTCPStep(t *testing.T) {
	port := testenv.FreePort(t)
	start := time.Now()
	_, err := mqtt.Connect(ctxT(t, 10*time.Second), mqtt.Options{Broker: fmt.Sprintf("mqtt://127.0.0.1:%d", port), ConnectTimeout: 2 * time.Second})
	if mqtt.StepOf(err) != mqtt.StepTCP || mqtt.DialFailure(errors.Unwrap(err)) != "refused" {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
}

func TestUnknownHostFailsAtTheDNSStep(t *testing.T) {
	_, err := mqtt.Connect(ctxT(t, 10*time.Second), mqtt.Options{Broker: "mqtt://no-such-host.invalid", ConnectTimeout: 2 * time.Second})
	if mqtt.StepOf(err) != mqtt.StepDNS {
		t.Fatalf("got %v", err)
	}
}

// A broker that speaks only MQTT 3.1.1 answers an MQTT 5 CONNECT with the
// 3.1.1 CONNACK "unacceptable protocol version" and closes.
func TestMQTT311OnlyBrokerIsRecognised(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 256)
			_, _ = c.Read(buf)
			_, _ = c.Write([]byte{0x20, 0x02, 0x00, 0x01})
			c.Close()
		}
	}()
	_, err = mqtt.Connect(ctxT(t, 10*time.Second), mqtt.Options{Broker: "mqtt://" + l.Addr().String(), ConnectTimeout: 2 * time.Second})
	msg, hint := mqtt.Explain(err)
	if mqtt.StepOf(err) != mqtt.StepConnect || !strings.Contains(msg, "refuses MQTT 5") || !strings.Contains(hint, "--mqtt-version 3.1.1") {
		t.Fatalf("got %v (hint %q)", err, hint)
	}
}

func TestTLSFailuresAreNamed(t *testing.T) {
	good := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true})
	mtls := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true, RequireCert: true, Certs: good.Certs})
	expired := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true, ServerCert: "expired", Certs: good.Certs})
	wrong := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true, ServerCert: "wrong-host", Certs: good.Certs})
	s := good.Certs
	cases := []struct {
		name string
		o    mqtt.Options
		step mqtt.Step
		want string
	}{
		{"unknown authority", mqtt.Options{Broker: good.URL, TLS: mqtt.TLSOptions{CAFile: s.OtherCAFile}}, mqtt.StepTLS, "does not trust"},
		{"hostname mismatch", mqtt.Options{Broker: wrong.URL, TLS: mqtt.TLSOptions{CAFile: s.CAFile}}, mqtt.StepTLS, "not for"},
		{"expired", mqtt.Options{Broker: expired.URL, TLS: mqtt.TLSOptions{CAFile: s.CAFile}}, mqtt.StepTLS, "expired"},
		{"client certificate required", mqtt.Options{Broker: mtls.URL, TLS: mqtt.TLSOptions{CAFile: s.CAFile}}, mqtt.StepTLS, "client certificate"},
		{"untrusted client certificate", mqtt.Options{Broker: mtls.URL, TLS: mqtt.TLSOptions{CAFile: s.CAFile, CertFile: s.UntrustedClientCert, KeyFile: s.UntrustedClientKey}}, mqtt.StepTLS, "client certificate"},
		{"plain MQTT to a TLS port", mqtt.Options{Broker: strings.Replace(good.URL, "mqtts", "mqtt", 1)}, mqtt.StepConnect, "closed the connection"},
		{"TLS to a plain port", mqtt.Options{Broker: "mqtts://" + testenv.StartMosquitto(t, testenv.MosquittoConfig{}).Addr(), TLS: mqtt.TLSOptions{CAFile: s.CAFile}}, mqtt.StepTLS, "TLS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.ConnectTimeout = 3 * time.Second
			c, err := mqtt.Connect(ctxT(t, 10*time.Second), tc.o)
			if err == nil {
				c.Disconnect(context.Background())
				t.Fatal("connected")
			}
			msg, hint := mqtt.Explain(err)
			if mqtt.StepOf(err) != tc.step || !strings.Contains(msg, tc.want) {
				t.Fatalf("got step %q: %s (hint %q), want step %q mentioning %q", mqtt.StepOf(err), msg, hint, tc.step, tc.want)
			}
			if hint == "" {
				t.Error("no hint")
			}
		})
	}
	for _, v := range versions {
		c := connect(t, mqtt.Options{Broker: mtls.URL, Version: v, TLS: mqtt.TLSOptions{CAFile: s.CAFile, CertFile: s.ClientCert, KeyFile: s.ClientKey}})
		if err := c.Publish(ctxT(t, 5*time.Second), mqtt.Message{Topic: "tls/ok", Payload: []byte("x"), QoS: 1}); err != nil {
			t.Fatalf("MQTT %s over mutual TLS: %v", v, err)
		}
	}
}

func TestWebSocketsCarryMQTT(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{WebSockets: true})
	for _, v := range versions {
		sub := connect(t, mqtt.Options{Broker: b.WSURL, Version: v})
		if _, err := sub.Subscribe(ctxT(t, 5*time.Second), mqtt.Subscription{Filter: "ws/#", QoS: 1}); err != nil {
			t.Fatal(err)
		}
		pub := connect(t, mqtt.Options{Broker: b.WSURL, Version: v})
		big := bytes.Repeat([]byte("x"), 100000)
		if err := pub.Publish(ctxT(t, 5*time.Second), mqtt.Message{Topic: "ws/big", Payload: big, QoS: 1}); err != nil {
			t.Fatal(err)
		}
		if m := receive(t, sub, 1, 5*time.Second)[0]; !bytes.Equal(m.Payload, big) {
			t.Fatalf("MQTT %s over WebSockets: payload of %d bytes", v, len(m.Payload))
		}
	}
}

func TestAbortMakesTheBrokerSendTheWill(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	for _, v := range versions {
		watcher := connect(t, mqtt.Options{Broker: b.URL, Version: v})
		topic := "will/" + string(v)
		if _, err := watcher.Subscribe(ctxT(t, 5*time.Second), mqtt.Subscription{Filter: topic, QoS: 1}); err != nil {
			t.Fatal(err)
		}
		dying, err := mqtt.Connect(ctxT(t, 5*time.Second), mqtt.Options{Broker: b.URL, Version: v, Will: &mqtt.Will{Topic: topic, Payload: []byte("gone"), QoS: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if err := dying.Abort(); err != nil {
			t.Fatal(err)
		}
		if m := receive(t, watcher, 1, 5*time.Second)[0]; string(m.Payload) != "gone" {
			t.Fatalf("MQTT %s: got %q", v, m.Payload)
		}
		select {
		case <-dying.Done():
			if dying.Err() != nil {
				t.Errorf("Abort left an error: %v", dying.Err())
			}
		case <-time.After(5 * time.Second):
			t.Errorf("MQTT %s: Done not closed after Abort", v)
		}
	}
}

func TestDisconnectSendsNoWill(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	watcher := connect(t, mqtt.Options{Broker: b.URL})
	if _, err := watcher.Subscribe(ctxT(t, 5*time.Second), mqtt.Subscription{Filter: "will/#", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		c, err := mqtt.Connect(ctxT(t, 5*time.Second), mqtt.Options{Broker: b.URL, Version: v, Will: &mqtt.Will{Topic: "will/x", Payload: []byte("gone")}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Disconnect(ctxT(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case m := <-watcher.Messages():
		t.Fatalf("Will sent after a clean disconnect: %+v", m)
	case <-time.After(500 * time.Millisecond):
	}
}

// failingConn is a socket whose writes fail once failWrites is called, as
// when the link dies just before DISCONNECT.
type failingConn struct {
	net.Conn
	failing atomic.Bool
}

func (c *failingConn) Write(p []byte) (int, error) {
	if c.failing.Load() {
		return 0, syscall.EPIPE
	}
	return c.Conn.Write(p)
}

// Issue 6: a DISCONNECT that never reached the broker is an error, not a
// clean end: to the broker the client vanished, and it sends the Will.
func TestDisconnectThatNeverLeftIsAnErrorAndTheBrokerSendsTheWill(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	for _, v := range versions {
		watcher := connect(t, mqtt.Options{Broker: b.URL, Version: v})
		topic := "will/lost/" + string(v)
		if _, err := watcher.Subscribe(ctxT(t, 5*time.Second), mqtt.Subscription{Filter: topic, QoS: 1}); err != nil {
			t.Fatal(err)
		}
		var sock *failingConn
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			sock = &failingConn{Conn: c}
			return sock, nil
		}
		c, err := mqtt.Connect(ctxT(t, 5*time.Second), mqtt.Options{Broker: b.URL, Version: v, Dial: dial,
			Will: &mqtt.Will{Topic: topic, Payload: []byte("gone"), QoS: 1}})
		if err != nil {
			t.Fatal(err)
		}
		sock.failing.Store(true)
		if err := c.Disconnect(ctxT(t, 5*time.Second)); err == nil || !strings.Contains(err.Error(), "DISCONNECT was not sent") {
			t.Errorf("MQTT %s: Disconnect returned %v, want an error saying DISCONNECT was not sent", v, err)
		}
		if m := receive(t, watcher, 1, 5*time.Second)[0]; string(m.Payload) != "gone" {
			t.Fatalf("MQTT %s: got %q, want the Will", v, m.Payload)
		}
	}
}

func TestPipelinedPublishesArriveInOrder(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{NoQueueLimits: true})
	for _, v := range versions {
		for q := byte(1); q <= 2; q++ {
			sub := connect(t, mqtt.Options{Broker: b.URL, Version: v})
			topic := fmt.Sprintf("pipe/%s/%d", v, q)
			if _, err := sub.Subscribe(ctxT(t, 5*time.Second), mqtt.Subscription{Filter: topic, QoS: q}); err != nil {
				t.Fatal(err)
			}
			pub := connect(t, mqtt.Options{Broker: b.URL, Version: v})
			const n = 2000
			acked := make(chan error, n)
			for i := 0; i < n; i++ {
				if err := pub.PublishAsync(ctxT(t, 10*time.Second), mqtt.Message{Topic: topic, Payload: []byte(fmt.Sprint(i)), QoS: q}, func(err error) { acked <- err }); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < n; i++ {
				select {
				case err := <-acked:
					if err != nil {
						t.Fatalf("MQTT %s QoS %d: %v", v, q, err)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("MQTT %s QoS %d: %d of %d acknowledged", v, q, i, n)
				}
			}
			for i, m := range receive(t, sub, n, 10*time.Second) {
				if string(m.Payload) != fmt.Sprint(i) {
					t.Fatalf("MQTT %s QoS %d: message %d is %q", v, q, i, m.Payload)
				}
			}
		}
	}
}

// A subscriber that stops after N messages and disconnects must have
// acknowledged all N: the broker must not send any of them again in the
// next session. (Closing the socket without waiting for the broker's close
// once made the broker drop the last acknowledgements.)
func TestDrainedSessionHasNothingLeftToResend(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{NoQueueLimits: true})
	for _, v := range versions {
		o := mqtt.Options{Broker: b.URL, Version: v, ClientID: "drain-" + strings.ReplaceAll(string(v), ".", ""), CleanStart: false}
		topic := "drain/" + string(v)
		sub := func() mqtt.Client {
			c, err := mqtt.Connect(ctxT(t, 10*time.Second), o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Subscribe(ctxT(t, 5*time.Second), mqtt.Subscription{Filter: topic, QoS: 1}); err != nil {
				t.Fatal(err)
			}
			return c
		}
		c := sub()
		_ = c.Disconnect(ctxT(t, 5*time.Second))
		pub := connect(t, mqtt.Options{Broker: b.URL, Version: v})
		const n = 5000
		for i := 0; i < n; i++ {
			if err := pub.PublishAsync(ctxT(t, 10*time.Second), mqtt.Message{Topic: topic, Payload: []byte("x"), QoS: 1}, func(error) {}); err != nil {
				t.Fatal(err)
			}
		}
		_ = pub.Disconnect(ctxT(t, 5*time.Second))
		c, err := mqtt.Connect(ctxT(t, 10*time.Second), o)
		if err != nil {
			t.Fatal(err)
		}
		receive(t, c, n, 20*time.Second)
		_ = c.Disconnect(ctxT(t, 5*time.Second))
		c = sub()
		select {
		case m := <-c.Messages():
			t.Errorf("MQTT %s: the broker sent a drained message again (dup=%v)", v, m.Dup)
		case <-time.After(time.Second):
		}
		o.CleanStart = true
		_ = c.Disconnect(ctxT(t, 5*time.Second))
	}
}

// In the test's own network namespace: an "unreachable" route gives no
// route at once; a prefix routed into lo, where nobody owns the address,
// swallows the SYN and the step times out. The namespace is the package's,
// shared by every test and every -count repeat: the routes go when the test
// ends.
func TestTCPFailuresAreToldApart(t *testing.T) {
	testenv.RequireNetns(t)
	ip := testenv.Require(t, "ip")
	for _, route := range [][]string{
		{"unreachable", "10.98.0.0/16"},
		{"10.97.0.0/16", "dev", "lo"},
	} {
		add := append([]string{"route", "add"}, route...)
		if out, err := exec.Command(ip, add...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", add, err, out)
		}
		t.Cleanup(func() {
			del := append([]string{"route", "del"}, route...)
			if out, err := exec.Command(ip, del...).CombinedOutput(); err != nil {
				t.Errorf("ip %v: %v: %s", del, err, out)
			}
		})
	}
	cases := []struct{ broker, kind string }{
		{"mqtt://10.98.0.1", "no_route"},
		{"mqtt://10.97.0.1", "timed_out"},
	}
	for _, c := range cases {
		start := time.Now()
		_, err := mqtt.Connect(ctxT(t, 10*time.Second), mqtt.Options{Broker: c.broker, ConnectTimeout: time.Second})
		var se *mqtt.StepError
		if !errors.As(err, &se) || se.Step != mqtt.StepTCP || mqtt.DialFailure(se.Err) != c.kind {
			t.Fatalf("%s: got %v, want a %s TCP failure", c.broker, err, c.kind)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %s with a 1s timeout", c.broker, d)
		}
	}
}

// mosquitto 2.0 sends some limits in CONNACK and leaves others out: what it
// left out must read as absent (nil), not as "available".
func TestConnAckKeepsAbsentLimitsAbsent(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{Extra: "retain_available false\n", ListenerExtra: "max_qos 1\n"})
	c := connect(t, mqtt.Options{Broker: b.URL})
	ca := c.ConnAck()
	if ca.MaximumQoS == nil || *ca.MaximumQoS != 1 || ca.RetainAvailable == nil || *ca.RetainAvailable {
		t.Fatalf("limits sent by the broker lost: %+v", ca)
	}
	if ca.WildcardSubAvailable != nil || ca.SharedSubAvailable != nil {
		t.Errorf("limits the broker did not send read as present: wildcard %v shared %v", ca.WildcardSubAvailable, ca.SharedSubAvailable)
	}
}

// mosquitto cannot be held to TLS 1.2 at most (tls_version is a minimum), so
// a Go TLS server stands in for a broker stuck on TLS 1.2.
func TestTLSVersionMismatchIsNamed(t *testing.T) {
	s, err := certs.WriteSet(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(s.ServerCert, s.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	_, err = mqtt.Connect(ctxT(t, 10*time.Second), mqtt.Options{Broker: "mqtts://" + l.Addr().String(), ConnectTimeout: 3 * time.Second,
		TLS: mqtt.TLSOptions{CAFile: s.CAFile, MinVersion: tls.VersionTLS13}})
	msg, hint := mqtt.Explain(err)
	if mqtt.StepOf(err) != mqtt.StepTLS || !strings.Contains(msg, "TLS version") || !strings.Contains(hint, "--tls-min") {
		t.Fatalf("got %v (hint %q)", err, hint)
	}
}
