package tour

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/ecdata/ectool/diag/report"
)

// The steps on the lab's MQTT broker and its gateway.

// message is one record of `mqtt sub -o json`.
type message struct {
	Topic   string `json:"topic"`
	Payload string `json:"payload"`
	Retain  bool   `json:"retain"`
}

// subSummary is the closing record of `mqtt sub --expect-seq -o json`.
type subSummary struct {
	Received   int `json:"received"`
	Lost       int `json:"lost"`
	Duplicated int `json:"duplicated"`
	OutOfOrder int `json:"out_of_order"`
}

// messages reads the messages and the summary of an `mqtt sub` stream.
func messages(c *Command) ([]message, *subSummary) {
	var ms []message
	var sum *subSummary
	for _, raw := range c.Records() {
		var r struct {
			message
			Summary *subSummary `json:"summary"`
		}
		if json.Unmarshal(raw, &r) != nil {
			continue
		}
		if r.Summary != nil {
			sum = r.Summary
		}
		if r.Topic != "" {
			ms = append(ms, r.message)
		}
	}
	return ms, sum
}

func stepRetained(ctx context.Context, tr *Tour) Verdict {
	g := tr.EP.Gateway
	if g == nil {
		return skip("the lab runs without its gateway")
	}
	args := append([]string{"mqtt", "sub", "-b", tr.EP.Broker.MQTT}, tr.Login("tech")...)
	args = append(args, "-t", g.TelemetryFilter, "--retained-only", "--count", fmt.Sprint(len(g.Topics)), "--timeout", "10s")
	c := tr.Run(ctx, args...)
	if v := wantExit(c, 0); v.failed() {
		v.Hint = "it should receive one retained reading per meter"
		return v
	}
	ms, _ := messages(c)
	retained := map[string]bool{}
	for _, m := range ms {
		if m.Retain {
			retained[m.Topic] = true
		}
	}
	for _, topic := range g.Topics {
		if !retained[topic] {
			return problem("no retained reading on %s in the stream", topic)
		}
	}
	return Verdict{}.with("retained_topics", len(retained))
}

func stepRoundtrip(ctx context.Context, tr *Tour) Verdict {
	const n = 10
	topic := "ectool/tour/" + randomTag() + "/seq"
	subArgs := append([]string{"mqtt", "sub", "-b", tr.EP.Broker.MQTT}, tr.Login("tech")...)
	subArgs = append(subArgs, "-t", topic, "-q", "1", "--count", fmt.Sprint(n), "--expect-seq", "--timeout", "20s")
	sub := tr.Start(ctx, subArgs...)
	if err := tr.WaitSubscribed(ctx, topic, sub); err != nil {
		tr.Show(sub)
		return problem("mqtt sub: %v", err)
	}
	pubArgs := append([]string{"mqtt", "pub", "-b", tr.EP.Broker.MQTT}, tr.Login("tech")...)
	pubArgs = append(pubArgs, "-t", topic, "-q", "1", "--count", fmt.Sprint(n), "--seq", "-m", "tour")
	pub := tr.Run(ctx, pubArgs...)
	tr.Show(sub)
	if _, v := wantReport(pub, 0, map[string]report.Status{"mqtt.publish": ok}); v.failed() {
		return v
	}
	if v := wantExit(sub, 0); v.failed() {
		v.Hint = fmt.Sprintf("all %d messages should arrive", n)
		return v
	}
	_, sum := messages(sub)
	switch {
	case sum == nil:
		return problem("mqtt sub --expect-seq ended without its summary record")
	case sum.Received != n || sum.Lost != 0 || sum.Duplicated != 0:
		return problem("mqtt sub counted %d received, %d lost, %d duplicated; want %d, 0, 0", sum.Received, sum.Lost, sum.Duplicated, n)
	}
	return Verdict{}.with("messages", n, "received", sum.Received, "lost", sum.Lost)
}

func stepCheck(ctx context.Context, tr *Tour) Verdict {
	args := append([]string{"mqtt", "check", "-b", tr.EP.Broker.MQTT}, tr.Login("tech")...)
	_, v := wantReport(tr.Run(ctx, args...), 0, map[string]report.Status{
		"mqtt.connect": ok, "mqtt.qos1": ok, "mqtt.retained": ok, "mqtt.will": ok})
	return v
}

func stepTLS(ctx context.Context, tr *Tour) Verdict {
	args := append([]string{"mqtt", "check", "-b", tr.EP.Broker.MQTTS, "--ca", tr.EP.Broker.CAFile}, tr.Login("tech")...)
	_, v := wantReport(tr.Run(ctx, args...), 0, map[string]report.Status{"mqtt.tls": ok, "mqtt.connect": ok})
	return v
}

func stepWebSocket(ctx context.Context, tr *Tour) Verdict {
	g := tr.EP.Gateway
	switch {
	case tr.EP.Broker.WS == "":
		return skip("the lab runs without its WebSocket listener (--no-websocket)")
	case g == nil:
		return skip("the lab runs without its gateway")
	}
	args := append([]string{"mqtt", "sub", "-b", tr.EP.Broker.WS}, tr.Login("tech")...)
	args = append(args, "-t", g.Topics[0], "--retained-only", "--count", "1", "--timeout", "10s")
	c := tr.Run(ctx, args...)
	if v := wantExit(c, 0); v.failed() {
		return v
	}
	for _, m := range mustMessages(c) {
		if m.Topic == g.Topics[0] {
			return Verdict{}
		}
	}
	return problem("mqtt sub over WebSocket did not receive the retained reading of %s", g.Topics[0])
}

func mustMessages(c *Command) []message {
	ms, _ := messages(c)
	return ms
}

func stepTLSUntrusted(ctx context.Context, tr *Tour) Verdict {
	args := append([]string{"mqtt", "check", "-b", tr.EP.Broker.MQTTS}, tr.Login("tech")...)
	_, v := wantReport(tr.Run(ctx, args...), 1, map[string]report.Status{"mqtt.tls": failed, "mqtt.connect": skips})
	return v
}

func stepMTLS(ctx context.Context, tr *Tour) Verdict {
	b := tr.EP.Broker
	if b.MTLS == "" {
		return skip("the lab runs without its mTLS listener")
	}
	base := append([]string{"mqtt", "check", "-b", b.MTLS, "--ca", b.CAFile}, tr.Login("tech")...)
	if _, v := wantReport(tr.Run(ctx, base...), 1, map[string]report.Status{"mqtt.tls": failed}); v.failed() {
		v.Problem = "without a client certificate: " + v.Problem
		return v
	}
	withCert := append(append([]string{}, base...), "--cert", b.ClientCertFile, "--key", b.ClientKeyFile)
	_, v := wantReport(tr.Run(ctx, withCert...), 0, map[string]report.Status{"mqtt.tls": ok, "mqtt.connect": ok})
	if v.failed() {
		v.Problem = "with the lab client certificate: " + v.Problem
	}
	return v
}

func stepBadPassword(ctx context.Context, tr *Tour) Verdict {
	wrong, err := tr.WriteScratch("wrong.password", "not-the-password\n")
	if err != nil {
		return problem("cannot write the wrong password file: %v", err)
	}
	args := []string{"mqtt", "check", "-b", tr.EP.Broker.MQTT, "-u", "tech", "--password-file", wrong}
	_, v := wantReport(tr.Run(ctx, args...), 1, map[string]report.Status{"mqtt.tcp": ok, "mqtt.connect": failed})
	return v
}

func stepACL(ctx context.Context, tr *Tour) Verdict {
	if tr.EP.Gateway == nil {
		return skip("the lab runs without its gateway")
	}
	prefix := fmt.Sprintf("ec-data/%s/ectool-check", tr.EP.Site)
	args := append([]string{"mqtt", "check", "-b", tr.EP.Broker.MQTT}, tr.Login("gateway")...)
	args = append(args, "--topic-prefix", prefix, "--deny-topic", tr.EP.Broker.DeniedTopic)
	_, v := wantReport(tr.Run(ctx, args...), 0, map[string]report.Status{"mqtt.acl_test_prefix": ok, "mqtt.acl_deny": ok})
	return v
}

func stepWill(ctx context.Context, tr *Tour) Verdict {
	g := tr.EP.Gateway
	if g == nil || tr.Site.Gateway == nil {
		return skip("the lab runs without its gateway")
	}
	args := append([]string{"mqtt", "sub", "-b", tr.EP.Broker.MQTT}, tr.Login("tech")...)
	args = append(args, "-t", g.StatusTopic, "-q", "1", "--count", "2", "--timeout", "15s")
	sub := tr.Start(ctx, args...)
	if err := tr.WaitSubscribed(ctx, g.StatusTopic, sub); err != nil {
		tr.Show(sub)
		return problem("mqtt sub: %v", err)
	}
	tr.Note("the tour cuts the gateway's connection")
	if err := tr.Site.Gateway.Abort(); err != nil {
		return problem("could not cut the gateway off: %v", err)
	}
	tr.Show(sub)
	if v := wantExit(sub, 0); v.failed() {
		v.Hint = "it should receive the retained online and then the Will"
		return v
	}
	var payloads []string
	for _, m := range mustMessages(sub) {
		if m.Topic == g.StatusTopic {
			payloads = append(payloads, m.Payload)
		}
	}
	if len(payloads) < 2 || payloads[0] != "online" || payloads[len(payloads)-1] != "offline" {
		return Verdict{Problem: fmt.Sprintf("the status topic said %q, want online then offline", payloads),
			Hint: "the broker should have published the gateway's Will"}
	}
	return Verdict{}.with("status", payloads)
}

func randomTag() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
