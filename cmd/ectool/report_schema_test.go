package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab"
)

// schemaCase is one command run with -o json and what its stdout must be:
// a report (def ""), a stream ("stream"), or the $def named.
type schemaCase struct {
	args  []string
	def   string
	codes []int // the exit codes it may end with
}

// TestEveryCommandWritesJSONTheSchemaDescribes runs every command of the
// tree with -o json against one lab site (broker, RS-485 bus, modem, the
// recording of its broker traffic) and validates stdout against
// docs/report.schema.json: one document, or a stream whose lines are
// records and whose last line ends it. A command the tree has and this
// test does not run fails it.
func TestEveryCommandWritesJSONTheSchemaDescribes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := testenv.PrivateDir(t)
	site, err := lab.Start(ctx, lab.Config{Dir: filepath.Join(dir, "lab"), Gateway: lab.GatewayConfig{Interval: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer site.Stop()
	ran := map[string]bool{}
	for _, c := range schemaCases(t, &site.Endpoints, dir) {
		code, out, errOut := runMain(t, append(c.args, "-o", "json")...)
		ran[commandOf(c.args)] = true
		if !containsInt(c.codes, code) {
			t.Errorf("ectool %s: exit %d, want one of %v\nstdout %s\nstderr %s", strings.Join(c.args, " "), code, c.codes, out, errOut)
			continue
		}
		validateOutput(t, c, code, []byte(out))
	}
	ran["capture"] = liveCaptureJSON(t, filepath.Join(dir, "live"))
	// The tour runs ectool binaries, so not in-process: its report is
	// validated by TestLabTourShowsEveryStepAsExpected.
	ran["lab tour"] = true
	for _, path := range runnableCommands(NewRootCmd(&App{IO: &Streams{}, Output: "text", Getenv: os.Getenv})) {
		if !ran[path] {
			t.Errorf("ectool %s is not run here: add a case, so its -o json output is held to docs/report.schema.json", path)
		}
	}
}

// validateOutput holds one run's stdout to its schema; a failed run may
// write an error document instead (a report tells its failure itself).
func validateOutput(t *testing.T, c schemaCase, code int, out []byte) {
	t.Helper()
	switch {
	case c.def == "stream":
		testenv.AssertStream(t, out)
	case bytes.HasPrefix(out, []byte(`{"error":`)):
		if code == 0 {
			t.Errorf("ectool %s: an error document with exit 0: %s", strings.Join(c.args, " "), out)
		}
		testenv.AssertSchema(t, "errorDocument", out)
	case c.def == "":
		testenv.AssertChecksDocumented(t, out)
	default:
		testenv.AssertSchema(t, c.def, out)
	}
}

func schemaCases(t *testing.T, ep *lab.Endpoints, dir string) []schemaCase {
	b := ep.Broker
	tech := b.User("tech")
	login := []string{"-b", b.MQTT, "-u", "tech", "--password-file", tech.PasswordFile}
	dead := fmt.Sprintf("mqtt://127.0.0.1:%d", testenv.FreePort(t))
	ring := ep.Capture.Dir
	ok, found, failed := []int{0}, []int{0, 1}, []int{1}
	with := func(args ...string) []string { return append(args, login...) }
	return []schemaCase{
		{[]string{"version"}, "version", ok},
		{[]string{"docs", "--dir", filepath.Join(dir, "docs")}, "docs", ok},
		{with("mqtt", "pub", "-t", "ectool/schema/a", "-m", "x", "-q", "1", "-r"), "", ok},
		{with("mqtt", "sub", "-t", "ectool/schema/#", "--retained-only", "--count", "1", "--timeout", "10s"), "stream", ok},
		{with("mqtt", "sub", "-t", "ectool/schema/#", "--retained-only", "--expect-seq", "--timeout", "10s"), "stream", failed},
		{[]string{"mqtt", "sub", "-b", dead, "-t", "x", "--timeout", "2s"}, "stream", failed},
		{with("mqtt", "clear-retained", "-t", "ectool/schema/#"), "", ok},
		{with("mqtt", "check", "--count", "1", "--qos-levels", "0,1"), "", found},
		{[]string{"scan", ep.Bus.RTUOverTCP, "--ids", "1-3", "--listen", "0", "--confirm", "1"}, "", found},
		{[]string{"scan", "sniff", ep.Bus.RTUOverTCP, "--duration", "500ms"}, "", found},
		{[]string{"scan", ep.Bus.RTUOverTCP, "--ids", "0"}, "errorDocument", []int{2}},
		{[]string{"modbus", "read", ep.Bus.ModbusTCP, "--unit", "1", "--reg", "40001", "--listen", "0"}, "", found},
		{[]string{"modbus", "write", ep.Bus.ModbusTCP, "--unit", "1", "--reg", "40001", "--value", "1", "--yes", "--listen", "0"}, "", found},
		{[]string{"modbus", "watch", ep.Bus.ModbusTCP, "--unit", "1", "--reg", "40001", "--polls", "2", "--every", "0", "--listen", "0"}, "stream", found},
		{[]string{"modbus", "profiles"}, "profiles", ok},
		{[]string{"probe", "modem", "--port", ep.Modem.TCP, "--apn", ep.Modem.ExpectedAPN}, "", found},
		{with("probe", "net", "--count", "1", "--timeout", "2s", "--mqtt"), "", []int{0, 1, 3}},
		{[]string{"capture", "ls", "--dir", ring}, "", ok},
		{[]string{"capture", "status", "--dir", ring}, "", found},
		{[]string{"capture", "export", "--dir", ring, "-w", filepath.Join(dir, "export.pcapng")}, "", found},
		{[]string{"capture", "inspect", ring}, "", found},
		{[]string{"capture", "inspect", ring, "--messages"}, "stream", found},
		{[]string{"capture", "--iface", "nosuch0", "--dir", filepath.Join(dir, "ring0")}, "errorDocument", []int{2, 3}},
		{[]string{"lab", "--duration", "10ms", "--no-bus", "--no-modem", "--no-capture"}, "lab", ok},
	}
}

// liveCaptureJSON runs `capture` on lo until its ring has a status file,
// stops it as Ctrl-C would, and validates what it wrote: its report, or
// (without CAP_NET_RAW, or off Linux) its error document.
func liveCaptureJSON(t *testing.T, dir string) bool {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"capture", "--iface", "lo", "--dir", dir, "--flush", "50ms", "-o", "json"},
			&Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	}()
	status := filepath.Join(dir, "status.json")
	deadline := time.Now().Add(30 * time.Second)
	code := -1
	for code < 0 && time.Now().Before(deadline) {
		select {
		case code = <-done:
		case <-time.After(20 * time.Millisecond):
			if _, err := os.Stat(status); err == nil {
				stop()
				code = <-done
			}
		}
	}
	switch code {
	case -1:
		t.Errorf("capture wrote no %s within 30s\nstderr %s", status, errOut.String())
	case 0:
		testenv.AssertChecksDocumented(t, out.Bytes())
	case ExitCannotRun:
		testenv.AssertSchema(t, "errorDocument", out.Bytes())
	default:
		t.Errorf("capture: exit %d\nstdout %s\nstderr %s", code, out.String(), errOut.String())
	}
	return true
}

// runnableCommands lists the command paths a person can run, as typed
// after "ectool" (help and completion aside).
func runnableCommands(root *cobra.Command) []string {
	var paths []string
	walkCommands(root, func(c *cobra.Command) {
		path := strings.TrimPrefix(c.CommandPath(), root.Name()+" ")
		switch {
		case c == root, !c.Runnable(), c.Annotations[groupOnly] != "":
		case path == "help", strings.HasPrefix(path, "completion"), strings.HasPrefix(path, "__"):
		default:
			paths = append(paths, path)
		}
	})
	sort.Strings(paths)
	return paths
}

// commandOf is the command path in args: the words before the first flag
// or argument that is not a subcommand.
func commandOf(args []string) string {
	root := NewRootCmd(&App{IO: &Streams{}, Output: "text", Getenv: os.Getenv})
	c, _, err := root.Find(args)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(c.CommandPath(), root.Name()+" ")
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
