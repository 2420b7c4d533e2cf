package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// DefaultTimeout is how long Session waits for each command's final result
// when Options.Timeout is zero. Modems answer queries in well under a
// second; +COPS? and +CPIN after a PIN can take a few.
const DefaultTimeout = 3 * time.Second

// muteAfter is how many commands in a row may go unanswered before the
// session calls the modem mute and stops waiting on it.
const muteAfter = 2

// Answer is what a modem sent back to one command.
type Answer struct {
	// Command is the command as shown (a PIN is masked).
	Command string
	// Lines are the information lines: echo, URCs and the final result
	// taken out.
	Lines []string
	// Final is the final result code: OK, ERROR, +CME ERROR: ..., ...
	Final string
	// URCs are unsolicited result codes that arrived amid the answer.
	URCs []string
	// Echo is true when the modem echoed the command (ATE1).
	Echo bool
	// Raw is every byte received for the command, escaped for reading.
	Raw      string
	Duration time.Duration
}

// OK reports whether the final result was OK.
func (a *Answer) OK() bool { return a != nil && a.Final == "OK" }

// Words is the answer on one line, for evidence: information lines, then
// the final result ("+CSQ: 21,99 | OK").
func (a *Answer) Words() string {
	if a == nil {
		return ""
	}
	parts := append(append([]string{}, a.Lines...), a.Final)
	return strings.Join(parts, " | ")
}

// Exchange is one command and its answer in the session's transcript.
type Exchange struct {
	Command    string   `json:"command"`
	Answer     string   `json:"answer"`
	URCs       []string `json:"urcs,omitempty"`
	Error      string   `json:"error,omitempty"`
	DurationMS float64  `json:"duration_ms"`
}

// CommandError is a command the modem answered with ERROR, +CME ERROR or
// +CMS ERROR.
type CommandError struct {
	Command string
	Final   string
	CME     *CMEError // nil for a plain ERROR
}

func (e *CommandError) Error() string {
	if e.CME != nil {
		return fmt.Sprintf("%s: %v", e.Command, e.CME)
	}
	return fmt.Sprintf("%s: %s (the modem does not say why)", e.Command, e.Final)
}

// TimeoutError is a command that got no final result in time. Partial is
// what arrived (a truncated answer) or "" when nothing did.
type TimeoutError struct {
	Command string
	Timeout time.Duration
	Partial string
}

func (e *TimeoutError) Error() string {
	if e.Partial != "" {
		return fmt.Sprintf("truncated answer to %s: got %q and no final result (OK or ERROR) within %s", e.Command, e.Partial, e.Timeout)
	}
	return fmt.Sprintf("no answer to %s within %s", e.Command, e.Timeout)
}

// GarbageError is an answer made of bytes that are not AT text: a serial
// line at the wrong baud rate, or a port that is not the AT port (GPS NMEA
// at another rate, a diagnostics port).
type GarbageError struct {
	Command string
	Bytes   []byte // up to the first 16 bytes received
	Count   int
}

func (e *GarbageError) Error() string {
	return fmt.Sprintf("%s: the answer is %d bytes that are not AT text (% X ...)", e.Command, e.Count, e.Bytes)
}

// MuteError is a command not sent because the modem stopped answering.
type MuteError struct {
	Command string
	// LastAnswered is the last command the modem answered ("" for none).
	LastAnswered string
}

func (e *MuteError) Error() string {
	if e.LastAnswered == "" {
		return fmt.Sprintf("%s not sent: the modem answers nothing", e.Command)
	}
	return fmt.Sprintf("%s not sent: the modem stopped answering after %s", e.Command, e.LastAnswered)
}

// IOError is the port failing under the session: the device vanished (USB
// unplugged, the modem rebooting) or the TCP connection closed.
type IOError struct {
	Command string
	Err     error
}

func (e *IOError) Error() string {
	return fmt.Sprintf("the port failed during %s: %v", e.Command, e.Err)
}

func (e *IOError) Unwrap() error { return e.Err }

// ErrNotReadOnly is a command Session refuses to send: it would change the
// modem's configuration.
var ErrNotReadOnly = errors.New("refused: the command would change the modem's settings (the probe is read-only)")

// Session talks AT over a port: one command at a time, each with its own
// deadline. It tolerates echo, URCs amid answers and answers split into
// many reads; garbage, truncated answers and silence end in an error, never
// a hang.
type Session struct {
	w       io.Writer
	timeout time.Duration
	now     func() time.Time

	chunks  chan []byte
	readErr chan error
	done    chan struct{}
	closed  bool
	ioErr   error

	buf          []byte
	misses       int
	lastAnswered string
	mute         bool
	log          []Exchange
}

// NewSession starts reading port. timeout bounds each command (0:
// DefaultTimeout); now may be nil. Close stops the reader; the caller
// closes the port, which unblocks a read in progress.
func NewSession(port io.ReadWriter, timeout time.Duration, now func() time.Time) *Session {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if now == nil {
		now = time.Now
	}
	s := &Session{w: port, timeout: timeout, now: now,
		chunks: make(chan []byte, 64), readErr: make(chan error, 1), done: make(chan struct{})}
	go s.read(port)
	return s
}

func (s *Session) read(r io.Reader) {
	for {
		b := make([]byte, 256)
		n, err := r.Read(b)
		if n > 0 {
			select {
			case s.chunks <- b[:n]:
			case <-s.done:
				return
			}
		}
		if err != nil {
			s.readErr <- err
			return
		}
		// A serial port with a read timeout returns 0, nil: look whether
		// the session is over, then read on.
		select {
		case <-s.done:
			return
		default:
		}
	}
}

// Close stops the session's reader.
func (s *Session) Close() {
	if !s.closed {
		s.closed = true
		close(s.done)
	}
}

// Timeout is the per-command deadline.
func (s *Session) Timeout() time.Duration { return s.timeout }

// Mute reports whether the modem stopped answering.
func (s *Session) Mute() bool { return s.mute }

// LastAnswered is the last command the modem answered ("" for none).
func (s *Session) LastAnswered() string { return s.lastAnswered }

// Transcript is every command sent and what came back, in order.
func (s *Session) Transcript() []Exchange { return append([]Exchange(nil), s.log...) }

// Do sends cmd (without the trailing CR) and waits for its final result.
// The answer's information lines are those that start with the command's
// own prefix ("+CSQ:" for AT+CSQ) or with one of also, or carry no prefix
// at all; other "+XXX:" lines are URCs. A final ERROR returns the answer
// and a *CommandError.
func (s *Session) Do(ctx context.Context, cmd string, also ...string) (*Answer, error) {
	return s.do(ctx, cmd, "", also)
}

// DoSecret is Do for a command carrying a secret (a PIN): the secret never
// appears in the answer, the transcript or an error.
func (s *Session) DoSecret(ctx context.Context, cmd, secret string) (*Answer, error) {
	return s.do(ctx, cmd, secret, nil)
}

func (s *Session) do(ctx context.Context, cmd, secret string, also []string) (*Answer, error) {
	shown := cmd
	if secret != "" {
		shown = strings.ReplaceAll(cmd, secret, "****")
	}
	a := &Answer{Command: shown}
	if !ReadOnly(cmd) {
		return a, s.record(a, fmt.Errorf("%s: %w", shown, ErrNotReadOnly))
	}
	if err := ctx.Err(); err != nil {
		return a, s.record(a, err)
	}
	if s.ioErr != nil {
		return a, s.record(a, &IOError{Command: shown, Err: s.ioErr})
	}
	if s.mute {
		return a, s.record(a, &MuteError{Command: shown, LastAnswered: s.lastAnswered})
	}
	s.flushBetween()
	start := s.now()
	if _, err := io.WriteString(s.w, cmd+"\r"); err != nil {
		s.ioErr = err
		return a, s.record(a, &IOError{Command: shown, Err: err})
	}
	err := s.collect(ctx, cmd, secret, prefixes(cmd, also), a)
	a.Duration = s.now().Sub(start)
	return a, s.record(a, err)
}

// collect reads until cmd's final result, the deadline, or an error.
func (s *Session) collect(ctx context.Context, cmd, secret string, accept []string, a *Answer) error {
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	var raw, garbage []byte
	garbageN := 0
	for {
		for {
			line, ok := s.nextLine()
			if !ok {
				break
			}
			text := strings.TrimSpace(string(line))
			switch {
			case text == "":
			case !printable(text):
				garbageN += len(line)
				if len(garbage) < 16 {
					garbage = append(garbage, line[:min(len(line), 16-len(garbage))]...)
				}
			case strings.EqualFold(text, cmd):
				a.Echo = true
			case isFinal(text):
				a.Final = text
				a.Raw = escape(raw, secret)
				s.misses, s.lastAnswered = 0, a.Command
				if text == "OK" {
					return nil
				}
				ce := &CommandError{Command: a.Command, Final: text}
				ce.CME, _ = parseCMEError(text)
				return ce
			case isURC(text, accept):
				a.URCs = append(a.URCs, text)
			default:
				a.Lines = append(a.Lines, text)
			}
		}
		select {
		case b := <-s.chunks:
			s.buf = append(s.buf, b...)
			raw = append(raw, b...)
		case err := <-s.readErr:
			s.ioErr = err
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("the other end closed the connection (%w)", err)
			}
			return &IOError{Command: a.Command, Err: err}
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			pending := s.buf
			s.buf = nil
			a.Raw = escape(raw, secret)
			if !printable(string(pending)) {
				garbageN += len(pending)
				garbage = append(garbage, pending[:min(len(pending), max(0, 16-len(garbage)))]...)
			}
			s.miss()
			if garbageN > 0 {
				return &GarbageError{Command: a.Command, Bytes: garbage, Count: garbageN}
			}
			partial := strings.TrimSpace(strings.Join(append(append([]string{}, a.Lines...), string(pending)), " "))
			if secret != "" {
				partial = strings.ReplaceAll(partial, secret, "****")
			}
			return &TimeoutError{Command: a.Command, Timeout: s.timeout, Partial: partial}
		}
	}
}

func (s *Session) miss() {
	s.misses++
	if s.misses >= muteAfter {
		s.mute = true
	}
}

// flushBetween drops what arrived between commands (URCs, late bytes of a
// previous answer) so it is not taken for the next answer.
func (s *Session) flushBetween() {
	for {
		select {
		case b := <-s.chunks:
			s.buf = append(s.buf, b...)
			continue
		default:
		}
		break
	}
	s.buf = s.buf[:0]
}

// nextLine takes one line (ended by CR or LF) off the buffer.
func (s *Session) nextLine() ([]byte, bool) {
	for i, c := range s.buf {
		if c == '\r' || c == '\n' {
			line := append([]byte(nil), s.buf[:i]...)
			s.buf = s.buf[i+1:]
			return line, true
		}
	}
	return nil, false
}

func (s *Session) record(a *Answer, err error) error {
	e := Exchange{Command: a.Command, Answer: a.Raw, URCs: a.URCs, DurationMS: float64(a.Duration.Microseconds()) / 1000}
	if err != nil {
		e.Error = err.Error()
	}
	s.log = append(s.log, e)
	return err
}

// prefixes are the line prefixes that belong to cmd's answer.
func prefixes(cmd string, also []string) []string {
	c := strings.ToUpper(cmd)
	if len(c) > 2 && strings.HasPrefix(c, "AT") {
		c = c[2:]
	}
	if i := strings.IndexAny(c, "?="); i >= 0 {
		c = c[:i]
	}
	out := append([]string{}, also...)
	if len(c) > 1 && strings.ContainsRune("+^#!$%", rune(c[0])) {
		out = append(out, c+":")
	}
	return out
}

var finals = []string{"OK", "ERROR", "NO CARRIER", "NO DIALTONE", "BUSY", "NO ANSWER", "COMMAND NOT SUPPORT"}

func isFinal(text string) bool {
	for _, f := range finals {
		if text == f {
			return true
		}
	}
	_, cme := parseCMEError(text)
	return cme
}

// bareURCs are unsolicited codes without a prefix character.
var bareURCs = []string{"RING", "RDY", "+PBREADY", "PB DONE", "SMS DONE", "+PACSP0", "+PACSP1", "^SYSSTART", "POWERED DOWN"}

// isURC reports whether a line that is not part of the answer's own
// prefixes is an unsolicited result code: a "+XXX:"-style line of another
// command, or one of the bare codes modems send at any time.
func isURC(text string, accept []string) bool {
	for _, p := range accept {
		if _, ok := afterPrefix(text, p); ok {
			return false
		}
	}
	for _, u := range bareURCs {
		if strings.EqualFold(text, u) || strings.HasPrefix(strings.ToUpper(text), u+" ") {
			return true
		}
	}
	if !strings.ContainsRune("+^#!$%", rune(text[0])) {
		return false
	}
	colon := strings.IndexByte(text, ':')
	if colon < 2 {
		return false
	}
	for _, c := range text[1:colon] {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == ' ' || c == '-') {
			return false
		}
	}
	return true
}

// printable reports whether s is AT text: printable ASCII and tabs. Bytes
// above 0x7F are what a wrong baud rate produces; modems speak ASCII.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\t' && (c < 0x20 || c >= 0x7F) {
			return false
		}
	}
	return true
}

// escape shows raw bytes for reading: CR and LF as \r and \n, other bytes
// outside printable ASCII as \xNN; a secret is masked.
func escape(b []byte, secret string) string {
	var out strings.Builder
	for _, c := range b {
		switch {
		case c == '\r':
			out.WriteString(`\r`)
		case c == '\n':
			out.WriteString(`\n`)
		case c == '\t' || (c >= 0x20 && c < 0x7F):
			out.WriteByte(c)
		default:
			fmt.Fprintf(&out, `\x%02X`, c)
		}
	}
	s := out.String()
	if secret != "" {
		s = strings.ReplaceAll(s, secret, "****")
	}
	return s
}
