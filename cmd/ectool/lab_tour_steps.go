package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// tourSteps are the steps of `ectool lab tour`, in order. Each is one
// entry: its check ID (document it in docs/checks.md, "## tour"), a title,
// what it shows when it behaves as expected, and a Run that runs ectool
// commands through the tour and judges their output. Steps for components
// added to the lab later (the Modbus bus, the modem) go here too; a step
// whose component is off returns stepResult{Skip: "..."}.
var tourSteps = []tourStep{
	{
		ID:    "tour.retained",
		Title: "Retained telemetry: what a new subscriber sees first",
		Explain: "The gateway publishes every meter's reading at QoS 1 with the retain flag, so the broker keeps " +
			"the last reading of each topic and hands it to every new subscriber at once. A dashboard that " +
			"stays empty until the next reading arrives is looking at a gateway that does not retain.",
		Run: func(ctx context.Context, t *tour) stepResult {
			g := t.ep.Gateway
			if g == nil {
				return stepResult{Skip: "the lab runs without its gateway"}
			}
			args := append([]string{"mqtt", "sub", "-b", t.ep.Broker.MQTT}, t.login("tech")...)
			args = append(args, "-t", g.TelemetryFilter, "--retained-only", "--count", fmt.Sprint(len(g.Topics)), "--timeout", "10s")
			r := t.ectool(ctx, args...)
			if r.ExitCode != 0 {
				return stepResult{Problem: fmt.Sprintf("mqtt sub exited %d, want 0", r.ExitCode), Hint: "it should receive one retained reading per meter"}
			}
			for _, topic := range g.Topics {
				if !strings.Contains(r.Stdout, topic) {
					return stepResult{Problem: "no retained reading on " + topic}
				}
			}
			return stepResult{}
		},
	},
	{
		ID:    "tour.roundtrip",
		Title: "Round trip with sequence numbers: nothing lost, nothing duplicated",
		Explain: "mqtt pub --seq numbers every message and stamps its send time; mqtt sub --expect-seq counts what " +
			"arrived, lost, duplicated and out of order, and the latency. At QoS 1 the broker must deliver all " +
			"of them; loss here means a broker queue limit or a subscriber that was not connected yet.",
		Run: func(ctx context.Context, t *tour) stepResult {
			const n = 10
			topic := "ectool/tour/" + randomTag() + "/seq"
			subArgs := append([]string{"mqtt", "sub", "-b", t.ep.Broker.MQTT}, t.login("tech")...)
			subArgs = append(subArgs, "-t", topic, "-q", "1", "--count", fmt.Sprint(n), "--expect-seq", "--timeout", "20s")
			sub := t.background(ctx, subArgs...)
			if err := t.waitSubscribed(ctx, topic, sub); err != nil {
				sub.wait()
				t.show(sub.ran)
				return stepResult{Problem: "mqtt sub: " + err.Error()}
			}
			pubArgs := append([]string{"mqtt", "pub", "-b", t.ep.Broker.MQTT}, t.login("tech")...)
			pubArgs = append(pubArgs, "-t", topic, "-q", "1", "--count", fmt.Sprint(n), "--seq", "-m", "tour")
			pub := t.ectool(ctx, pubArgs...)
			sr := sub.wait()
			t.show(sr)
			switch {
			case pub.ExitCode != 0:
				return stepResult{Problem: fmt.Sprintf("mqtt pub exited %d, want 0", pub.ExitCode)}
			case sr.ExitCode != 0:
				return stepResult{Problem: fmt.Sprintf("mqtt sub exited %d, want 0", sr.ExitCode), Hint: fmt.Sprintf("all %d messages should arrive", n)}
			}
			return stepResult{Evidence: map[string]any{"messages": n}}
		},
	},
	{
		ID:    "tour.check",
		Title: "The broker check ladder: everything fine",
		Explain: "mqtt check climbs from DNS to TCP, CONNECT (with the broker's limits), SUBSCRIBE, a round trip " +
			"at each QoS, a retained message and a Last Will. Every rung passed: this is what a healthy broker " +
			"and valid credentials look like. Exit code 0.",
		Run: func(ctx context.Context, t *tour) stepResult {
			args := append([]string{"mqtt", "check", "-b", t.ep.Broker.MQTT}, t.login("tech")...)
			return expectExit(t.ectool(ctx, args...), 0, map[string]string{
				"mqtt.connect": "ok", "mqtt.qos1": "ok", "mqtt.retained": "ok", "mqtt.will": "ok"})
		},
	},
	{
		ID:    "tour.tls",
		Title: "TLS: trusting the broker's CA with --ca",
		Explain: "The TLS rung checked the protocol version, the cipher, the certificate chain up to the lab's CA " +
			"(given with --ca), the days left before expiry and that the certificate names the host dialled.",
		Run: func(ctx context.Context, t *tour) stepResult {
			args := append([]string{"mqtt", "check", "-b", t.ep.Broker.MQTTS, "--ca", t.ep.Broker.CAFile}, t.login("tech")...)
			return expectExit(t.ectool(ctx, args...), 0, map[string]string{"mqtt.tls": "ok", "mqtt.connect": "ok"})
		},
	},
	{
		ID:    "tour.websocket",
		Title: "MQTT over WebSocket: the same broker through ws://",
		Explain: "The same MQTT session, carried inside an HTTP connection upgraded to a WebSocket: what a gateway " +
			"uses when the site's network lets only HTTP(S) out, or when the broker sits behind a web proxy. " +
			"Only the URL changes (ws://, or wss:// with TLS).",
		Run: func(ctx context.Context, t *tour) stepResult {
			g := t.ep.Gateway
			switch {
			case t.ep.Broker.WS == "":
				return stepResult{Skip: "the lab runs without its WebSocket listener (--no-websocket)"}
			case g == nil:
				return stepResult{Skip: "the lab runs without its gateway"}
			}
			args := append([]string{"mqtt", "sub", "-b", t.ep.Broker.WS}, t.login("tech")...)
			args = append(args, "-t", g.Topics[0], "--retained-only", "--count", "1", "--timeout", "10s")
			r := t.ectool(ctx, args...)
			if r.ExitCode != 0 || !strings.Contains(r.Stdout, g.Topics[0]) {
				return stepResult{Problem: fmt.Sprintf("mqtt sub over WebSocket exited %d without the retained reading of %s", r.ExitCode, g.Topics[0])}
			}
			return stepResult{}
		},
	},
	{
		ID:    "tour.tls_untrusted",
		Title: "TLS without the CA: the classic \"A TLS error occurred\"",
		Explain: "Without --ca, ectool trusts only the system's CAs, and the lab's certificate is signed by the " +
			"lab's own CA: the TLS rung fails with an unknown certificate authority and says so in words, " +
			"where other tools say \"A TLS error occurred\". The fix is --ca with the broker's CA file. Exit code 1.",
		Run: func(ctx context.Context, t *tour) stepResult {
			args := append([]string{"mqtt", "check", "-b", t.ep.Broker.MQTTS}, t.login("tech")...)
			return expectExit(t.ectool(ctx, args...), 1, map[string]string{"mqtt.tls": "FAIL", "mqtt.connect": "skip"})
		},
	},
	{
		ID:    "tour.mtls",
		Title: "Mutual TLS: the broker asks the client for its certificate",
		Explain: "The mTLS listener requires a client certificate signed by the lab CA. Without --cert and --key " +
			"the TLS rung fails and says the broker wants a certificate (TLS alert \"certificate required\"); " +
			"with the lab's client certificate the same check passes, and the TLS evidence shows it was " +
			"requested, sent and accepted.",
		Run: func(ctx context.Context, t *tour) stepResult {
			b := t.ep.Broker
			if b.MTLS == "" {
				return stepResult{Skip: "the lab runs without its mTLS listener"}
			}
			base := append([]string{"mqtt", "check", "-b", b.MTLS, "--ca", b.CAFile}, t.login("tech")...)
			if res := expectExit(t.ectool(ctx, base...), 1, map[string]string{"mqtt.tls": "FAIL"}); res.Problem != "" {
				res.Problem = "without a client certificate: " + res.Problem
				return res
			}
			withCert := append(append([]string{}, base...), "--cert", b.ClientCertFile, "--key", b.ClientKeyFile)
			res := expectExit(t.ectool(ctx, withCert...), 0, map[string]string{"mqtt.tls": "ok", "mqtt.connect": "ok"})
			if res.Problem != "" {
				res.Problem = "with the lab client certificate: " + res.Problem
			}
			return res
		},
	},
	{
		ID:    "tour.bad_password",
		Title: "A wrong password: refused at CONNECT",
		Explain: "The network and TLS were fine, but the broker refused the login in its CONNACK (reason 0x86, " +
			"bad user name or password). ectool names the rung that failed and skips the ones that depend on " +
			"it, so the report points at the credentials, not at the network. Exit code 1.",
		Run: func(ctx context.Context, t *tour) stepResult {
			wrong, err := t.writeScratch("wrong.password", "not-the-password\n")
			if err != nil {
				return stepResult{Problem: "cannot write the wrong password file: " + err.Error()}
			}
			args := []string{"mqtt", "check", "-b", t.ep.Broker.MQTT, "-u", "tech", "--password-file", wrong}
			return expectExit(t.ectool(ctx, args...), 1, map[string]string{"mqtt.tcp": "ok", "mqtt.connect": "FAIL"})
		},
	},
	{
		ID:    "tour.acl",
		Title: "The per-device ACL: the gateway's account may not leave its tree",
		Explain: "The gateway's account may only use ec-data/<site>/#, so the check put its own test topics inside " +
			"that tree (--topic-prefix) and then tried denied/x: the broker refused both the publish and the " +
			"subscription (reason 0x87, not authorized). That proves the ACL holds; a broker that accepted them " +
			"would fail this check.",
		Run: func(ctx context.Context, t *tour) stepResult {
			if t.ep.Gateway == nil {
				return stepResult{Skip: "the lab runs without its gateway"}
			}
			prefix := fmt.Sprintf("ec-data/%s/ectool-check", t.ep.Site)
			args := append([]string{"mqtt", "check", "-b", t.ep.Broker.MQTT}, t.login("gateway")...)
			args = append(args, "--topic-prefix", prefix, "--deny-topic", t.ep.Broker.DeniedTopic)
			return expectExit(t.ectool(ctx, args...), 0, map[string]string{"mqtt.acl_test_prefix": "ok", "mqtt.acl_deny": "ok"})
		},
	},
	{
		ID:    "tour.will",
		Title: "The gateway loses power: its Last Will tells everyone",
		Explain: "The subscriber first got the retained \"online\" the gateway published when it connected. Then the " +
			"tour cut the gateway's connection without a DISCONNECT, as a power cut would, and the broker published " +
			"the Will the gateway registered at CONNECT: \"offline\", retained, so anyone subscribing later sees " +
			"the gateway offline instead of a stale \"online\".",
		Run: func(ctx context.Context, t *tour) stepResult {
			g := t.ep.Gateway
			if g == nil || t.site.Gateway == nil {
				return stepResult{Skip: "the lab runs without its gateway"}
			}
			args := append([]string{"mqtt", "sub", "-b", t.ep.Broker.MQTT}, t.login("tech")...)
			args = append(args, "-t", g.StatusTopic, "-q", "1", "--count", "2", "--timeout", "15s")
			sub := t.background(ctx, args...)
			if err := t.waitSubscribed(ctx, g.StatusTopic, sub); err != nil {
				t.show(sub.wait())
				return stepResult{Problem: "mqtt sub: " + err.Error()}
			}
			fmt.Fprintf(t.out, "(the tour cuts the gateway's connection)\n")
			if err := t.site.Gateway.Abort(); err != nil {
				return stepResult{Problem: "could not cut the gateway off: " + err.Error()}
			}
			r := sub.wait()
			t.show(r)
			if r.ExitCode != 0 {
				return stepResult{Problem: fmt.Sprintf("mqtt sub exited %d, want 0", r.ExitCode), Hint: "it should receive the retained online and then the Will"}
			}
			on, off := strings.Index(r.Stdout, "online"), strings.LastIndex(r.Stdout, "offline")
			if on < 0 || off < on {
				return stepResult{Problem: "the status topic did not go from online to offline", Hint: "the broker should have published the gateway's Will"}
			}
			return stepResult{}
		},
	},
}

// expectExit judges a check command by its exit code and by the status
// its text report gives to some checks (e.g. "mqtt.tls": "FAIL").
func expectExit(r *ran, code int, want map[string]string) stepResult {
	ev := map[string]any{"want_exit_code": code}
	if r.ExitCode != code {
		res := stepResult{Problem: fmt.Sprintf("exit code %d, want %d", r.ExitCode, code), Evidence: ev}
		if r.Err != nil && r.ExitCode < 0 {
			res.Problem = r.Err.Error()
		}
		return res
	}
	for id, status := range want {
		if got := reportedStatus(r.Stdout, id); got != status {
			if got == "" {
				got = "absent"
			}
			return stepResult{Problem: fmt.Sprintf("%s is %s in the report, want %s", id, got, status), Evidence: ev}
		}
	}
	return stepResult{Evidence: ev}
}

// reportedStatus finds check id in a plain-text report (as printed when
// stdout is not a terminal: "[ ok ] mqtt.tls ...") and returns its status
// ("ok", "warn", "FAIL", "skip"), or "" when the check is not there.
func reportedStatus(text, id string) string {
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "[") || len(line) < 7 {
			continue
		}
		if f := strings.Fields(line[6:]); len(f) > 0 && f[0] == id {
			return strings.TrimSpace(line[1:5])
		}
	}
	return ""
}

func randomTag() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
