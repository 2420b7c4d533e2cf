package main

import (
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
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
