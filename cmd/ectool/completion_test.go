package main

import (
	"bytes"
	"context"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab/bus"
)

// completions parses the output of 'ectool __complete ...': the offered
// words (descriptions cut) and the directive.
func completions(t *testing.T, out string) ([]string, cobra.ShellCompDirective) {
	t.Helper()
	var words []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if d, ok := strings.CutPrefix(line, ":"); ok {
			n, err := strconv.Atoi(d)
			if err != nil {
				t.Fatalf("directive line %q", line)
			}
			return words, cobra.ShellCompDirective(n)
		}
		w, _, _ := strings.Cut(line, "\t")
		words = append(words, w)
	}
	t.Fatalf("no directive in %q", out)
	return nil, 0
}

func complete(t *testing.T, args ...string) ([]string, cobra.ShellCompDirective) {
	t.Helper()
	code, out, errOut := runBinary(t, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %v: exit %d: %s", args, code, errOut)
	}
	return completions(t, out)
}

func TestFlagsWithFixedValuesCompleteThemNeverFiles(t *testing.T) {
	var scenarios []string
	for _, s := range bus.Scenarios() {
		scenarios = append(scenarios, s.Name)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"scan", "/dev/ttyUSB0", "--parity", ""}, []string{"N", "E", "O"}},
		{[]string{"modbus", "read", "/dev/ttyUSB0", "--parity", ""}, []string{"N", "E", "O"}},
		{[]string{"scan", "/dev/ttyUSB0", "-o", ""}, []string{"text", "json"}},
		{[]string{"mqtt", "pub", "--output", ""}, []string{"text", "json"}},
		{[]string{"scan", "/dev/ttyUSB0", "--probe", ""}, []string{"fc03", "fc04", "fc01", "fc02", "fc11"}},
		{[]string{"lab", "--bus-scenario", ""}, scenarios},
		{[]string{"lab", "tour", "--bus-scenario", ""}, scenarios},
		{[]string{"modbus", "read", "/dev/ttyUSB0", "--order", ""}, []string{"auto", "ABCD", "CDAB", "BADC", "DCBA"}},
		{[]string{"modbus", "read", "/dev/ttyUSB0", "--table", ""}, []string{"holding", "input", "coil", "discrete"}},
		{[]string{"modbus", "read", "/dev/ttyUSB0", "--meter", ""}, []string{"sdm630"}},
		{[]string{"scan", "/dev/ttyUSB0", "--stop-bits", ""}, []string{"1", "2"}},
		{[]string{"mqtt", "sub", "--qos", ""}, []string{"0", "1", "2"}},
	} {
		words, dir := complete(t, c.args...)
		for _, w := range c.want {
			if !slices.Contains(words, w) {
				t.Errorf("%v: offers %v, not %q", c.args, words, w)
			}
		}
		if dir&cobra.ShellCompDirectiveNoFileComp == 0 {
			t.Errorf("%v: directive %d lets the shell offer files", c.args, dir)
		}
	}
}

func TestTargetAndBrokerCompleteTheirSchemes(t *testing.T) {
	words, dir := complete(t, "scan", "")
	for _, w := range []string{"rtu://", "tcp://", "rtuovertcp://", "sniff"} {
		if !slices.Contains(words, w) {
			t.Errorf("scan TARGET offers %v, not %q", words, w)
		}
	}
	if dir&cobra.ShellCompDirectiveNoFileComp == 0 || dir&cobra.ShellCompDirectiveNoSpace != 0 {
		t.Errorf("scan TARGET: directive %d; want no files, and a space after 'sniff'", dir)
	}
	words, dir = complete(t, "modbus", "read", "rtuo")
	if !slices.Equal(words, []string{"rtuovertcp://"}) || dir&cobra.ShellCompDirectiveNoSpace == 0 {
		t.Errorf("modbus read rtuo: %v, directive %d; want rtuovertcp:// and no space after it", words, dir)
	}
	words, dir = complete(t, "mqtt", "check", "-b", "mqtts")
	if !slices.Equal(words, []string{"mqtts://"}) || dir&cobra.ShellCompDirectiveNoSpace == 0 || dir&cobra.ShellCompDirectiveNoFileComp == 0 {
		t.Errorf("mqtt check -b mqtts: %v, directive %d; want mqtts://, no space, no files", words, dir)
	}
	words, dir = complete(t, "scan", "/dev/ttyUSB0", "")
	if len(words) != 0 || dir&cobra.ShellCompDirectiveNoFileComp == 0 {
		t.Errorf("scan after its TARGET offers %v (directive %d)", words, dir)
	}
}

// The serial devices come from /dev: the test gives the binary a /dev of
// its own (a tmpfs in a private mount namespace) holding an FTDI adapter
// with its by-id name, a CDC-ACM device, and a built-in UART that is no
// adapter of a technician's.
func TestTargetCompletesTheSerialDevicesPresent(t *testing.T) {
	if runtime.GOOS != "linux" {
		testenv.NotApplicable(t, "mount namespaces are Linux-only")
	}
	testenv.RequireRoot(t)
	unshare := testenv.Require(t, "unshare")
	const byID = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K1ABC-if00-port0"
	script := `set -e; mount -t tmpfs none /dev; mkdir -p /dev/serial/by-id
touch /dev/ttyUSB0 /dev/ttyACM3 /dev/ttyS0; ln -s ../../ttyUSB0 ` + byID + `
exec "$0" "$@"`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := func(args ...string) ([]string, cobra.ShellCompDirective) {
		cmd := exec.CommandContext(ctx, unshare, append([]string{"-m", "--propagation", "private", "sh", "-c", script,
			testenv.Binary(t), "__complete"}, args...)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, errOut.String())
		}
		return completions(t, out.String())
	}
	words, _ := run("scan", "")
	if want := []string{byID, "/dev/ttyUSB0", "/dev/ttyACM3"}; len(words) < 4 || !slices.Equal(words[1:4], want) {
		t.Errorf("scan TARGET offers %v; want sniff, then %v (by-id first), then the schemes", words, want)
	}
	if slices.Contains(words, "/dev/ttyS0") {
		t.Errorf("scan TARGET offers the built-in UART /dev/ttyS0: %v", words)
	}
	words, _ = run("modbus", "watch", "rtu:///dev/ttyA")
	if !slices.Equal(words, []string{"rtu:///dev/ttyACM3"}) {
		t.Errorf("modbus watch rtu:///dev/ttyA offers %v", words)
	}
	words, dir := run("probe", "modem", "--port", "/dev/ttyU")
	if !slices.Equal(words, []string{"/dev/ttyUSB0"}) || dir&cobra.ShellCompDirectiveNoFileComp == 0 {
		t.Errorf("probe modem --port /dev/ttyU offers %v (directive %d)", words, dir)
	}
	// A path that is no serial device (a simulator's pseudo-terminal) is
	// left to the shell's file names.
	if words, dir := run("scan", "/tmp/"); len(words) != 0 || dir != cobra.ShellCompDirectiveDefault {
		t.Errorf("scan /tmp/: %v, directive %d; want the shell's files", words, dir)
	}
}
