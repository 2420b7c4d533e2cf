package lab

import (
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"
)

// talk sends cmd to an open AT port and reads until OK or ERROR.
func talk(t *testing.T, rw interface {
	Write([]byte) (int, error)
	Read([]byte) (int, error)
}, cmd string) string {
	t.Helper()
	if _, err := rw.Write([]byte(cmd + "\r")); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	buf := make([]byte, 256)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		n, err := rw.Read(buf)
		got.Write(buf[:max(n, 0)])
		if s := got.String(); strings.HasSuffix(s, "OK\r\n") || strings.HasSuffix(s, "ERROR\r\n") || err != nil {
			break
		}
	}
	return got.String()
}

func TestLabModemAnswersOverTCPAndThePTY(t *testing.T) {
	s := startLab(t, Config{Gateway: GatewayConfig{Disabled: true}, Bus: BusConfig{Disabled: true},
		Modem: ModemConfig{Dialect: "quectel"}})
	ep := s.Endpoints.Modem
	if ep == nil || ep.Scenario != "wrong-apn" || ep.Dialect != "quectel" || ep.APN != "internet" || ep.ExpectedAPN != "m2m.example" ||
		!strings.HasPrefix(ep.TCP, "tcp://127.0.0.1:") || ep.ICCID == "" {
		t.Fatalf("modem endpoints: %+v", ep)
	}
	if b, err := os.ReadFile(ep.PINFile); err != nil || strings.TrimSpace(string(b)) == "" {
		t.Fatalf("pin file %s: %q %v", ep.PINFile, b, err)
	}
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(ep.TCP, "tcp://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := talk(t, c, "AT+CGMI"); !strings.Contains(got, "Quectel") {
		t.Fatalf("tcp: %q", got)
	}
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		if ep.PTY != "" || ep.PTYUnavailable == "" {
			t.Errorf("PTY %q on %s (unavailable: %q)", ep.PTY, runtime.GOOS, ep.PTYUnavailable)
		}
		return
	}
	if dst, err := os.Readlink(ep.PTYLink); err != nil || dst != ep.PTY {
		t.Fatalf("PTY link %s -> %q (%v), want %s", ep.PTYLink, dst, err, ep.PTY)
	}
	p, err := serial.Open(ep.PTYLink, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_ = p.SetReadTimeout(100 * time.Millisecond)
	if got := talk(t, p, "AT+CGPADDR"); !strings.Contains(got, `+CGPADDR: 1,"0.0.0.0"`) {
		t.Fatalf("pty: %q", got)
	}
	log, _ := os.ReadFile(ep.LogFile)
	if !strings.Contains(string(log), "AT+CGMI") || !strings.Contains(string(log), "pty AT+CGPADDR") {
		t.Errorf("log %s:\n%s", ep.LogFile, log)
	}
	if n := len(s.Modem.Commands()); n != 2 {
		t.Errorf("%d commands logged, want 2", n)
	}
}

func TestLabModemSettingsAreCheckedBeforeStarting(t *testing.T) {
	for _, c := range []struct {
		cfg   ModemConfig
		field string
	}{
		{ModemConfig{Scenario: "nope"}, "modem-scenario"},
		{ModemConfig{Dialect: "nope"}, "modem-dialect"},
		{ModemConfig{Quirks: []string{"nope"}}, "modem-quirks"},
	} {
		err := Validate(Config{Modem: c.cfg})
		fe, ok := err.(*FieldError)
		if !ok || fe.Field != c.field {
			t.Errorf("%+v: %v, want a FieldError on %s", c.cfg, err, c.field)
		}
	}
	if err := Validate(Config{Modem: ModemConfig{Disabled: true, Scenario: "nope"}}); err != nil {
		t.Errorf("a modem left out is not checked: %v", err)
	}
}
