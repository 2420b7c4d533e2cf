package modem

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// seedAnswers are the answer lines of the golden transcripts.
func seedAnswers(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "transcripts", "*.txt"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var answer []string
		for _, l := range strings.Split(string(b), "\n") {
			switch {
			case strings.HasPrefix(l, "<"):
				answer = append(answer, strings.TrimPrefix(strings.TrimPrefix(l, "<"), " "))
			case strings.HasPrefix(l, ">") && len(answer) > 0:
				f.Add(strings.Join(answer, "\r\n"))
				answer = nil
			}
		}
	}
	for _, s := range []string{"+CSQ: 99,99", "+CEREG: 3,3,\"00C3\",\"0000A13B\",7,0,15", `+CGPADDR: 1,"32.1.13.184.0.0.0.0.0.0.0.0.0.0.0.1"`,
		`+CRSM: 144,0,"98000101001032547628"`, "+UCGED: 2\r\n6,4,001,01\r\n6300,3,50,50,1a2b,1a2b3c4,162,0,ffff,ff,56,20", "+CME ERROR: 10", `+CGREG: 3,3,"61EF","7D58A3",2,"14",0,14`} {
		f.Add(s)
	}
}

// No answer, however mangled, makes a parser panic or loop.
func FuzzParsers(f *testing.F) {
	seedAnswers(f)
	f.Fuzz(func(t *testing.T, answer string) {
		ls := lines(answer)
		_, _ = ParseCPIN(ls)
		_, _ = ParseICCID(ls)
		_, _ = ParseCRSMICCID(ls)
		_, _ = ParsePINCount(ls)
		_, _ = ParseCSQ(ls)
		_, _ = ParseCESQ(ls)
		_, _ = ParseQCSQ(ls)
		_, _ = ParseGSTATUS(ls)
		_, _ = ParseUCGED(ls)
		_, _ = ParseRFSTS(ls)
		_, _ = ParseCEREG(ls)
		_, _ = ParseCGREG(ls)
		_, _ = ParseCREG(ls)
		_, _ = ParseCOPS(ls)
		_, _ = ParseCGDCONT(ls)
		_, _ = ParseCGACT(ls)
		_, _ = ParseCGPADDR(ls)
		_, _ = ParseCEER(ls)
		for _, l := range ls {
			_, _ = parseCMEError(l)
		}
	})
}

// Whatever bytes come back, the session returns within its deadline with
// an answer or a typed error, and never takes a URC or garbage for a
// final result it did not see.
func FuzzSessionAnswer(f *testing.F) {
	seedAnswers(f)
	f.Add("\x80\xfe\r\n\x00OK")
	f.Add("\r\n+CSQ: 2")
	f.Fuzz(func(t *testing.T, answer string) {
		port := newScripted(func(string) []string { return []string{answer} })
		s := NewSession(port, 20*time.Millisecond, nil)
		defer func() { s.Close(); port.Close() }()
		a, err := s.Do(context.Background(), "AT+CSQ")
		if err == nil && a.Final != "OK" {
			t.Fatalf("no error but final %q", a.Final)
		}
		if a.Final != "" && !strings.Contains(answer, a.Final) {
			t.Fatalf("final %q is not in the answer", a.Final)
		}
	})
}
