package capture

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// Check IDs emitted by CheckRing (listed in docs/checks.md; diag reuses them).
const (
	CheckRunning = "capture.running"
	CheckFresh   = "capture.fresh"
	CheckDrops   = "capture.drops"
	CheckDisk    = "capture.disk"
)

// StatusResult is what `capture status` found: the files and the checks.
type StatusResult struct {
	Dir     string         `json:"dir"`
	Files   []FileSummary  `json:"files"`
	First   time.Time      `json:"first,omitzero"`
	Last    time.Time      `json:"last,omitzero"`
	Packets int            `json:"packets"`
	Bytes   int64          `json:"bytes"`
	Status  *Status        `json:"status,omitempty"`
	Checks  []report.Check `json:"-"`
}

// CheckRing judges a ring directory: is a writer alive (the flock), is
// status.json fresh (at most 3 × the writer's --flush old), how many
// packets the kernel dropped over the span the ring holds, and is the ring
// within its bound with room for one more file.
func CheckRing(r *Ring, now time.Time) *StatusResult {
	res := &StatusResult{Dir: r.Dir, Files: r.Summarize(), Status: r.Status}
	res.First, res.Last, res.Packets = Span(res.Files)
	for _, f := range res.Files {
		res.Bytes += f.Size
	}
	running := checkRunning(r)
	res.Checks = append(res.Checks, running)
	if running.Status == report.Failed || running.Status == report.Skipped && r.Status == nil {
		res.Checks = append(res.Checks, report.Check{ID: CheckFresh, Title: "status.json is fresh", Status: report.Skipped,
			SkippedReason: "no live writer (" + CheckRunning + ")"})
	} else {
		res.Checks = append(res.Checks, checkFresh(r, now))
	}
	res.Checks = append(res.Checks, checkDrops(r, res), checkDisk(r, res))
	return res
}

// Report adds the checks and details to rep.
func (s *StatusResult) Report(rep *report.Report) {
	for _, c := range s.Checks {
		rep.Add(c)
	}
	rep.SetDetail("dir", s.Dir)
	rep.SetDetail("files", s.Files)
	rep.SetDetail("packets", s.Packets)
	rep.SetDetail("bytes", s.Bytes)
	if !s.First.IsZero() {
		rep.SetDetail("first", report.FormatTime(s.First))
		rep.SetDetail("last", report.FormatTime(s.Last))
	}
	if s.Status != nil {
		rep.SetDetail("status", s.Status)
	}
}

func checkRunning(r *Ring) report.Check {
	c := report.Check{ID: CheckRunning, Title: "a live capture writes the ring", Status: report.OK}
	held, pid, err := LockHolder(r.Dir)
	c.Evidence = map[string]any{"lock": filepath.Join(r.Dir, LockFile)}
	switch {
	case errors.Is(err, ErrLockUnsupportedOS):
		c.Status = report.Skipped
		c.SkippedReason = err.Error()
	case err != nil:
		c.Status, c.Hint = report.Failed, fmt.Sprintf("cannot test the lock: %v", err)
	case !held:
		c.Status = report.Failed
		c.Hint = "no process holds " + filepath.Join(r.Dir, LockFile) + ": start the capture (systemctl start ectool-capture, or ectool capture --iface IF --dir " + r.Dir + ")"
	default:
		c.Evidence["pid"] = pid
	}
	return c
}

func checkFresh(r *Ring, now time.Time) report.Check {
	c := report.Check{ID: CheckFresh, Title: "status.json is fresh", Status: report.OK}
	if r.Status == nil {
		c.Status = report.Failed
		c.Evidence = map[string]any{"error": fmt.Sprint(r.StatusErr)}
		c.Hint = "the writer holds the lock but writes no status.json: is it an ectool capture? restart it"
		return c
	}
	age, clock, sameBoot := r.Status.Freshness(now)
	limit := 3 * r.Status.Flush()
	c.Evidence = map[string]any{"age_ms": report.Millis(age), "limit_ms": report.Millis(limit), "clock": clock,
		"updated_at": report.FormatTime(r.Status.UpdatedAt), "flush_ms": r.Status.FlushMS}
	switch {
	case !sameBoot:
		c.Status = report.Failed
		c.Hint = "status.json was written before the last reboot: the capture did not start again (check the unit: systemctl status ectool-capture)"
	case !r.Status.Running:
		c.Status = report.Failed
		c.Hint = "the writer ended (its last status says so): restart the capture"
	case age > limit:
		c.Status = report.Failed
		c.Hint = fmt.Sprintf("the writer has not flushed for %s (its --flush is %s): it may be stuck on a full or failing disk; look at its log", age.Round(time.Millisecond), r.Status.Flush())
	}
	return c
}

func checkDrops(r *Ring, res *StatusResult) report.Check {
	c := report.Check{ID: CheckDrops, Title: "the kernel dropped no packet over the span the ring holds", Status: report.OK}
	var drops, recv uint64
	known := 0
	for _, f := range res.Files {
		if f.CountersKnown {
			known++
			drops += f.KernelDropped
			recv += f.KernelReceived
		}
	}
	var disk uint64
	if r.Status != nil {
		disk = r.Status.DiskDrops
	}
	c.Evidence = map[string]any{"kernel_dropped": drops, "kernel_received": recv, "files_with_counters": known,
		"files": len(res.Files), "disk_drops": disk}
	if known == 0 && len(res.Files) > 0 {
		c.Status = report.Warning
		c.Evidence["kernel_dropped"] = "unavailable"
		c.Hint = "the files carry no kernel drop counters (SOL_PACKET statistics unavailable, e.g. under qemu-user, or every file is torn)"
		return c
	}
	ratio := 0.0
	if recv+drops > 0 {
		ratio = float64(drops) / float64(recv+drops)
	}
	c.Evidence["drop_ratio"] = ratio
	switch {
	case ratio > 0.01:
		c.Status = report.Failed
		c.Hint = fmt.Sprintf("the kernel dropped %d of %d packets (%.1f%%): raise --buffer, narrow --filter/--ports, or lower --snaplen", drops, recv+drops, 100*ratio)
	case drops > 0:
		c.Status = report.Warning
		c.Hint = fmt.Sprintf("the kernel dropped %d packets: raise --buffer if this grows", drops)
	case disk > 0:
		c.Status = report.Warning
		c.Hint = fmt.Sprintf("%d packets were lost to a full disk: free space or lower --files/--file-size", disk)
	}
	return c
}

func checkDisk(r *Ring, res *StatusResult) report.Check {
	c := report.Check{ID: CheckDisk, Title: "the ring is within its bound and has room for one more file", Status: report.OK}
	c.Evidence = map[string]any{"bytes": res.Bytes, "files": len(res.Files)}
	if r.Status == nil {
		c.Status = report.Warning
		c.Hint = "no status.json: the bound (--files × --file-size) is unknown"
		return c
	}
	st := r.Status
	c.Evidence["bound_bytes"] = st.BoundBytes
	c.Evidence["max_files"] = st.Files
	if res.Bytes > st.BoundBytes || len(res.Files) > st.Files {
		c.Status = report.Failed
		c.Hint = fmt.Sprintf("the ring holds %d bytes in %d files, over its bound of %d bytes in %d files: files not written by this capture? remove them", res.Bytes, len(res.Files), st.BoundBytes, st.Files)
		return c
	}
	free, err := diskFree(r.Dir)
	if err != nil {
		c.Evidence["free_bytes"] = "unknown"
		return c
	}
	need := st.FileSize
	if len(res.Files) >= st.Files && len(res.Files) > 0 {
		need -= res.Files[0].Size // the oldest goes before the next opens
	}
	c.Evidence["free_bytes"] = free
	if int64(free) < need {
		c.Status = report.Failed
		c.Hint = fmt.Sprintf("only %d bytes free in %s, the next file needs %d: free space or lower --file-size", free, r.Dir, need)
	}
	return c
}
