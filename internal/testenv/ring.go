package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// WaitRingFlushed waits until the capture ring in dir (ectool capture's or
// the lab's) has rewritten its status.json at least one whole --flush after
// the moment after: every packet the writer was given before then is in
// its files (the writer flushes at 3/4 of --flush, so a writer running a
// little late is covered too). It fails the test after within.
//
// status.json is read as JSON here, not through package capture, whose own
// tests use this package.
func WaitRingFlushed(t testing.TB, dir string, after time.Time, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last struct {
		UpdatedAt time.Time `json:"updated_at"`
		FlushMS   int64     `json:"flush_ms"`
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "status.json"))
		if err == nil && json.Unmarshal(b, &last) == nil && last.FlushMS > 0 &&
			!last.UpdatedAt.Before(after.Add(time.Duration(last.FlushMS)*time.Millisecond)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the capture ring in %s did not flush within %s of %s (status.json: %s; %v)", dir, within,
				after.UTC().Format(time.RFC3339Nano), b, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
