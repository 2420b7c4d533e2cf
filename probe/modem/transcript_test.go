package modem

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// transcript is a golden modem session (testdata/transcripts).
type transcript struct {
	headers map[string][]string
	answers map[string][]string // command -> answer lines, final last
	order   []string
}

func readTranscript(t *testing.T, path string) *transcript {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := &transcript{headers: map[string][]string{}, answers: map[string][]string{}}
	cmd := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# "):
			k, v, _ := strings.Cut(line[2:], ":")
			tr.headers[k] = append(tr.headers[k], strings.TrimSpace(v))
		case strings.HasPrefix(line, "> "):
			cmd = line[2:]
			tr.order = append(tr.order, cmd)
			tr.answers[cmd] = nil
		case strings.HasPrefix(line, "<"):
			tr.answers[cmd] = append(tr.answers[cmd], strings.TrimPrefix(strings.TrimPrefix(line, "<"), " "))
		case line == "":
		default:
			t.Fatalf("%s: line %q is not a header, a command or an answer", path, line)
		}
	}
	return tr
}

// replay is a port answering from a transcript: every command it lists
// with its answer, any other with ERROR, each line as <CR><LF>line<CR><LF>.
type replay struct {
	tr   *transcript
	echo bool
	pr   *io.PipeReader
	pw   *io.PipeWriter
	mu   sync.Mutex
	in   []byte
	sent []string
}

func newReplay(tr *transcript) *replay {
	pr, pw := io.Pipe()
	return &replay{tr: tr, echo: len(tr.headers["echo"]) > 0 && tr.headers["echo"][0] == "on", pr: pr, pw: pw}
}

func (p *replay) Read(b []byte) (int, error) { return p.pr.Read(b) }

func (p *replay) Write(b []byte) (int, error) {
	for _, c := range b {
		if c != '\r' {
			p.in = append(p.in, c)
			continue
		}
		cmd := string(p.in)
		p.in = p.in[:0]
		p.mu.Lock()
		p.sent = append(p.sent, cmd)
		p.mu.Unlock()
		var out strings.Builder
		if p.echo {
			out.WriteString(cmd + "\r")
		}
		lines, ok := p.tr.answers[cmd]
		if !ok {
			lines = []string{"ERROR"}
		}
		for _, l := range lines {
			out.WriteString("\r\n" + l + "\r\n")
		}
		if _, err := p.pw.Write([]byte(out.String())); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

func (p *replay) Close() error { return p.pw.Close() }

var expectKey = regexp.MustCompile(`(?:^|\s)([a-z_.]+)(~?=)`)

// expectations reads "key=value" pairs (values may hold spaces).
func expectations(lines []string) [][3]string {
	var out [][3]string
	for _, l := range lines {
		idx := expectKey.FindAllStringSubmatchIndex(l, -1)
		for i, m := range idx {
			end := len(l)
			if i+1 < len(idx) {
				end = idx[i+1][0]
			}
			out = append(out, [3]string{l[m[2]:m[3]], l[m[4]:m[5]], strings.TrimSpace(l[m[5]:end])})
		}
	}
	return out
}

// field reads a Result fact named as the transcripts' expect lines name it.
func field(r *Result, key string) string {
	f := func(p *float64) string {
		if p == nil {
			return "<nil>"
		}
		return fmt.Sprintf("%g", *p)
	}
	sim, sig, reg, pdp := r.SIM, r.Signal, r.Registration, r.PDP
	if sim == nil {
		sim = &SIMInfo{}
	}
	if sig == nil {
		sig = &SignalInfo{}
	}
	if reg == nil {
		reg = &RegInfo{}
	}
	if pdp == nil {
		pdp = &PDPInfo{DataCID: -1}
	}
	for _, c := range r.Checks {
		if c.ID == key {
			return string(c.Status)
		}
	}
	switch key {
	case "dialect":
		return r.Modem.Dialect
	case "iccid":
		return sim.ICCID
	case "iccid_command":
		return sim.ICCIDCommand
	case "imsi":
		return sim.IMSI
	case "sim_state":
		return sim.State.Code
	case "pin_left", "puk_left":
		if sim.Attempts == nil {
			return "<nil>"
		}
		return fmt.Sprint(map[string]int{"pin_left": sim.Attempts.PIN, "puk_left": sim.Attempts.PUK}[key])
	case "rssi_dbm":
		return f(sig.RSSIdBm)
	case "rsrp_dbm":
		return f(sig.RSRPdBm)
	case "rsrq_db":
		return f(sig.RSRQdB)
	case "sinr_db":
		return f(sig.SINRdB)
	case "lte_command":
		return sig.LTECommand
	case "registered":
		return fmt.Sprint(reg.Registered)
	case "roaming":
		return fmt.Sprint(reg.Roaming)
	case "tech":
		return reg.Tech
	case "reject_cause":
		if reg.EPS == nil {
			return "<nil>"
		}
		return fmt.Sprint(reg.EPS.RejectCause)
	case "operator":
		if r.Operator == nil {
			return "<nil>"
		}
		return r.Operator.Name
	case "data_cid":
		return fmt.Sprint(pdp.DataCID)
	case "address":
		for _, x := range pdp.Contexts {
			if x.CID == pdp.DataCID && len(x.Addresses) > 0 {
				return x.Addresses[0]
			}
		}
		return "<none>"
	case "last_error":
		return pdp.LastError
	case "echo_was_on":
		return fmt.Sprint(r.Port.EchoWasOn)
	case "cmee_was":
		return fmt.Sprint(r.Port.CMEEWas)
	case "verdict":
		return r.Verdict
	}
	return "<unknown key " + key + ">"
}

// Every vendor's golden transcript gives the probe what its expect lines
// say, names its source and says whether it was checked on a real modem.
func TestGoldenTranscriptPerDialect(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "transcripts", "*.txt"))
	dialects := map[string]bool{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			tr := readTranscript(t, file)
			if len(tr.headers["source"]) != 1 || len(tr.headers["source"][0]) < 20 {
				t.Errorf("no source: header naming the manual")
			}
			if v := tr.headers["verified"]; len(v) != 1 || v[0] != "false" && !strings.Contains(v[0], "20") {
				t.Errorf("verified: %q; want false, or the modem, firmware and date it was checked on", v)
			}
			port := newReplay(tr)
			defer port.Close()
			r := Probe(context.Background(), Options{Port: port, Target: file, Timeout: 2 * time.Second, ExpectedAPN: "m2m.example"})
			for _, e := range expectations(tr.headers["expect"]) {
				got := field(r, e[0])
				if e[1] == "=" && got != e[2] || e[1] == "~=" && !strings.Contains(got, e[2]) {
					t.Errorf("%s: got %q, want %s %q", e[0], got, e[1], e[2])
				}
			}
			dialects[r.Modem.Dialect] = true
			for _, cmd := range port.sent {
				if !ReadOnly(cmd) {
					t.Errorf("the probe sent %q, which is not read-only", cmd)
				}
			}
			if t.Failed() {
				rep := report.New("probe modem", file, nil)
				r.Report(rep)
				for _, c := range rep.Checks {
					t.Logf("%s %s %v %s", c.ID, c.Status, c.Evidence, c.Hint)
				}
				t.Logf("sent: %q", port.sent)
			}
		})
	}
	for _, d := range Dialects {
		if !dialects[d] {
			t.Errorf("no golden transcript for the %s dialect", d)
		}
	}
}
