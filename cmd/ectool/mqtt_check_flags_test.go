package main

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// parseCheck runs `mqtt check` flag parsing only and returns its options.
func parseCheck(t *testing.T, args ...string) (*MQTTCheckOptions, int) {
	t.Helper()
	var errOut bytes.Buffer
	app := &App{IO: &Streams{Out: &bytes.Buffer{}, ErrOut: &errOut}, Output: "text", Now: time.Now,
		Getenv: func(string) string { return "" }}
	var got *MQTTCheckOptions
	cmd := newCmdMQTTCheck(app, func(_ context.Context, o *MQTTCheckOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	code := app.handleError(cmd.Execute())
	return got, code
}

func TestMQTTCheckFlagDefaults(t *testing.T) {
	o, code := parseCheck(t, "-b", "mqtt://127.0.0.1")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	c := o.Check
	if c.Count != 10 || c.Timeout != 5*time.Second || len(c.QoS) != 3 || c.TopicPrefix != "" || c.DenyTopic != "" || o.Strict {
		t.Errorf("defaults: %+v", c)
	}
	if c.Broker != "mqtt://127.0.0.1:1883" || c.Version != "auto" {
		t.Errorf("broker %q version %q", c.Broker, c.Version)
	}
}

func TestMQTTCheckFlagsReachTheCheck(t *testing.T) {
	o, code := parseCheck(t, "-b", "mqtts://broker.example.com", "--count", "3", "--qos-levels", "1,1,2",
		"--topic-prefix", "ec-data/site4/meter17/check", "--deny-topic", "ec-data/site4/meter18/telemetry",
		"--strict", "--timeout", "2s", "--mqtt-version", "3.1.1", "-u", "meter17", "--servername", "broker")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	c := o.Check
	if c.Count != 3 || string(c.QoS) != "\x01\x02" || c.TopicPrefix != "ec-data/site4/meter17/check" ||
		c.DenyTopic != "ec-data/site4/meter18/telemetry" || !o.Strict || c.Timeout != 2*time.Second ||
		c.Version != "3.1.1" || c.Username != "meter17" || c.TLS.ServerName != "broker" {
		t.Errorf("options: %+v", c)
	}
}

func TestMQTTCheckBadFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-b", "http://x"},
		{"-b", "mqtt://x", "--count", "-1"},
		{"-b", "mqtt://x", "--qos-levels", "0,3"},
		{"-b", "mqtt://x", "--qos-levels", ""},
		{"-b", "mqtt://x", "--deny-topic", "a/#"},
		{"-b", "mqtt://x", "--topic-prefix", ""},
		{"-b", "mqtt://x", "--topic-prefix", "t/", "--deny-topic", "t/x"},
		{"-b", "mqtt://x", "--topic-prefix", "t", "--deny-topic", "t/x"},
		{"-b", "mqtt://x", "--timeout", "-1s"},
	} {
		if _, code := parseCheck(t, args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
