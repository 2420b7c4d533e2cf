package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
)

// jsonErrorCases are failures under -o json wherever it stands on the
// command line: each leaves exactly one JSON document on stdout, an error
// document ({"error": {"message", "hint", "exit_code"}}) unless the command
// already tells the failure in its own (report, stream line), and the words
// on stderr.
var jsonErrorCases = []struct {
	name        string
	args        []string
	code        int
	errorDoc    bool // stdout is an error document (else the command's own)
	inProcess   bool // only in-process (the binary would do real work)
	noJSONAsked bool
}{
	{name: "unknown command", args: []string{"-o", "json", "no-such-command"}, code: 2, errorDoc: true},
	{name: "unknown subcommand", args: []string{"mqtt", "publish", "-o", "json"}, code: 2, errorDoc: true},
	{name: "unknown flag before -o json", args: []string{"version", "--no-such-flag", "-o", "json"}, code: 2, errorDoc: true},
	{name: "unknown flag after -o json", args: []string{"-o", "json", "version", "--no-such-flag"}, code: 2, errorDoc: true},
	{name: "unknown shorthand before -ojson", args: []string{"version", "-Z", "-ojson"}, code: 2, errorDoc: true},
	{name: "wrong arg count", args: []string{"version", "extra-arg", "--output=json"}, code: 2, errorDoc: true},
	{name: "too many args", args: []string{"-vo", "json", "scan", "sniff", "a", "b"}, code: 2, errorDoc: true},
	{name: "bad flag value before -o json", args: []string{"scan", "/dev/ttyUSB0", "--timeout", "soon", "--output", "json"}, code: 2, errorDoc: true},
	{name: "bad -o value after -o json", args: []string{"--output", "json", "-o", "yaml", "version"}, code: 2, errorDoc: true},
	{name: "bad -o value JSON", args: []string{"-o", "JSON", "version"}, code: 2, errorDoc: true},
	{name: "missing flag value", args: []string{"-o=json", "mqtt", "pub", "-t"}, code: 2, errorDoc: true},
	{name: "command's usage error", args: []string{"mqtt", "pub", "-o", "json", "-b", "mqtt://127.0.0.1:1", "-u", "x",
		"--password-file", "/nonexistent/pw", "-t", "a", "-m", "x"}, code: 2, errorDoc: true},
	{name: "command cannot run", args: []string{"lab", "tour", "-o", "json"}, code: 3, errorDoc: true, inProcess: true},
	{name: "sub's stream ends with its own error line", args: []string{"mqtt", "sub", "-o", "json", "-b", "mqtt://127.0.0.1:1", "-t", "x"}, code: 1, errorDoc: true},
	{name: "pub's report tells the failure", args: []string{"mqtt", "pub", "-o", "json", "-b", "mqtt://127.0.0.1:1", "-t", "x", "-m", "x"}, code: 1},
	{name: "-o is a message, not a flag", args: []string{"mqtt", "pub", "-t", "x", "-m", "-o", "json"}, code: 2, noJSONAsked: true},
}

func TestErrorsUnderJSONAreJSONOnStdout(t *testing.T) {
	for _, tc := range jsonErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runMain(t, tc.args...)
			checkJSONError(t, tc.args, tc.code, tc.errorDoc, tc.noJSONAsked, code, out, errOut)
		})
	}
}

func TestErrorsUnderJSONAreJSONOnTheBinarysStdout(t *testing.T) {
	bin := testenv.Binary(t)
	for _, tc := range jsonErrorCases {
		if tc.inProcess {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = []string{"PATH=/usr/bin:/bin", "NO_COLOR=1"}
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			checkJSONError(t, tc.args, tc.code, tc.errorDoc, tc.noJSONAsked, code, out.String(), errOut.String())
		})
	}
}

func checkJSONError(t *testing.T, args []string, wantCode int, errorDoc, noJSON bool, code int, out, errOut string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("ectool %v: exit %d, want %d\nstdout %q\nstderr %q", args, code, wantCode, out, errOut)
	}
	if !strings.HasPrefix(errOut, "error: ") {
		t.Errorf("ectool %v: stderr %q does not start with the words 'error: '", args, errOut)
	}
	if noJSON {
		if out != "" {
			t.Errorf("ectool %v: JSON was not asked for, yet stdout is %q", args, out)
		}
		return
	}
	var docs []map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var d map[string]json.RawMessage
		err := dec.Decode(&d)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("ectool %v: stdout is not JSON: %v\n%s", args, err, out)
		}
		docs = append(docs, d)
	}
	if len(docs) != 1 {
		t.Fatalf("ectool %v: %d JSON documents on stdout, want 1\n%s", args, len(docs), out)
	}
	raw, ok := docs[0]["error"]
	if !errorDoc {
		if ok || docs[0]["checks"] == nil {
			t.Errorf("ectool %v: want the command's report alone on stdout, got %s", args, out)
		}
		return
	}
	var e struct {
		Message  string  `json:"message"`
		Hint     *string `json:"hint"`
		ExitCode *int    `json:"exit_code"`
	}
	if !ok || json.Unmarshal(raw, &e) != nil {
		t.Fatalf("ectool %v: stdout is not an error document: %s", args, out)
	}
	if e.Message == "" || e.Hint == nil || e.ExitCode == nil || *e.ExitCode != code {
		t.Errorf("ectool %v: error document %s: want message, hint and exit_code %d", args, raw, code)
	}
	if !strings.Contains(errOut, e.Message) {
		t.Errorf("ectool %v: stderr %q does not say %q", args, errOut, e.Message)
	}
}
