package lab

import (
	"errors"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
)

// mbpollRead reads holding registers 17-18 (1-based: the serial number)
// of unit with mbpoll and returns its output.
func mbpollRead(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return runPeer(t, "mbpoll", append([]string{"-1", "-o", "1", "-t", "4", "-r", "17", "-c", "2"}, args...)...)
}

func TestLabBusIsReachableThroughEveryEndpoint(t *testing.T) {
	s := startLab(t, Config{Gateway: GatewayConfig{Disabled: true}})
	b := s.Endpoints.Bus
	if b == nil || b.Scenario != "default" || b.Settings != "9600 8N1" || len(b.Meters) != 5 || len(b.Collided) != 1 || b.Collided[0] != 17 {
		t.Fatalf("bus endpoints: %+v", b)
	}
	gw, err := url.Parse(b.ModbusTCP)
	if err != nil || gw.Scheme != "tcp" {
		t.Fatalf("modbus_tcp %q: %v", b.ModbusTCP, err)
	}
	if !strings.HasPrefix(b.RTUOverTCP, "rtuovertcp://127.0.0.1:") {
		t.Fatalf("rtuovertcp %q", b.RTUOverTCP)
	}
	// Meter 1's serial number 11930231 is 0x00B6 0x0A77.
	if out, rc := mbpollRead(t, "-m", "tcp", "-p", gw.Port(), "-a", "1", gw.Hostname()); rc != 0 || !strings.Contains(out, "[17]: \t182") || !strings.Contains(out, "[18]: \t2679") {
		t.Errorf("mbpoll through the gateway: rc=%d\n%s", rc, out)
	}
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		if b.PTY != "" || b.PTYUnavailable == "" {
			t.Errorf("PTY %q on %s (unavailable: %q)", b.PTY, runtime.GOOS, b.PTYUnavailable)
		}
		return
	}
	if b.PTY == "" {
		t.Fatalf("no PTY: %s", b.PTYUnavailable)
	}
	if dst, err := os.Readlink(b.PTYLink); err != nil || dst != b.PTY {
		t.Errorf("PTY link %s -> %q (%v), want %s", b.PTYLink, dst, err, b.PTY)
	}
	if out, rc := mbpollRead(t, "-m", "rtu", "-b", "9600", "-P", "none", "-a", "1", b.PTYLink); rc != 0 || !strings.Contains(out, "[17]: \t182") {
		t.Errorf("mbpoll through the PTY link: rc=%d\n%s", rc, out)
	}
}

func TestLabBusScenarioAndSettingsAreChecked(t *testing.T) {
	for _, c := range []struct {
		cfg   BusConfig
		field string
	}{
		{BusConfig{Scenario: "nope"}, "bus-scenario"},
		{BusConfig{Settings: "9600 9X1"}, "bus-settings"},
		{BusConfig{Settings: "fast"}, "bus-settings"},
	} {
		var fe *FieldError
		if err := Validate(Config{Bus: c.cfg}); !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%+v: %v, want a %s error", c.cfg, err, c.field)
		}
	}
	if err := Validate(Config{Bus: BusConfig{Scenario: "nope", Disabled: true}}); err != nil {
		t.Errorf("a disabled bus's scenario is not checked: %v", err)
	}
}

func TestLabBusScenarioAndSettingsApply(t *testing.T) {
	s := startLab(t, Config{Gateway: GatewayConfig{Disabled: true}, Bus: BusConfig{Scenario: "clean", Settings: "19200 8E1", NoPTY: true}})
	b := s.Endpoints.Bus
	if b.Scenario != "clean" || b.Settings != "19200 8E1" || b.Parity != "E" || len(b.Collided) != 0 || b.PTY != "" {
		t.Fatalf("bus endpoints: %+v", b)
	}
	gw, _ := url.Parse(b.ModbusTCP)
	if out, rc := mbpollRead(t, "-m", "tcp", "-p", gw.Port(), "-a", "2", gw.Hostname()); rc != 0 {
		t.Errorf("mbpoll through the gateway of a 19200 8E1 bus: rc=%d\n%s", rc, out)
	}
}

func TestLabWithoutBus(t *testing.T) {
	s := startLab(t, Config{Gateway: GatewayConfig{Disabled: true}, Bus: BusConfig{Disabled: true}})
	if s.Endpoints.Bus != nil {
		t.Fatalf("bus endpoints of a lab without a bus: %+v", s.Endpoints.Bus)
	}
}
