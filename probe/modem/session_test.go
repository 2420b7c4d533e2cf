package modem

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// scripted is a port whose answers a test writes: answer gets each command
// and returns the chunks to send back (nil: silence); a chunk "<EOF>"
// closes the port.
type scripted struct {
	pr     *io.PipeReader
	pw     *io.PipeWriter
	answer func(cmd string) []string
	in     []byte
	mu     sync.Mutex
	got    []string
	bytes  int
}

func newScripted(answer func(string) []string) *scripted {
	pr, pw := io.Pipe()
	return &scripted{pr: pr, pw: pw, answer: answer}
}

func (s *scripted) Read(b []byte) (int, error) { return s.pr.Read(b) }

func (s *scripted) Write(b []byte) (int, error) {
	s.mu.Lock()
	s.bytes += len(b)
	s.mu.Unlock()
	for _, c := range b {
		if c != '\r' {
			s.in = append(s.in, c)
			continue
		}
		cmd := string(s.in)
		s.in = s.in[:0]
		s.mu.Lock()
		s.got = append(s.got, cmd)
		s.mu.Unlock()
		for _, chunk := range s.answer(cmd) {
			if chunk == "<EOF>" {
				s.pw.CloseWithError(io.EOF)
				break
			}
			if _, err := s.pw.Write([]byte(chunk)); err != nil {
				return 0, err
			}
		}
	}
	return len(b), nil
}

func (s *scripted) Close() error { return s.pw.Close() }

func session(t *testing.T, answer func(string) []string) (*Session, *scripted) {
	t.Helper()
	port := newScripted(answer)
	s := NewSession(port, time.Second, nil)
	t.Cleanup(func() { s.Close(); port.Close() })
	return s, port
}

func TestSessionTakesEchoAndURCsOutOfTheAnswer(t *testing.T) {
	s, _ := session(t, func(cmd string) []string {
		return []string{cmd + "\r", "\r\n+CEREG: 1\r\n", "\r\n+CSQ: 21,99\r\n", "\r\nRING\r\n", "\r\n+QIND: \"csq\",21,99\r\n", "\r\nOK\r\n"}
	})
	a, err := s.Do(context.Background(), "AT+CSQ")
	if err != nil || !a.OK() || !a.Echo {
		t.Fatalf("%+v %v", a, err)
	}
	if strings.Join(a.Lines, "|") != "+CSQ: 21,99" || len(a.URCs) != 3 {
		t.Fatalf("lines %q, urcs %q", a.Lines, a.URCs)
	}
	if !strings.Contains(a.Raw, `AT+CSQ\r\r\n+CEREG: 1\r\n`) {
		t.Errorf("raw %q", a.Raw)
	}
}

func TestSessionReadsAnAnswerSplitIntoSingleBytes(t *testing.T) {
	const answer = "\r\n!GSTATUS: \r\nSystem mode:   LTE\tPS state:    Attached\r\n\r\nOK\r\n"
	s, _ := session(t, func(string) []string { return strings.Split(answer, "") })
	a, err := s.Do(context.Background(), "AT!GSTATUS?")
	if err != nil || len(a.Lines) != 2 || a.Lines[1] != "System mode:   LTE\tPS state:    Attached" {
		t.Fatalf("%q %v", a.Lines, err)
	}
}

func TestSessionWordsCMEErrors(t *testing.T) {
	s, _ := session(t, func(cmd string) []string {
		if cmd == "AT+CPIN?" {
			return []string{"\r\n+CME ERROR: 10\r\n"}
		}
		return []string{"\r\n+CME ERROR: SIM busy\r\n"}
	})
	for cmd, code := range map[string]int{"AT+CPIN?": cmeSIMNotInserted, "AT+CIMI": cmeSIMBusy} {
		_, err := s.Do(context.Background(), cmd)
		var ce *CommandError
		if !errors.As(err, &ce) || !ce.CME.Means(code) {
			t.Errorf("%s: %v, want +CME ERROR %d", cmd, err, code)
		}
	}
}

func TestSessionCallsGarbageGarbage(t *testing.T) {
	t.Parallel()
	s, _ := session(t, func(string) []string { return []string{"\x80\xfe\x13\x99\r\n\xf0\xf1"} })
	_, err := s.Do(context.Background(), "AT")
	var ge *GarbageError
	if !errors.As(err, &ge) || ge.Count != 6 {
		t.Fatalf("%v, want a GarbageError counting 6 bytes", err)
	}
}

func TestSessionReportsATruncatedAnswer(t *testing.T) {
	t.Parallel()
	s, _ := session(t, func(string) []string { return []string{"\r\n+CSQ: 2"} })
	_, err := s.Do(context.Background(), "AT+CSQ")
	var te *TimeoutError
	if !errors.As(err, &te) || te.Partial != "+CSQ: 2" || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("%v, want a truncated answer naming +CSQ: 2", err)
	}
}

// Two silent commands make the modem mute: the next commands are not sent
// at all, so a hung modem costs two timeouts, not one per command.
func TestSessionStopsWaitingOnAMuteModem(t *testing.T) {
	t.Parallel()
	answered := 0
	s, port := session(t, func(string) []string {
		answered++
		if answered > 1 {
			return nil
		}
		return []string{"\r\nOK\r\n"}
	})
	ctx := context.Background()
	if _, err := s.Do(ctx, "AT"); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"AT+CSQ", "AT+CESQ"} {
		var te *TimeoutError
		if _, err := s.Do(ctx, cmd); !errors.As(err, &te) || te.Partial != "" {
			t.Fatalf("%s: %v, want no answer", cmd, err)
		}
	}
	_, err := s.Do(ctx, "AT+COPS?")
	var me *MuteError
	if !errors.As(err, &me) || me.LastAnswered != "AT" || !s.Mute() {
		t.Fatalf("%v, want mute after AT", err)
	}
	if len(port.got) != 3 {
		t.Fatalf("sent %q; a mute modem gets nothing more", port.got)
	}
}

func TestSessionSaysWhenThePortCloses(t *testing.T) {
	s, _ := session(t, func(string) []string { return []string{"\r\n+CSQ: 21,", "<EOF>"} })
	_, err := s.Do(context.Background(), "AT+CSQ")
	var ioe *IOError
	if !errors.As(err, &ioe) || !errors.Is(err, io.EOF) {
		t.Fatalf("%v, want an IOError wrapping EOF", err)
	}
	if _, err := s.Do(context.Background(), "AT"); !errors.As(err, &ioe) {
		t.Fatalf("after the port failed: %v", err)
	}
}

func TestSessionNeverShowsThePIN(t *testing.T) {
	s, _ := session(t, func(cmd string) []string { return []string{cmd + "\r", "\r\n+CME ERROR: incorrect password\r\n"} })
	a, err := s.DoSecret(context.Background(), `AT+CPIN="4711"`, "4711")
	if err == nil {
		t.Fatal("no error for a refused PIN")
	}
	for _, text := range []string{a.Command, a.Raw, err.Error(), strings.Join(a.Lines, " ")} {
		if strings.Contains(text, "4711") {
			t.Errorf("the PIN shows in %q", text)
		}
	}
	for _, e := range s.Transcript() {
		if strings.Contains(e.Command+e.Answer+e.Error, "4711") {
			t.Errorf("the PIN shows in the transcript: %+v", e)
		}
	}
}

func TestSessionRefusesSettersWithoutSendingThem(t *testing.T) {
	s, port := session(t, func(string) []string { return []string{"\r\nOK\r\n"} })
	for _, cmd := range []string{`AT+CGDCONT=1,"IP","internet"`, "AT+COPS=0", "AT+CFUN=1", "AT+CGACT=1,1", "AT&W", "ATZ", "AT+CPIN=\"1234\",\"5678\""} {
		if _, err := s.Do(context.Background(), cmd); !errors.Is(err, ErrNotReadOnly) {
			t.Errorf("%s: %v, want ErrNotReadOnly", cmd, err)
		}
	}
	if port.bytes != 0 {
		t.Fatalf("%d bytes reached the port", port.bytes)
	}
}

func TestReadOnlyCommands(t *testing.T) {
	for _, cmd := range []string{"AT", "ATE0", "ATE1", "ATI", "AT+CMEE=2", "AT+CMEE?", "AT+CSQ", "AT+CESQ", "AT+CEREG?",
		"AT+COPS?", "AT+CGDCONT?", "AT+CGDCONT=?", "AT+CGPADDR", "AT+CGPADDR=1", `AT+CPIN="1234"`, "AT+CPIN=12345678",
		"AT+CPINR", `AT+CPINR="SIM PIN"`, `AT+QPINC="SC"`, "AT+CRSM=176,12258,0,0,10", "AT!GSTATUS?", "AT#RFSTS", "at+csq"} {
		if !ReadOnly(cmd) {
			t.Errorf("%s is read-only", cmd)
		}
	}
	for _, cmd := range []string{"", "AT&W", "AT&F", "ATZ", "ATD*99#", "ATH", "AT+CFUN=1,1", "AT+COPS=?", "AT+COPS=1,2,\"00101\"",
		`AT+CGDCONT=1,"IP","m2m.example"`, "AT+CGACT=1,1", "AT+CMEE=3", `AT+CPIN="12345678","1234"`, "AT+CPIN=12",
		"AT+CRSM=214,28539,0,0,3,\"FFFFFF\"", "AT+QPOWD", "AT!RESET", "AT+CSQ;+CFUN=0", "AT+CSQ\rAT&W", "AT+QCFG=\"nwscanmode\",3"} {
		if ReadOnly(cmd) {
			t.Errorf("%q changes the modem: must be refused", cmd)
		}
	}
}

// The device vanishing mid-probe (USB unplugged, the modem rebooting) is
// an I/O error, the probe's Err (exit 3): the check it hit fails saying so
// and the rest are skipped.
func TestProbeSaysWhenTheModemVanishes(t *testing.T) {
	tr := readTranscript(t, filepath.Join("testdata", "transcripts", "generic.txt"))
	port := newScripted(func(cmd string) []string {
		if cmd == "AT+CSQ" {
			return []string{"\r\n+CS", "<EOF>"}
		}
		out := ""
		lines, ok := tr.answers[cmd]
		if !ok {
			lines = []string{"ERROR"}
		}
		for _, l := range lines {
			out += "\r\n" + l + "\r\n"
		}
		return []string{out}
	})
	defer port.Close()
	r := Probe(context.Background(), Options{Port: port, Target: "/dev/ttyUSB2", Timeout: 3 * time.Second})
	var ioe *IOError
	if !errors.As(r.Err, &ioe) || statuses(r) != "ok ok failed skipped skipped skipped" || !strings.Contains(r.Verdict, "the port failed") {
		t.Fatalf("err %v, checks %q, verdict %q", r.Err, statuses(r), r.Verdict)
	}
}
