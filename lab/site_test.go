package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab/broker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func startLab(t *testing.T, cfg Config) *Site {
	t.Helper()
	s, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("starting the lab: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// subArgs are mosquitto_sub arguments logging in as user on the lab's
// plain listener.
func subArgs(t *testing.T, s *Site, user string, extra ...string) []string {
	t.Helper()
	u, err := url.Parse(s.Endpoints.Broker.MQTT)
	if err != nil {
		t.Fatal(err)
	}
	acct := s.Endpoints.Broker.User(user)
	return append([]string{"-h", u.Hostname(), "-p", u.Port(), "-u", acct.Name, "-P", acct.Password}, extra...)
}

func runPeer(t *testing.T, program string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Require(t, program), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running %s: %v", program, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish: %s %s", program, out.String(), errOut.String())
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

func TestGatewayPublishesRetainedTelemetryForEveryMeter(t *testing.T) {
	s := startLab(t, Config{Site: "plant7", Gateway: GatewayConfig{Interval: 200 * time.Millisecond}})
	gw := s.Endpoints.Gateway
	if gw == nil || len(gw.Topics) != 3 || gw.TelemetryFilter != "ec-data/plant7/+/telemetry" {
		t.Fatalf("gateway endpoints: %+v", gw)
	}
	for _, v := range []string{"mqttv5", "mqttv311"} {
		// A fresh subscriber gets one retained reading per meter at once.
		out, rc := runPeer(t, "mosquitto_sub", subArgs(t, s, "tech", "-V", v, "-t", gw.TelemetryFilter, "-q", "1",
			"--retained-only", "-v", "-C", "3", "-W", "10")...)
		if rc != 0 {
			t.Fatalf("%s: mosquitto_sub of the retained telemetry: rc=%d\n%s", v, rc, out)
		}
		seen := map[string]bool{}
		for _, line := range testenv.Lines(out) {
			topic, payload, _ := strings.Cut(line, " ")
			var r Telemetry
			if err := json.Unmarshal([]byte(payload), &r); err != nil {
				t.Fatalf("telemetry on %s is not JSON: %v: %s", topic, err, payload)
			}
			if topic != "ec-data/plant7/"+r.Meter+"/telemetry" || r.Site != "plant7" {
				t.Errorf("reading of meter %q (site %q) on topic %s", r.Meter, r.Site, topic)
			}
			if r.VoltageV < 220 || r.VoltageV > 240 || r.PowerW <= 0 || r.CurrentA <= 0 || r.EnergyKWh <= 0 || r.PF <= 0 || r.PF > 1 {
				t.Errorf("implausible reading: %+v", r)
			}
			if _, err := time.Parse(time.RFC3339Nano, r.Time); err != nil {
				t.Errorf("reading time %q: %v", r.Time, err)
			}
			seen[r.Meter] = true
		}
		if len(seen) != 3 {
			t.Errorf("%s: retained readings from %d meters, want 3: %s", v, len(seen), out)
		}
	}
	// And it keeps publishing live readings.
	out, rc := runPeer(t, "mosquitto_sub", subArgs(t, s, "tech", "-t", "ec-data/plant7/main/telemetry", "-q", "1", "-R", "-C", "2", "-W", "10")...)
	if rc != 0 || len(testenv.Lines(out)) != 2 {
		t.Errorf("live readings of meter main: rc=%d\n%s", rc, out)
	}
	if err := s.Gateway.Err(); err != nil {
		t.Errorf("gateway error: %v", err)
	}
}

func TestGatewayStatusIsOnlineAndTheWillFiresWhenItIsCutOff(t *testing.T) {
	s := startLab(t, Config{Gateway: GatewayConfig{Interval: time.Second}})
	status := s.Endpoints.Gateway.StatusTopic
	// stdbuf -oL: the watcher's lines must reach us as they arrive.
	args := append([]string{"-oL", testenv.Require(t, "mosquitto_sub")}, subArgs(t, s, "tech", "-t", status, "-q", "1", "-C", "2", "-W", "15")...)
	watcher := exec.Command(testenv.Require(t, "stdbuf"), args...)
	stdout, err := watcher.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watcher.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = watcher.Process.Kill(); _ = watcher.Wait() })
	// Never a hang: the reads below end when the watcher is killed.
	stop := time.AfterFunc(30*time.Second, func() { _ = watcher.Process.Kill() })
	defer stop.Stop()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "online" {
		t.Fatalf("retained gateway status: got %q, want online", lines.Text())
	}
	if err := s.Gateway.Abort(); err != nil {
		t.Fatalf("aborting the gateway: %v", err)
	}
	if !lines.Scan() || lines.Text() != "offline" {
		t.Fatalf("after the gateway was cut off: got %q, want the Will \"offline\"", lines.Text())
	}
	// The Will was retained: a later subscriber sees the gateway offline.
	out, _ := runPeer(t, "mosquitto_sub", subArgs(t, s, "tech", "-t", status, "-C", "1", "-W", "5")...)
	if strings.TrimSpace(out) != "offline" {
		t.Errorf("retained status after the Will: %q", out)
	}
}

func TestStoppingTheLabSaysOfflineAndRemovesItsDirectory(t *testing.T) {
	s := startLab(t, Config{})
	dir := s.Endpoints.Dir
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("lab dir %s: mode %v, %v; want 0700", dir, st.Mode().Perm(), err)
	}
	for _, u := range s.Endpoints.Broker.Users {
		if st, err := os.Stat(u.PasswordFile); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("password file %s: %v %v", u.PasswordFile, st.Mode().Perm(), err)
		}
	}
	// A graceful stop publishes "offline" itself (the broker drops the Will).
	if err := s.Gateway.Stop(); err != nil {
		t.Fatalf("stopping the gateway: %v", err)
	}
	out, _ := runPeer(t, "mosquitto_sub", subArgs(t, s, "tech", "-t", s.Endpoints.Gateway.StatusTopic, "-C", "1", "-W", "5")...)
	if strings.TrimSpace(out) != "offline" {
		t.Errorf("status after a graceful stop: %q, want offline", out)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("stopping the lab: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("lab dir %s still exists after Stop: %v", dir, err)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(s.Endpoints.Broker.MQTT, "mqtt://"), time.Second); err == nil {
		t.Error("the broker still accepts connections after Stop")
	}
}

func TestPortBaseFixesEveryPort(t *testing.T) {
	var s *Site
	for attempt := 0; ; attempt++ {
		base := 20000 + testenv.FreePort(t)%20000
		var err error
		s, err = Start(t.Context(), Config{PortBase: base, Dir: t.TempDir(), Gateway: GatewayConfig{Disabled: true}})
		if err != nil && attempt < 5 { // a port of the range was taken: another range
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Stop() })
		want := map[string]int{s.Endpoints.Broker.MQTT: base, s.Endpoints.Broker.MQTTS: base + 1, s.Endpoints.Broker.WS: base + 2, s.Endpoints.Broker.MTLS: base + 3}
		for u, p := range want {
			pu, _ := url.Parse(u)
			if pu.Port() != strconv.Itoa(p) {
				t.Errorf("%s: want port %d", u, p)
			}
		}
		break
	}
	if s.Endpoints.Gateway != nil || s.Gateway != nil {
		t.Error("a disabled gateway was started")
	}
	// A second lab on the same ports cannot start, and says which listener.
	_, err := Start(t.Context(), Config{PortBase: s.Config.PortBase, Gateway: GatewayConfig{Disabled: true}})
	var le *broker.ListenError
	if !errors.As(err, &le) {
		t.Errorf("second lab on the same ports: %v, want a *broker.ListenError", err)
	}
}

func TestBadSiteNamesAreRefused(t *testing.T) {
	for _, name := range []string{"a/b", "a+b", "#", "with space"} {
		if _, err := Start(t.Context(), Config{Site: name}); err == nil {
			t.Errorf("site %q accepted", name)
		}
	}
}

func TestGatewayReconnectsWhenAnotherClientTakesItsID(t *testing.T) {
	s := startLab(t, Config{Gateway: GatewayConfig{Interval: 200 * time.Millisecond, Meters: []string{"main"}}})
	gw := s.Endpoints.Gateway
	// A client logging in with the gateway's client id takes its session
	// over: the broker drops the gateway, which must come back.
	out, rc := runPeer(t, "mosquitto_pub", subArgs(t, s, "gateway", "-i", gw.ClientID, "-t", "ec-data/lab/intruder", "-m", "x", "-q", "1")...)
	if rc != 0 {
		t.Fatalf("mosquitto_pub with the gateway's client id: rc=%d %s", rc, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Gateway.Reconnects() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not reconnect (err %v)", s.Gateway.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s.Gateway.Err() == nil {
		t.Error("the lost connection was not recorded")
	}
	before := s.Gateway.Published()
	out, rc = runPeer(t, "mosquitto_sub", subArgs(t, s, "tech", "-t", gw.Topics[0], "-q", "1", "-R", "-C", "2", "-W", "10")...)
	if rc != 0 || s.Gateway.Published() <= before {
		t.Errorf("no live telemetry after the reconnect: rc=%d %s", rc, out)
	}
	out, _ = runPeer(t, "mosquitto_sub", subArgs(t, s, "tech", "-t", gw.StatusTopic, "-C", "1", "-W", "5")...)
	if strings.TrimSpace(out) != "online" {
		t.Errorf("status after the reconnect: %q, want online", out)
	}
}

func TestGatewaySpeaksMQTT311(t *testing.T) {
	s := startLab(t, Config{Gateway: GatewayConfig{Version: "3.1.1", Interval: 200 * time.Millisecond}})
	out, rc := runPeer(t, "mosquitto_sub", subArgs(t, s, "tech", "-t", s.Endpoints.Gateway.TelemetryFilter, "-q", "1", "--retained-only", "-C", "3", "-W", "10")...)
	if rc != 0 || len(testenv.Lines(out)) != 3 {
		t.Errorf("retained telemetry from a 3.1.1 gateway: rc=%d\n%s", rc, out)
	}
	if s.Endpoints.Gateway.Version != "3.1.1" {
		t.Errorf("endpoints say mqtt_version %q", s.Endpoints.Gateway.Version)
	}
}

// countingListener counts the connections a listener accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func TestBrokerListenersCanBeWrappedForRecording(t *testing.T) {
	var n atomic.Int32
	names := make(chan string, 4)
	startLab(t, Config{Broker: BrokerConfig{WrapListener: func(name string, ln net.Listener) net.Listener {
		names <- name
		return countingListener{ln, &n}
	}}})
	if len(names) != 4 {
		t.Errorf("%d listeners wrapped, want 4 (mqtt, mqtts, ws, mtls)", len(names))
	}
	// The gateway's connection went through the wrapped plain listener.
	if n.Load() < 1 {
		t.Errorf("the wrapped listeners accepted %d connections, want the gateway's", n.Load())
	}
}
