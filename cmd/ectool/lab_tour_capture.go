package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ecdata/ectool/capture"
)

func init() { tourSteps = append(tourSteps, captureTourSteps...) }

// captureTourSteps show the lab's recording of its own broker: the ring
// `ectool capture` would keep on a gateway, and `capture inspect` reading
// it. They skip when the lab runs with --no-capture.
var captureTourSteps = []tourStep{
	{
		ID:    "tour.capture",
		Title: "The lab records its broker: a capture ring, live and fresh",
		Explain: "The lab writes every connection to its broker into a ring of pcapng files, as 'ectool capture' " +
			"does on a gateway: bounded on disk, flushed every second, with a lock and a status file. capture " +
			"status found a live writer and a fresh status; capture export cut the last 30 s out of the ring " +
			"(counted back from the newest packet, not from the clock) into one file Wireshark opens.",
		Run: func(ctx context.Context, t *tour) stepResult {
			dir, skip := labRing(t)
			if skip != "" {
				return stepResult{Skip: skip}
			}
			res := expectExit(t.ectool(ctx, "capture", "status", "--dir", dir), 0,
				map[string]string{capture.CheckRunning: "ok", capture.CheckFresh: "ok"})
			if res.Problem != "" {
				return res
			}
			out := filepath.Join(t.scratch, "tour-last-30s.pcapng")
			r := t.ectool(ctx, "capture", "export", "--dir", dir, "--since", "30s", "-w", out)
			if r.ExitCode != 0 {
				return stepResult{Problem: fmt.Sprintf("capture export exited %d, want 0", r.ExitCode), Hint: "the last 30 s of the ring hold the gateway's telemetry"}
			}
			m := exportedPackets.FindStringSubmatch(r.Stdout)
			if n, _ := strconv.Atoi(safeIndex(m, 1)); n == 0 {
				return stepResult{Problem: "capture export did not say it wrote packets", Hint: "the last 30 s of the ring hold the gateway's telemetry"}
			}
			return stepResult{Evidence: map[string]any{"exported_packets": safeIndex(m, 1)}}
		},
	},
	{
		ID:    "tour.inspect",
		Title: "Reading the recording: capture inspect explains a refused login",
		Explain: "The tour logged in with a wrong password on the plain listener, then let capture inspect read the " +
			"lab's ring (the last 30 s of it, that client's connections) without Wireshark and without --ports: " +
			"the ring names its listeners, so the ephemeral ports decode as MQTT, WebSocket or TLS. " +
			"inspect.connect failed, naming the client and the broker's reason 0x86 (bad user name or password): " +
			"the same diagnosis a ring on a gateway gives the morning after. Exit code 1.",
		Run: func(ctx context.Context, t *tour) stepResult {
			dir, skip := labRing(t)
			if skip != "" {
				return stepResult{Skip: skip}
			}
			wrong, err := t.writeScratch("wrong.password", "not-the-password\n")
			if err != nil {
				return stepResult{Problem: "cannot write the wrong password file: " + err.Error()}
			}
			const client = "tour-wrong-pw"
			pub := t.ectool(ctx, "mqtt", "pub", "-b", t.ep.Broker.MQTT, "-u", "tech", "--password-file", wrong,
				"--client-id", client, "-t", "ectool/tour/refused", "-m", "x")
			if pub.ExitCode != 1 {
				return stepResult{Problem: fmt.Sprintf("mqtt pub with a wrong password exited %d, want 1", pub.ExitCode)}
			}
			if err := waitRingFlushed(ctx, dir, time.Now()); err != nil {
				return stepResult{Problem: err.Error()}
			}
			// --client: the ring also holds the tour's other steps (the check
			// ladder's refusals among them).
			r := t.ectool(ctx, "capture", "inspect", "--since", "30s", "--client", client, t.scratch)
			res := expectExit(r, 1, map[string]string{"inspect.connect": "FAIL"})
			if res.Problem != "" {
				return res
			}
			if !strings.Contains(r.Stdout, `"client_id":"`+client+`"`) || !strings.Contains(r.Stdout, `"reason_code":134`) {
				return stepResult{Problem: "inspect.connect does not name " + client + " and reason 0x86 (134)", Evidence: res.Evidence}
			}
			return res
		},
	},
}

var exportedPackets = regexp.MustCompile(`wrote (\d+) packets`)

func safeIndex(m []string, i int) string {
	if i < len(m) {
		return m[i]
	}
	return ""
}

// labRing is the lab's capture ring directory, or why the step skips.
func labRing(t *tour) (dir, skip string) {
	c := t.ep.Capture
	switch {
	case c == nil:
		return "", "the lab runs with --no-capture"
	case c.Error != "":
		return "", "the lab could not record its broker: " + c.Error
	}
	return c.Dir, ""
}

// waitRingFlushed waits until the ring's writer rewrote its status a whole
// --flush after the moment after: what the broker did before then is in
// the ring's files.
func waitRingFlushed(ctx context.Context, dir string, after time.Time) error {
	for {
		st, err := capture.ReadStatus(dir)
		if err == nil && st.FlushMS > 0 && !st.UpdatedAt.Before(after.Add(time.Duration(st.FlushMS)*time.Millisecond)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("the lab's capture ring did not flush in time (its status.json is not updated)")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
