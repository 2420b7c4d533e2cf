package main

import (
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/probe/mqtt"
)

// --file - publishes the whole of stdin as one message, byte for byte:
// newlines, a NUL and a byte that is not UTF-8 included (mosquitto_pub -s).
func TestPubFileDashPublishesStdinAsOneMessage(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	payload := "line one\nline two\n\x00\xff\n"
	wait := mosquittoSub(t, b, "mqttv5", 1, "-t", "stdin/whole", "-F", "%t|%l|%x")
	out, errOut, code := run{args: []string{"mqtt", "pub", "-b", b.URL, "-t", "stdin/whole", "--file", "-", "-q", "1"}, stdin: payload}.exec(t)
	if code != 0 || !strings.Contains(out, "published 1 message(s)") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	want := "stdin/whole|" + strconv.Itoa(len(payload)) + "|" + hex.EncodeToString([]byte(payload))
	if got := wait(); len(got) != 1 || got[0] != want {
		t.Fatalf("mosquitto_sub got %q, want %q", got, want)
	}
	// An empty stdin is an empty message, as with mosquitto_pub -s.
	wait = mosquittoSub(t, b, "mqttv5", 1, "-t", "stdin/empty", "-F", "%t|%l")
	if out, errOut, code := (run{args: []string{"mqtt", "pub", "-b", b.URL, "-t", "stdin/empty", "--file", "-", "-q", "1"}}).exec(t); code != 0 {
		t.Fatalf("empty stdin: exit %d: %s %s", code, out, errOut)
	}
	if got := wait(); len(got) != 1 || got[0] != "stdin/empty|0" {
		t.Fatalf("empty stdin: mosquitto_sub got %q", got)
	}
	// --file - and --stdin-lines both read stdin: one or the other.
	if _, errOut, code := (run{args: []string{"mqtt", "pub", "-b", b.URL, "-t", "x", "--file", "-", "--stdin-lines"}, stdin: "a\n"}).exec(t); code != 2 || !strings.Contains(errOut, "exclude each other") {
		t.Fatalf("--file - with --stdin-lines: exit %d: %s", code, errOut)
	}
}

// sub -F prints each message through a mosquitto_sub -F template: topic,
// payload, retained flag, QoS, length, escapes and %I in local time with
// its zone (TZ set to a half-hour zone, so a UTC time cannot pass).
func TestSubFormatTemplateThroughTheBinary(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	t.Setenv("TZ", "Asia/Kolkata")
	mosquittoPub(t, b, "-t", "fmt/ret", "-m", "kept", "-r")
	wait := startSub(t, "-b", b.URL, "-t", "fmt/#", "-q", "1", "--count", "2", "--timeout", "20s", "-F", `%t|%p|%r|%q|%l|%I\t%%`)
	mosquittoPub(t, b, "-t", "fmt/live", "-m", "hello world", "-q", "1")
	out, errOut, code := wait()
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	lines := testenv.Lines(out)
	want := []string{"fmt/ret|kept|1|0|4|", "fmt/live|hello world|0|1|11|"}
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", out)
	}
	for i, l := range lines {
		rest, ok := strings.CutPrefix(l, want[i])
		stamp, pct, tab := strings.Cut(rest, "\t")
		if !ok || !tab || pct != "%" {
			t.Fatalf("line %d: %q, want %q then a time, a tab and %%", i, l, want[i])
		}
		when, err := time.Parse("2006-01-02T15:04:05.000Z07:00", stamp)
		if err != nil || !strings.HasSuffix(stamp, "+05:30") || time.Since(when).Abs() > time.Hour {
			t.Fatalf("line %d: %%I gave %q (%v): want local time with its zone, +05:30 here", i, stamp, err)
		}
	}

	// -F %p: the payload alone, as a script piping it on wants.
	wait = startSub(t, "-b", b.URL, "-t", "fmt/live", "--count", "1", "--timeout", "20s", "-F", "%p")
	mosquittoPub(t, b, "-t", "fmt/live", "-m", `{"p":1200}`)
	if out, errOut, code := wait(); code != 0 || out != "{\"p\":1200}\n" {
		t.Fatalf("-F %%p: exit %d: stdout %q, stderr %s", code, out, errOut)
	}
}

// -F with -o json, or a code -F does not know, is a usage error before
// connecting (the broker URL below has nothing behind it).
func TestSubFormatUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-F", "%p", "-o", "json"}, "-o json"},
		{[]string{"-F", "%t %z"}, "%z"},
		{[]string{"-F", `%p\q`}, `\q`},
		{[]string{"-F", "100%"}, "lone %"},
	} {
		args := append([]string{"sub", "-b", "mqtt://127.0.0.1:1", "-t", "x"}, c.args...)
		out, errOut, code := ectoolMQTT(t, args...)
		if code != 2 || !strings.Contains(out+errOut, c.want) {
			t.Errorf("%v: exit %d, want 2 naming %q: %s %s", c.args, code, c.want, out, errOut)
		}
	}
}

// Each -F code and escape renders as mosquitto_sub's does.
func TestSubFormatCodes(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 5, 123456789, time.UTC)
	d := mqtt.Delivery{Message: mqtt.Message{Topic: "a/b", Payload: []byte{'h', 'i', 0xff}, QoS: 2, Retain: true, Received: at,
		Properties: mqtt.Properties{ContentType: "text/plain", ResponseTopic: "re/ply"}}}
	for tmpl, want := range map[string]string{
		"%t %l %q %r":  "a/b 3 2 1",
		"%x|%X":        "6869ff|6869FF",
		"%U":           "1772366405.123456789",
		"%C %R":        "text/plain re/ply",
		`%%\t\n\\\0\e`: "%\t\n\\\x00\x1b",
		"plain text":   "plain text",
		"%p":           "hi\xff",
		"[%I]":         "[" + at.Local().Format("2006-01-02T15:04:05.000Z07:00") + "]",
		"%t%t":         "a/ba/b",
		"x%tx%px%lx":   "xa/bxhi\xffx3x",
		"%r%q/%r":      "12/1",
		"\\n%t\\n":     "\na/b\n",
		"%l%%%l":       "3%3",
		"%x%%":         "6869ff%",
		"%t\\t%p\\t%q": "a/b\thi\xff\t2",
	} {
		f, err := parseSubFormat(tmpl)
		if err != nil {
			t.Errorf("%q: %v", tmpl, err)
			continue
		}
		if got := f.render(&d); got != want {
			t.Errorf("%q: got %q, want %q", tmpl, got, want)
		}
	}
}

// The same -F template prints the same lines from ectool and from
// mosquitto_sub, the habit it serves (the codes both know, time aside).
func TestSubFormatMatchesMosquittoSub(t *testing.T) {
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{})
	const tmpl = `%t|%p|%r|%q|%l|%x|%X\t%%`
	mosquittoPub(t, b, "-t", "same/ret", "-m", "kept", "-r", "-q", "1")
	theirs := mosquittoSub(t, b, "mqttv5", 2, "-t", "same/#", "-q", "1", "-F", tmpl)
	ours := startSub(t, "-b", b.URL, "-t", "same/#", "-q", "1", "--count", "2", "--timeout", "20s", "-F", tmpl)
	mosquittoPub(t, b, "-t", "same/live", "-m", "a b=c", "-q", "1")
	out, errOut, code := ours()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got, want := strings.Join(testenv.Lines(out), "\n"), strings.Join(theirs(), "\n"); got != want {
		t.Fatalf("ectool:\n%s\nmosquitto_sub:\n%s", got, want)
	}
}
