package report_test

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// A command builds its report check by check: a failed check names the
// next step, the checks that depend on it are skipped with the reason, and
// Finish names the first failure. The exit code follows from the checks.
func Example() {
	start := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	tick := start
	clock := func() time.Time { tick = tick.Add(2 * time.Millisecond); return tick }

	r := report.New("mqtt check", "mqtts://broker.example.com:8883", clock)
	r.Run("mqtt.dns", "the broker's name resolves", func(c *report.Check) {
		c.Evidence = map[string]any{"addresses": []string{"192.0.2.10"}}
	})
	r.Run("mqtt.tcp", "a TCP connection opens to the broker", func(c *report.Check) {
		c.Status = report.Failed
		c.Hint = "a firewall drops port 8883: ask for it to be opened"
	})
	r.Skip("mqtt.tls", "TLS handshake", "mqtt.tcp failed")
	r.Finish()

	fmt.Println("first failure:", r.FirstFailure.ID, "-", r.FirstFailure.Hint)
	fmt.Println("exit code:", r.ExitCode(false))
	enc := json.NewEncoder(os.Stdout)
	for _, c := range r.Checks {
		_ = enc.Encode(c)
	}
	// Output:
	// first failure: mqtt.tcp - a firewall drops port 8883: ask for it to be opened
	// exit code: 1
	// {"id":"mqtt.dns","title":"the broker's name resolves","status":"ok","evidence":{"addresses":["192.0.2.10"]},"duration_ms":2}
	// {"id":"mqtt.tcp","title":"a TCP connection opens to the broker","status":"failed","duration_ms":2,"hint":"a firewall drops port 8883: ask for it to be opened"}
	// {"id":"mqtt.tls","title":"TLS handshake","status":"skipped","duration_ms":0,"skipped_reason":"mqtt.tcp failed"}
}

// A warning fails the run only under --strict.
func ExampleReport_ExitCode() {
	r := report.New("mqtt check", "mqtt://127.0.0.1:1883", nil)
	r.Add(report.Check{ID: "mqtt.qos0", Title: "QoS 0 round trip", Status: report.Warning})
	r.Finish()
	fmt.Println(r.ExitCode(false), r.ExitCode(true))
	// Output: 0 1
}
