package mqtt_test

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/probe/mqtt"
)

// aedes speaks only 3.1.1: auto is refused on 5 with a 3.1.1 CONNACK 0x01,
// falls back, says so, and the session works (a message round trip).
func TestAutoFallsBackTo311OnAedes(t *testing.T) {
	b := testenv.StartAedes(t, testenv.AedesConfig{})
	ctx := ctxT(t, 20*time.Second)
	c, err := mqtt.Connect(ctx, mqtt.Options{Broker: b.URL, Version: mqtt.VAuto, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("auto on aedes: %v", err)
	}
	defer c.Disconnect(ctx)
	ca := c.ConnAck()
	if ca.Version != mqtt.V311 || !strings.Contains(ca.FallbackReason, "CONNACK 0x01") {
		t.Fatalf("ConnAck %+v: want 3.1.1 after a CONNACK 0x01 refusal of 5", ca)
	}
	if _, err := c.Subscribe(ctx, mqtt.Subscription{Filter: "auto/rt", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, mqtt.Message{Topic: "auto/rt", Payload: []byte("x"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-c.Messages():
		if m.Topic != "auto/rt" || string(m.Payload) != "x" {
			t.Fatalf("got %+v", m)
		}
	case <-ctx.Done():
		t.Fatal("the message did not come back")
	}
	// Without auto, 5 is refused in words that point at auto.
	_, err = mqtt.Connect(ctx, mqtt.Options{Broker: b.URL, Version: mqtt.V5})
	if _, hint := mqtt.Explain(err); err == nil || !strings.Contains(hint, "or auto") {
		t.Fatalf("MQTT 5 on aedes: %v (hint %q)", err, hint)
	}
}

// mosquitto speaks 5: auto takes it, no fallback.
func TestAutoSpeaks5OnMosquitto(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	ctx := ctxT(t, 20*time.Second)
	c, err := mqtt.Connect(ctx, mqtt.Options{Broker: b.URL, Version: mqtt.VAuto})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	if ca := c.ConnAck(); ca.Version != mqtt.V5 || ca.FallbackReason != "" {
		t.Fatalf("ConnAck %+v: want 5, no fallback", ca)
	}
}

// A refusal of the client is its answer, never a reason to try 3.1.1: a
// bad password on mosquitto (v5 CONNACK 0x87), a missing client
// certificate (TLS). On aedes the version is refused first, so the bad
// password shows on 3.1.1, with the fallback said.
func TestAutoNeverRetriesARefusedClient(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	pw := testenv.StartMosquitto(t, testenv.MosquittoConfig{Users: map[string]string{"meter": "right"}})
	_, err := mqtt.Connect(ctx, mqtt.Options{Broker: pw.URL, Version: mqtt.VAuto, Username: "meter", Password: "wrong", HasPassword: true})
	var re *mqtt.ReasonError
	if !errors.As(err, &re) || re.Version != mqtt.V5 || re.Code != 0x87 || mqtt.FallbackReason(err) != "" {
		t.Fatalf("bad password on mosquitto: %v (reason %+v, fallback %q): want the MQTT 5 refusal, no fallback", err, re, mqtt.FallbackReason(err))
	}

	mtls := testenv.StartMosquitto(t, testenv.MosquittoConfig{TLS: true, RequireCert: true})
	_, err = mqtt.Connect(ctx, mqtt.Options{Broker: mtls.URL, Version: mqtt.VAuto, TLS: mqtt.TLSOptions{CAFile: mtls.CAFile}})
	if mqtt.StepOf(err) != mqtt.StepTLS || mqtt.FallbackReason(err) != "" {
		t.Fatalf("no client certificate: %v (step %q, fallback %q): want a TLS failure, no fallback", err, mqtt.StepOf(err), mqtt.FallbackReason(err))
	}

	a := testenv.StartAedes(t, testenv.AedesConfig{User: "meter", Password: "right"})
	_, err = mqtt.Connect(ctx, mqtt.Options{Broker: a.URL, Version: mqtt.VAuto, Username: "meter", Password: "wrong", HasPassword: true})
	re = nil
	if !errors.As(err, &re) || re.Version != mqtt.V311 || re.Code != 4 || !strings.Contains(mqtt.FallbackReason(err), "CONNACK 0x01") {
		t.Fatalf("bad password on aedes: %v (reason %+v): want 3.1.1 CONNACK 0x04 after the fallback", err, re)
	}
	if msg, _ := mqtt.Explain(err); !strings.Contains(msg, "on MQTT 3.1.1") {
		t.Fatalf("the fallback is not said: %q", msg)
	}
	c, err := mqtt.Connect(ctx, mqtt.Options{Broker: a.URL, Version: mqtt.VAuto, Username: "meter", Password: "right", HasPassword: true})
	if err != nil {
		t.Fatalf("right password on aedes: %v", err)
	}
	_ = c.Disconnect(ctx)
}

// closeOn5 is a peer that acts as the brokers that hang up on a protocol
// level they do not know: it reads CONNECT and, for MQTT 5, holds the
// connection for hold (or until the client hangs up) and closes without
// a byte; for 3.1.1 it accepts (answer) or stays silent.
func closeOn5(t *testing.T, hold time.Duration, answer bool) string {
	t.Helper()
	addr := testenv.ServeLoopback(t, func(conn net.Conn) {
		defer conn.Close()
		// Fixed header, remaining length (one byte for a small CONNECT),
		// protocol name "MQTT", then the level.
		hdr := make([]byte, 9)
		if _, err := io.ReadFull(conn, hdr); err != nil || hdr[0] != 0x10 {
			return // not CONNECT (ectool's TLS probe): a broker hangs up
		}
		switch hdr[8] {
		case 5:
			// The broker's own pace: it reads on for hold, then hangs up.
			_ = conn.SetReadDeadline(time.Now().Add(hold))
		case 4:
			if answer {
				_, _ = conn.Write([]byte{0x20, 0x02, 0x00, 0x00})
			}
		}
		_, _ = io.Copy(io.Discard, conn)
	})
	return "mqtt://" + addr
}

// A broker that closes the connection on an MQTT 5 CONNECT gets 3.1.1;
// when 3.1.1 then goes unanswered, both attempts stay within one
// ConnectTimeout of the CONNECT step (the fallback has what is left, not a
// second timeout).
func TestAutoFallsBackOnACloseWithinOneTimeout(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	c, err := mqtt.Connect(ctx, mqtt.Options{Broker: closeOn5(t, 0, true), Version: mqtt.VAuto})
	if err != nil {
		t.Fatal(err)
	}
	if ca := c.ConnAck(); ca.Version != mqtt.V311 || !strings.Contains(ca.FallbackReason, "closed the connection") {
		t.Fatalf("ConnAck %+v", ca)
	}
	_ = c.Abort()

	const budget = 2 * time.Second
	start := time.Now()
	_, err = mqtt.Connect(ctx, mqtt.Options{Broker: closeOn5(t, budget*3/4, false), Version: mqtt.VAuto, ConnectTimeout: budget})
	took := time.Since(start)
	if mqtt.FallbackReason(err) == "" || mqtt.StepOf(err) != mqtt.StepConnect {
		t.Fatalf("silent 3.1.1 after a close on 5: %v", err)
	}
	// Right: about one budget (1.5s on 5, the 0.5s left on 3.1.1); a
	// budget of its own for the fallback would make it 3.5s. The bound
	// sits between, far from both.
	if took > budget*3/2 {
		t.Fatalf("auto took %s with --timeout %s: the fallback got a budget of its own", took, budget)
	}
}

// What 3.1.1 cannot carry (a password without a user name) is said, not
// sent malformed: the fallback is named, and 3.1.1 was not tried.
func TestAutoSaysWhat311CannotCarry(t *testing.T) {
	a := testenv.StartAedes(t, testenv.AedesConfig{})
	_, err := mqtt.Connect(ctxT(t, 20*time.Second), mqtt.Options{Broker: a.URL, Version: mqtt.VAuto, Password: "p", HasPassword: true})
	var fe *mqtt.FallbackError
	msg, hint := mqtt.Explain(err)
	if !errors.As(err, &fe) || fe.Tried311 || !strings.Contains(msg, "password without a user name") || !strings.Contains(hint, "--username") {
		t.Fatalf("password without a user name on aedes: %v (hint %q)", err, hint)
	}
}
