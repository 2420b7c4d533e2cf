package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
)

// parseProbeNet parses a probe net command line up to run and returns the
// options, or the exit code and stderr of a refusal.
func parseProbeNet(t *testing.T, env map[string]string, args ...string) (*ProbeNetOptions, int, string) {
	t.Helper()
	var errOut bytes.Buffer
	app := &App{IO: &Streams{Out: &bytes.Buffer{}, ErrOut: &errOut}, Output: "text", Now: time.Now,
		Getenv: func(k string) string { return env[k] }}
	var got *ProbeNetOptions
	cmd := newCmdProbeNet(app, func(_ context.Context, o *ProbeNetOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	code := app.handleError(err)
	return got, code, errOut.String()
}

func TestProbeNetTargetsComeFromArgumentsBrokerAndEnvironment(t *testing.T) {
	env := map[string]string{"ECTOOL_MQTT_BROKER": "mqtts://env.example.com"}
	o, code, errOut := parseProbeNet(t, env, "api.example.com:443", "-b", "broker.example.com")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	ts := o.Probe.Targets
	if len(ts) != 2 || ts[0].Host != "api.example.com" || !ts[0].TLS || ts[1].Raw != "mqtt://broker.example.com:1883" || ts[1].TLS {
		t.Errorf("targets %+v", ts)
	}
	// The environment's broker stands in only when nothing else is given.
	o, _, _ = parseProbeNet(t, env)
	if len(o.Probe.Targets) != 1 || o.Probe.Targets[0].Raw != "mqtts://env.example.com:8883" {
		t.Errorf("from ECTOOL_MQTT_BROKER: %+v", o.Probe.Targets)
	}
	o, _, _ = parseProbeNet(t, env, "10.0.0.5:1883", "--tls", "--iface", "wwan0", "--dns", "9.9.9.9", "--dns", "[2001:db8::53]:5353", "--count", "5")
	if !o.Probe.Targets[0].TLS || o.Probe.Iface != "wwan0" || strings.Join(o.Probe.DNS, " ") != "9.9.9.9:53 [2001:db8::53]:5353" || o.Probe.Count != 5 || o.Probe.Timeout != 5*time.Second || o.Probe.MQTT != nil {
		t.Errorf("options %+v", o.Probe)
	}
	o, _, _ = parseProbeNet(t, nil, "mqtts://b.example.com", "--mqtt", "-u", "meter")
	if o.Probe.MQTT == nil {
		t.Error("--mqtt adds no MQTT step")
	}
}

func TestProbeNetRefusesBadTargetsAndFlagsBeforeAnyIO(t *testing.T) {
	t.Setenv("ECTOOL_MQTT_BROKER", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "give a TARGET"},
		{[]string{"broker.example.com"}, "host:port"},
		{[]string{"ftp://broker.example.com"}, "scheme"},
		{[]string{"broker:70000"}, "1 to 65535"},
		{[]string{"[::1:8883"}, "host:port"},
		{[]string{"-b", "http://x"}, "-b/--broker"},
		{[]string{"b:1", "--iface", "a", "--iface", "b"}, "one interface"},
		{[]string{"b:1", "--iface", ""}, "--iface is empty"},
		{[]string{"b:1", "--count", "0"}, "--count 0"},
		{[]string{"b:1", "--timeout", "0s"}, "--timeout"},
		{[]string{"b:1", "--dns", "dns.google"}, "--dns"},
		{[]string{"b:8883", "--pin", "sha256//short"}, "--pin"},
		{[]string{"b:8883", "--ca", "/nonexistent/ca.pem"}, "--ca /nonexistent/ca.pem: no such file"},
		{[]string{"https://api.example.com", "--mqtt"}, "no target is a broker"},
	} {
		done := make(chan struct{})
		var code int
		var out, errOut string
		go func() {
			defer close(done)
			code, out, errOut = runMain(t, append([]string{"probe", "net"}, c.args...)...)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("probe net %v hangs", c.args)
		}
		if code != ExitUsage || out != "" || !strings.Contains(errOut, c.want) || len(testenv.Lines(errOut)) > 2 {
			t.Errorf("probe net %v: exit %d, stdout %q, stderr %q; want exit 2 saying %q", c.args, code, out, errOut, c.want)
		}
	}
}
