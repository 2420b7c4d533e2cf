package mqtt_test

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/probe/mqtt"
)

// silentPort returns a loopback address whose SYNs go unanswered: a socket
// listening with a backlog of 0 whose accept queue is already full makes
// Linux drop new SYNs, exactly as a firewall that drops packets does.
func silentPort(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	filled := 0
	for i := 0; i < 8; i++ {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			break
		}
		filled++
		t.Cleanup(func() { c.Close() })
	}
	if filled == 0 || filled == 8 {
		// Linux drops SYNs beyond a full accept queue: a kernel that does
		// not cannot show this case, which CI must not pass silently.
		testenv.Missing(t, "cannot make a silent port here (%d connections accepted by the kernel)", filled)
	}
	return addr
}

// Each case sets up what it needs inside its own subtest, so one case that
// cannot run here skips only itself.
func TestCheckTellsTheNetworkFailuresApart(t *testing.T) {
	cases := []struct {
		name, step, result string
		broker             func(t *testing.T) string
	}{
		{"dropped", mqtt.CheckTCP, "timed_out", func(t *testing.T) string { return "mqtt://" + silentPort(t) }},
		{"no route", mqtt.CheckTCP, "no_route", func(t *testing.T) string {
			testenv.RequireNetns(t) // only lo, no routes: 192.0.2.1 has none
			return "mqtt://192.0.2.1:1883"
		}},
		{"unknown host", mqtt.CheckDNS, "", func(*testing.T) string { return "mqtt://no-such-broker.invalid:1883" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			broker := tc.broker(t)
			start := time.Now()
			r := runCheck(t, mqtt.CheckOptions{Options: mqtt.Options{Broker: broker}, Timeout: time.Second})
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s with a 1s step timeout", d)
			}
			c := check(t, r, tc.step)
			if c.Status != report.Failed {
				t.Fatalf("%s: %s, want failed", tc.step, c.Status)
			}
			if tc.result != "" && c.Evidence["result"] != tc.result {
				t.Errorf("%s result %v, want %s", tc.step, c.Evidence["result"], tc.result)
			}
			if r.FirstFailure == nil || r.FirstFailure.ID != tc.step || r.ExitCode(false) != 1 {
				t.Errorf("first failure %+v", r.FirstFailure)
			}
			expect(t, r, map[string]report.Status{mqtt.CheckConnect: report.Skipped, mqtt.CheckWill: report.Skipped})
		})
	}
}
