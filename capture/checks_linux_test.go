//go:build linux

package capture

import (
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// capture.fresh is judged on this boot's clock and the writer's own
// --flush: a wall clock stepped by an hour leaves a live ring fresh, a
// writer that stopped flushing is stale, and a status from another boot
// is never live.
func TestFreshnessFollowsTheBootClockNotTheWallClock(t *testing.T) {
	mono, ok := boottimeNS()
	if !ok || BootID() == "" {
		t.Fatal("no CLOCK_BOOTTIME or boot id on this Linux")
	}
	now := time.Now()
	status := func(ageMono time.Duration, wallAge time.Duration, boot string) *Status {
		return &Status{Schema: StatusSchema, Running: true, FlushMS: 1000, BootID: boot,
			MonotonicNS: mono - int64(ageMono), UpdatedAt: now.Add(-wallAge)}
	}
	cases := []struct {
		name   string
		st     *Status
		now    time.Time
		status report.Status
		words  string
	}{
		{"fresh", status(500*time.Millisecond, 500*time.Millisecond, BootID()), now, report.OK, ""},
		{"wall clock stepped forward an hour", status(500*time.Millisecond, 500*time.Millisecond, BootID()), now.Add(time.Hour), report.OK, ""},
		{"wall clock stepped back a day", status(500*time.Millisecond, 500*time.Millisecond, BootID()), now.Add(-24 * time.Hour), report.OK, ""},
		{"no flush for 10 s", status(10*time.Second, 10*time.Second, BootID()), now, report.Failed, "has not flushed"},
		{"another boot", status(time.Second, time.Second, "00000000-0000-0000-0000-000000000000"), now, report.Failed, "before the last reboot"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := checkFresh(&Ring{Dir: t.TempDir(), Status: c.st}, c.now)
			if ch.Status != c.status || !strings.Contains(ch.Hint, c.words) {
				t.Fatalf("capture.fresh %s %q, want %s with %q (evidence %v)", ch.Status, ch.Hint, c.status, c.words, ch.Evidence)
			}
		})
	}
	ended := status(0, 0, BootID())
	ended.Running = false
	if ch := checkFresh(&Ring{Dir: t.TempDir(), Status: ended}, now); ch.Status != report.Failed || !strings.Contains(ch.Hint, "writer ended") {
		t.Fatalf("a writer that said it ended: %s %q", ch.Status, ch.Hint)
	}
}

// capture.drops: none is ok, some up to 1 % a warning, above 1 % failed,
// files without counters "unavailable".
func TestDropsAreAWarningUpToOnePercentAndFailedAbove(t *testing.T) {
	file := func(recv, drop uint64, known bool) FileSummary {
		return FileSummary{KernelReceived: recv, KernelDropped: drop, CountersKnown: known}
	}
	cases := []struct {
		name   string
		files  []FileSummary
		status report.Status
	}{
		{"none", []FileSummary{file(500, 0, true), file(500, 0, true)}, report.OK},
		{"1 in 1000", []FileSummary{file(500, 1, true), file(499, 0, true)}, report.Warning},
		{"exactly 1 %", []FileSummary{file(990, 10, true)}, report.Warning},
		{"2 %", []FileSummary{file(490, 10, true), file(490, 10, true)}, report.Failed},
		{"unavailable", []FileSummary{file(0, 0, false)}, report.Warning},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := checkDrops(&Ring{}, &StatusResult{Files: c.files})
			if ch.Status != c.status {
				t.Fatalf("capture.drops %s, want %s (evidence %v, hint %q)", ch.Status, c.status, ch.Evidence, ch.Hint)
			}
		})
	}
}

// capture.disk: within the bound with room is ok, more files or bytes
// than the writer's bound failed, no status.json a warning (bound unknown),
// and a next file larger than the free space failed.
func TestDiskCheckJudgesTheBoundAndTheRoomForOneMoreFile(t *testing.T) {
	st := &Status{Schema: StatusSchema, Files: 2, FileSize: 1000, BoundBytes: 2*1000 + 100}
	files := func(sizes ...int64) *StatusResult {
		res := &StatusResult{}
		for _, s := range sizes {
			res.Files = append(res.Files, FileSummary{Size: s})
			res.Bytes += s
		}
		return res
	}
	dir := t.TempDir()
	huge := *st
	huge.FileSize = 1 << 62
	cases := []struct {
		name   string
		st     *Status
		res    *StatusResult
		status report.Status
	}{
		{"within", st, files(900, 500), report.OK},
		{"too many files", st, files(10, 10, 10), report.Failed},
		{"too many bytes", st, files(1000, 1200), report.Failed},
		{"no status.json", nil, files(10), report.Warning},
		{"no room for the next file", &huge, files(10), report.Failed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := checkDisk(&Ring{Dir: dir, Status: c.st}, c.res)
			if ch.Status != c.status || c.status != report.OK && ch.Hint == "" {
				t.Fatalf("capture.disk %s %q, want %s (evidence %v)", ch.Status, ch.Hint, c.status, ch.Evidence)
			}
		})
	}
}
