package modem

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// conn talks to a fresh modem's TCP AT port.
type conn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, cfg Config) (*Modem, *conn) {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tcp, err := m.ServeTCP("")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", tcp.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return m, &conn{t: t, c: c, r: bufio.NewReader(c)}
}

// ask sends cmd and reads up to the final result (or n bytes of junk).
func (c *conn) ask(cmd string) string {
	c.t.Helper()
	if _, err := c.c.Write([]byte(cmd + "\r")); err != nil {
		c.t.Fatal(err)
	}
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var out strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		out.WriteString(line)
		l := strings.TrimSpace(line)
		if l == "OK" || l == "ERROR" || strings.HasPrefix(l, "+CME ERROR") || err != nil {
			return out.String()
		}
	}
}

func TestModemAnswersInTheWireFormat(t *testing.T) {
	_, c := dial(t, Config{Scenario: "ok"})
	if got := c.ask("AT+CSQ"); got != "\r\n+CSQ: 21,99\r\n\r\nOK\r\n" {
		t.Fatalf("%q", got)
	}
	if got := c.ask("AT+CGDCONT?"); !strings.Contains(got, `+CGDCONT: 1,"IP","m2m.example"`) {
		t.Fatalf("%q", got)
	}
	if got := c.ask("AT+NOSUCH"); got != "\r\nERROR\r\n" {
		t.Fatalf("unknown command: %q", got)
	}
}

func TestModemWordsErrorsAsCMEESays(t *testing.T) {
	_, c := dial(t, Config{Scenario: "no-sim"})
	for mode, want := range []string{"\r\nERROR\r\n", "\r\n+CME ERROR: 10\r\n", "\r\n+CME ERROR: SIM not inserted\r\n"} {
		c.ask("AT+CMEE=" + string(rune('0'+mode)))
		if got := c.ask("AT+CPIN?"); got != want {
			t.Errorf("CMEE %d: %q, want %q", mode, got, want)
		}
	}
}

func TestEchoQuirkEchoesUntilATE0(t *testing.T) {
	_, c := dial(t, Config{Quirks: []string{"echo"}})
	if got := c.ask("AT"); got != "AT\r\r\nOK\r\n" {
		t.Fatalf("%q", got)
	}
	c.ask("ATE0")
	if got := c.ask("AT"); got != "\r\nOK\r\n" {
		t.Fatalf("after ATE0: %q", got)
	}
}

func TestURCQuirkPutsACodeInsideTheAnswer(t *testing.T) {
	_, c := dial(t, Config{Quirks: []string{"urc"}})
	got := c.ask("AT+CEREG?")
	if !strings.Contains(got, "\r\n+CEREG: 2,1,\"1A2B\",\"01A2B3C4\",7\r\n\r\n+CEREG: 1,\"1A2B\"") {
		t.Fatalf("%q", got)
	}
}

func TestPINLockedSIMCountsWrongPINsAndBlocks(t *testing.T) {
	m, c := dial(t, Config{Scenario: "pin-locked"})
	c.ask("AT+CMEE=2")
	for i, want := range []string{"SIM PIN,2,3", "SIM PIN,1,3", "SIM PIN,0,3"} {
		if got := c.ask(`AT+CPIN="0000"`); !strings.Contains(got, "incorrect password") {
			t.Fatalf("wrong PIN %d: %q", i, got)
		}
		if got := c.ask("AT+CPINR"); !strings.Contains(got, want) {
			t.Fatalf("after %d wrong PINs: %q", i+1, got)
		}
	}
	if got := c.ask("AT+CPIN?"); !strings.Contains(got, "SIM PUK") {
		t.Fatalf("three wrong PINs: %q", got)
	}
	if got := c.ask(`AT+CPIN="` + m.Config().PIN + `"`); !strings.Contains(got, "SIM PUK required") {
		t.Fatalf("the right PIN after the block: %q", got)
	}
}

// The same scenario sends the same bytes every run: junk included.
func TestGarbageIsDeterministic(t *testing.T) {
	read := func() []byte {
		_, c := dial(t, Config{Scenario: "garbage"})
		c.c.Write([]byte("AT\r"))
		buf := make([]byte, 32)
		_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _ := readFull(c.r, buf)
		return buf[:n]
	}
	a, b := read(), read()
	if len(a) != 32 || !bytes.Equal(a, b) {
		t.Fatalf("% X vs % X", a, b)
	}
	for _, x := range a {
		if x != '\n' && x < 0x80 {
			t.Fatalf("junk holds AT text: % X", a)
		}
	}
}

func readFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := r.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestMuteModemStopsAfterTenCommands(t *testing.T) {
	m, c := dial(t, Config{Scenario: "mute"})
	for range muteAfter {
		if got := c.ask("AT"); got != "\r\nOK\r\n" {
			t.Fatalf("%q", got)
		}
	}
	c.c.Write([]byte("AT\r"))
	_ = c.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if b, err := c.r.ReadByte(); err == nil {
		t.Fatalf("a mute modem answered %q", b)
	}
	if n := len(m.Commands()); n != muteAfter+1 {
		t.Fatalf("logged %d commands, want %d (it hears them all)", n, muteAfter+1)
	}
}

func TestSettersAreFoundInTheLog(t *testing.T) {
	cmds := []Command{{Line: "AT"}, {Line: "ATE0"}, {Line: "AT+CMEE=2"}, {Line: `AT+CPIN="4711"`}, {Line: "AT+CSQ"},
		{Line: "AT+CEREG?"}, {Line: "AT+CGDCONT=?"}, {Line: "AT+CRSM=176,12258,0,0,10"}, {Line: "AT&W"}, {Line: `AT+CGDCONT=1,"IP","x"`},
		{Line: "AT+COPS=0"}, {Line: "AT+CFUN=1"}, {Line: "AT+CGACT=1,1"}, {Line: "ATZ"}, {Line: "AT+QCFG=\"band\""}}
	got := strings.Join(Setters(cmds), " ")
	if got != `AT&W AT+CGDCONT=1,"IP","x" AT+COPS=0 AT+CFUN=1 AT+CGACT=1,1 ATZ AT+QCFG="band"` {
		t.Fatalf("setters %q", got)
	}
}

func TestConfigNamesTheBadFlag(t *testing.T) {
	for _, c := range []struct {
		cfg   Config
		field string
	}{
		{Config{Scenario: "nope"}, "modem-scenario"},
		{Config{Dialect: "huawei"}, "modem-dialect"},
		{Config{Quirks: []string{"loud"}}, "modem-quirks"},
	} {
		err := c.cfg.Validate()
		fe, ok := err.(*FieldError)
		if !ok || fe.Field != c.field {
			t.Errorf("%+v: %v, want a FieldError on %s", c.cfg, err, c.field)
		}
	}
}
