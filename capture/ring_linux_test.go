//go:build linux

package capture

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/testenv"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	testenv.RequireRoot(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.Missing(t, "cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// On a 2 MiB disk with a ring bound far above it, a full disk deletes the
// oldest file, warns, and the capture goes on with the newest packets.
func TestAFullDiskDropsTheOldestFileAndGoesOn(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	clock := newFakeClock()
	o := testOptions(t, clock)
	o.Dir = dir + "/ring"
	o.FileSize, o.Files = 512<<10, 16 // bound 8 MiB on a 2 MiB disk
	var warnings []string
	o.Warn = func(s string) { warnings = append(warnings, s) }
	w, err := NewRingWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	const total = 6000 // about 6 MiB
	for i := uint32(0); i < total; i++ {
		clock.Advance(time.Millisecond)
		if err := w.WritePacket(0, clock.Now(), udpFrame(i, 1000), 1000); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if i%100 == 0 {
			clock.Advance(time.Second)
			if err := w.Maintain(); err != nil {
				t.Fatalf("maintain at %d: %v", i, err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if len(warnings) == 0 || !strings.Contains(warnings[0], "disk full") {
		t.Fatalf("no disk-full warning: %v", warnings)
	}
	seqs, torn := readAll(t, o.Dir)
	if len(torn) != 0 {
		t.Fatalf("torn files after a full disk: %+v", torn)
	}
	if seqs[len(seqs)-1] != total-1 {
		t.Fatalf("the newest packet is %d, want %d", seqs[len(seqs)-1], total-1)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("order broken at %d", i)
		}
	}
	t.Logf("%d packets kept of %d, %d disk drops, warnings: %d", len(seqs), total, w.Status().DiskDrops, len(warnings))
}

func TestStatusChecksALiveAndAStoppedRing(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(t, clock)
	o.Clock = time.Now // freshness is judged on the real boot-time clock
	w, err := NewRingWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint32(0); i < 20; i++ {
		_ = w.WritePacket(0, time.Now(), udpFrame(i, 100), 100)
	}
	w.SetCounters(0, Counters{Received: 300, Dropped: 5, Available: true})
	if err := w.flush(time.Now(), false); err != nil {
		t.Fatal(err)
	}
	r, _ := OpenRing(o.Dir)
	res := CheckRing(r, time.Now())
	got := map[string]report.Check{}
	for _, c := range res.Checks {
		got[c.ID] = c
	}
	if got[CheckRunning].Status != report.OK || got[CheckFresh].Status != report.OK || got[CheckDisk].Status != report.OK {
		t.Fatalf("live ring: %+v", res.Checks)
	}
	// 5 of 305 packets dropped while this file was written: > 1 %.
	if c := got[CheckDrops]; c.Status != report.Failed || c.Evidence["kernel_dropped"] != uint64(5) {
		t.Fatalf("drops: %+v", c)
	}
	_ = w.Close()
	r, _ = OpenRing(o.Dir)
	res = CheckRing(r, time.Now())
	if res.Checks[0].Status != report.Failed || res.Checks[1].Status != report.Skipped {
		t.Fatalf("stopped ring: %+v", res.Checks[:2])
	}
	if c := res.Checks[2]; c.Evidence["kernel_dropped"] != uint64(5) {
		t.Fatalf("drops after close (from the closing statistics blocks): %+v", c)
	}
}
