package modem

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Command is one command line the modem received.
type Command struct {
	// Conn names the port and program: "tcp 127.0.0.1:40312", "pty".
	Conn string `json:"conn"`
	Line string `json:"line"`
}

// Modem is a simulated modem: one SIM and radio shared by every program
// that opens one of its ports; each program gets its own echo and error
// mode, as each of a real modem's USB ports does.
type Modem struct {
	cfg   Config
	iccid string
	imsi  string

	mu       sync.Mutex
	unlocked bool
	pinLeft  int
	pukLeft  int
	log      []Command
	logw     io.Writer
	closers  []io.Closer
	closed   bool
}

// New builds a modem; nothing listens until ServeTCP or OpenPTY.
func New(cfg Config) (*Modem, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &Modem{cfg: cfg, imsi: "001010123456789", pinLeft: 3, pukLeft: 10, unlocked: cfg.Scenario != "pin-locked"}
	base := "8900101000012345678" // MCC 001 (the test network), 19 digits
	m.iccid = base + luhn(base)
	return m, nil
}

// Config is the modem's configuration with defaults filled in.
func (m *Modem) Config() Config { return m.cfg }

// ICCID is the simulated SIM's ICCID.
func (m *Modem) ICCID() string { return m.iccid }

// SetLog writes every command received to w, one line each
// ("<conn> <command>"), as well as keeping it for Commands.
func (m *Modem) SetLog(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.logw = w
}

// Commands is every command line received so far, in order.
func (m *Modem) Commands() []Command {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Command(nil), m.log...)
}

// Close stops every port.
func (m *Modem) Close() error {
	m.mu.Lock()
	cs := m.closers
	m.closers, m.closed = nil, true
	m.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i].Close()
	}
	return nil
}

func (m *Modem) addCloser(c io.Closer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		c.Close()
		return fmt.Errorf("the lab modem is closed")
	}
	m.closers = append(m.closers, c)
	return nil
}

func (m *Modem) logCommand(conn, line string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = append(m.log, Command{Conn: conn, Line: line})
	if m.logw != nil {
		fmt.Fprintf(m.logw, "%s %s\n", conn, line)
	}
}

// muteAfter is how many commands the mute scenario answers per session.
const muteAfter = 10

// session is one program's conversation on a port.
type session struct {
	m         *Modem
	name      string
	write     func([]byte)
	echo      bool
	cmee      int
	seen      int // commands received
	in        []byte
	lastWasCR bool
}

func (m *Modem) newSession(name string, write func([]byte)) *session {
	return &session{m: m, name: name, write: write, echo: m.cfg.has("echo")}
}

// feed takes bytes the program sent and answers every complete command
// (ended by CR; a LF after it is ignored, a bare LF ends one too).
func (s *session) feed(b []byte) {
	for _, c := range b {
		switch {
		case c == '\n' && s.lastWasCR:
		case c == '\r' || c == '\n':
			line := strings.TrimSpace(string(s.in))
			s.in = s.in[:0]
			if line != "" {
				s.command(line)
			}
		default:
			if len(s.in) < 1024 {
				s.in = append(s.in, c)
			}
		}
		s.lastWasCR = c == '\r'
	}
}

func (s *session) command(line string) {
	s.m.logCommand(s.name, line)
	s.seen++
	cfg := s.m.cfg
	if cfg.Scenario == "mute" && s.seen > muteAfter {
		return
	}
	if s.echo {
		s.write([]byte(line + "\r"))
	}
	if cfg.Scenario == "garbage" {
		s.write(junk(s.seen))
		return
	}
	lines, final := s.answer(line)
	s.send(line, lines, final)
}

// send writes an answer the way the quirks say.
func (s *session) send(cmd string, lines []string, final string) {
	cfg := s.m.cfg
	if cfg.has("urc") {
		urc := s.urc()
		at := min(1, len(lines))
		lines = append(lines[:at], append([]string{urc}, lines[at:]...)...)
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("\r\n" + l + "\r\n")
	}
	b.WriteString("\r\n" + final + "\r\n")
	if cfg.has("urc") && s.seen%2 == 0 {
		b.WriteString("\r\n+CGEV: ME PDN ACT 1\r\n") // between answers
	}
	out := []byte(b.String())
	if !cfg.has("slow") {
		s.write(out)
		return
	}
	wait := 150 * time.Millisecond
	if strings.EqualFold(cmd, "AT+COPS?") {
		wait = 1200 * time.Millisecond // a real modem asks the network stack
	}
	time.Sleep(wait)
	half := len(out) / 2
	s.write(out[:half])
	time.Sleep(50 * time.Millisecond)
	s.write(out[half:])
}

// urc is the unsolicited code slipped into an answer: in turn one with the
// prefix of a registration answer (a parser must not take it for the
// answer) and one of another command.
func (s *session) urc() string {
	if s.seen%2 == 1 {
		st := s.m.net()
		return fmt.Sprintf(`+CEREG: %d,"1A2B","01A2B3C4",7`, st.stat)
	}
	return "+CGEV: ME PDN ACT 1"
}

// junk is what a modem at another baud rate looks like: bytes above 0x7F
// and control characters, in short "lines", the same for the same command
// number every run.
func junk(n int) []byte {
	x := uint32(n)*2654435761 + 12345
	out := make([]byte, 0, 40)
	for i := range 32 {
		x = x*1664525 + 1013904223
		c := byte(0x80 | x>>24&0x7F)
		if i%11 == 10 {
			c = '\n'
		}
		out = append(out, c)
	}
	return out
}

func luhn(digits string) string {
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if (len(digits)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return fmt.Sprint((10 - sum%10) % 10)
}
