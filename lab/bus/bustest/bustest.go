// Package bustest starts the lab's simulated RS-485 bus for the tests of
// the packages that talk to it (probe/modbus, cmd/ectool): a lab bus with a
// pseudo-terminal a test opens like a USB adapter. It lives apart from
// lab/bus so that package's own tests do not import what imports it.
package bustest

import (
	"runtime"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab/bus"
)

// StartPTY runs the lab bus scenario (changed by each tweak, in order) and
// returns it with a PTY a scan opens like a USB adapter; both close when
// the test ends. Where the lab has no PTYs (other than Linux and macOS) the
// test does not apply; a PTY that cannot be opened is a missing peer.
func StartPTY(t testing.TB, scenario string, tweak ...func(*bus.Config)) (*bus.Bus, *bus.PTY) {
	t.Helper()
	cfg, err := bus.Scenario(scenario)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tweak {
		f(&cfg)
	}
	b, err := bus.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		testenv.NotApplicable(t, "the lab bus has PTYs on Linux and macOS only (%s)", runtime.GOOS)
	}
	pty, err := b.OpenPTY("")
	if err != nil {
		testenv.Missing(t, "no PTY for the lab bus: %v", err)
	}
	t.Cleanup(func() { pty.Close() })
	return b, pty
}
