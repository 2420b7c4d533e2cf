package capture

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// fakeClock is the injected clock: it moves only when the test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncCounter counts fsyncs per file.
type syncCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *syncCounter) sync(f *os.File) error {
	s.mu.Lock()
	if s.n == nil {
		s.n = map[string]int{}
	}
	s.n[filepath.Base(f.Name())]++
	s.mu.Unlock()
	return f.Sync()
}

func (s *syncCounter) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := 0
	for _, n := range s.n {
		t += n
	}
	return t
}

// udpFrame is an Ethernet/IPv4/UDP frame of n bytes whose payload starts
// with seq (so tests can tell packets apart).
func udpFrame(seq uint32, n int) []byte {
	n = max(n, 46)
	b := make([]byte, n)
	copy(b[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(b[6:12], []byte{2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(n-14))
	ip[8], ip[9] = 64, 17
	copy(ip[12:16], []byte{198, 18, 0, 1})
	copy(ip[16:20], []byte{198, 18, 0, 2})
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 1883)
	binary.BigEndian.PutUint16(udp[4:], uint16(n-34))
	binary.BigEndian.PutUint32(udp[8:], seq)
	return b
}

func testOptions(t *testing.T, clock *fakeClock) RingOptions {
	return RingOptions{
		Dir:        filepath.Join(t.TempDir(), "ring"),
		FileSize:   8 << 10,
		Files:      4,
		Flush:      time.Second,
		Fsync:      30 * time.Second,
		Interfaces: []IfaceSpec{{Name: "veth0", LinkType: layers.LinkTypeEthernet, Snaplen: 2048}},
		Clock:      clock.Now,
	}
}

// readAll reads every packet of the ring in order and returns their seqs.
func readAll(t *testing.T, dir string) (seqs []uint32, torn []TornFile) {
	t.Helper()
	r, err := OpenRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.Packets()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for {
		p, err := m.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, binary.BigEndian.Uint32(p.Data[42:]))
	}
	return seqs, m.Torn()
}

func ringBytes(t *testing.T, dir string) (int64, int) {
	t.Helper()
	files, err := ListRing(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		n += f.Size
	}
	return n, len(files)
}

func TestRotationKeepsAtMostFilesAndDropsTheOldestFirst(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(t, clock)
	w, err := NewRingWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	const total = 400
	for i := uint32(0); i < total; i++ {
		clock.Advance(10 * time.Millisecond)
		if err := w.WritePacket(0, clock.Now(), udpFrame(i, 200), 200); err != nil {
			t.Fatal(err)
		}
		if err := w.Maintain(); err != nil {
			t.Fatal(err)
		}
		if n, files := ringBytes(t, o.Dir); n > o.Bound() || files > o.Files {
			t.Fatalf("after packet %d: %d bytes in %d files, bound %d in %d", i, n, files, o.Bound(), o.Files)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := ListRing(o.Dir, "")
	if len(files) != o.Files {
		t.Fatalf("%d files, want %d", len(files), o.Files)
	}
	for i := 1; i < len(files); i++ {
		if files[i].Seq != files[i-1].Seq+1 {
			t.Fatalf("sequence gap: %s then %s", files[i-1].Name, files[i].Name)
		}
	}
	seqs, torn := readAll(t, o.Dir)
	if len(torn) != 0 {
		t.Fatalf("torn after a clean close: %+v", torn)
	}
	// The ring keeps the newest packets, every one of them, in order.
	if seqs[len(seqs)-1] != total-1 {
		t.Fatalf("last packet %d, want %d", seqs[len(seqs)-1], total-1)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("packet %d follows %d: one lost inside the ring", seqs[i], seqs[i-1])
		}
	}
	if !strings.HasPrefix(files[0].Name, "ectool_") || !strings.HasSuffix(files[0].Name, ".pcapng") {
		t.Fatalf("name %s", files[0].Name)
	}
}

func TestRestartContinuesTheSequenceWithoutClobbering(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(t, clock)
	o.Files = 10
	write := func(from, n uint32) {
		w, err := NewRingWriter(o)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < from+n; i++ {
			clock.Advance(time.Millisecond)
			if err := w.WritePacket(0, clock.Now(), udpFrame(i, 300), 300); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write(0, 30)
	before, _ := ListRing(o.Dir, "")
	write(30, 30)
	after, _ := ListRing(o.Dir, "")
	if after[0].Seq != before[0].Seq || after[len(before)].Seq != before[len(before)-1].Seq+1 {
		t.Fatalf("restart did not continue the sequence: before %v, after %v", names(before), names(after))
	}
	seqs, _ := readAll(t, o.Dir)
	if len(seqs) != 60 || seqs[0] != 0 || seqs[59] != 59 {
		t.Fatalf("after a restart the ring holds %d packets (%v...)", len(seqs), seqs[:min(5, len(seqs))])
	}
}

func names(fs []RingFile) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

func TestFlushAndFsyncFollowTheInjectedClock(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(t, clock)
	o.FileSize = 1 << 20
	o.Flush, o.Fsync = time.Second, 30*time.Second
	var sc syncCounter
	o.Sync = sc.sync
	w, err := NewRingWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cur := w.Files()[0].Path
	size := func() int64 {
		fi, err := os.Stat(cur)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	header := size()
	if err := w.WritePacket(0, clock.Now(), udpFrame(1, 100), 100); err != nil {
		t.Fatal(err)
	}
	// The writer flushes at 3/4 of --flush (room for a late timer).
	clock.Advance(749 * time.Millisecond)
	_ = w.Maintain()
	if size() != header {
		t.Fatalf("flushed before the flush was due (size %d, header %d)", size(), header)
	}
	clock.Advance(time.Millisecond)
	_ = w.Maintain()
	if size() == header {
		t.Fatal("not flushed at 3/4 of --flush")
	}
	if !w.NextDue().Equal(clock.Now().Add(750 * time.Millisecond)) {
		t.Fatalf("next due %s after now", w.NextDue().Sub(clock.Now()))
	}
	if sc.total() != 0 {
		t.Fatalf("fsync before --fsync was due: %d", sc.total())
	}
	// Flushes until just before 30 s: no fsync yet; at 30 s exactly one.
	for i := 0; i < 38; i++ {
		clock.Advance(750 * time.Millisecond)
		_ = w.Maintain()
	}
	if sc.total() != 0 {
		t.Fatalf("fsync at %s: %d", 750*time.Millisecond*39, sc.total())
	}
	clock.Advance(30*time.Second - 750*time.Millisecond*39)
	_ = w.Maintain()
	if sc.total() != 1 {
		t.Fatalf("fsyncs at 30s: %d, want 1", sc.total())
	}
	st, err := ReadStatus(o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Packets != 1 || !st.Running || st.FlushMS != 1000 || !st.UpdatedAt.Equal(clock.Now()) {
		t.Fatalf("status.json: %+v", st)
	}
}

func TestRotationFsyncsTheClosedFile(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(t, clock)
	var sc syncCounter
	o.Sync = sc.sync
	w, err := NewRingWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	first := w.Files()[0].Name
	for i := uint32(0); len(w.Files()) < 2; i++ {
		if err := w.WritePacket(0, clock.Now(), udpFrame(i, 500), 500); err != nil {
			t.Fatal(err)
		}
	}
	if sc.n[first] != 1 {
		t.Fatalf("the rotated file %s was fsynced %d times, want 1", first, sc.n[first])
	}
	_ = w.Close()
}

func TestFileDurationRotatesOnTheNextPacket(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(t, clock)
	o.FileSize = 1 << 20
	o.FileDuration = time.Minute
	w, err := NewRingWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_ = w.WritePacket(0, clock.Now(), udpFrame(0, 100), 100)
	clock.Advance(2 * time.Minute)
	_ = w.Maintain() // idle: no new file
	if len(w.Files()) != 1 {
		t.Fatalf("an idle ring rotated: %v", names(w.Files()))
	}
	_ = w.WritePacket(0, clock.Now(), udpFrame(1, 100), 100)
	if len(w.Files()) != 2 {
		t.Fatalf("no rotation after --file-duration: %v", names(w.Files()))
	}
}

func TestFilesArePrivateAndANewDirIs0700(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(t, clock)
	var warnings []string
	o.Warn = func(s string) { warnings = append(warnings, s) }
	w, err := NewRingWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.WritePacket(0, clock.Now(), udpFrame(0, 100), 100)
	_ = w.Close()
	fi, _ := os.Stat(o.Dir)
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %04o", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(o.Dir)
	for _, e := range ents {
		fi, _ := e.Info()
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %04o, want 0600", e.Name(), fi.Mode().Perm())
		}
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings for a new dir: %v", warnings)
	}
	// An existing dir readable by others is used as it is, with a warning.
	if err := os.Chmod(o.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err = NewRingWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	if fi, _ := os.Stat(o.Dir); fi.Mode().Perm() != 0o755 {
		t.Fatalf("an existing dir's mode was changed to %04o", fi.Mode().Perm())
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "readable by other users") {
		t.Fatalf("warnings: %v", warnings)
	}
}

func TestASecondWriterIsRefusedByTheLock(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(t, clock)
	w, err := NewRingWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	held, pid, err := LockHolder(o.Dir)
	if err != nil || !held || pid != os.Getpid() {
		t.Fatalf("LockHolder: %v %d %v", held, pid, err)
	}
	_, err = NewRingWriter(o)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second writer: %v", err)
	}
	_ = w.Close()
	if held, _, _ := LockHolder(o.Dir); held {
		t.Fatal("lock still held after Close")
	}
	st, _ := ReadStatus(o.Dir)
	if st == nil || st.Running {
		t.Fatalf("final status: %+v", st)
	}
}

func TestOptionsThatCannotWork(t *testing.T) {
	base := RingOptions{Dir: "x", Interfaces: []IfaceSpec{{Name: "a", LinkType: layers.LinkTypeEthernet}}}
	for _, tc := range []struct {
		mod   func(*RingOptions)
		field string
	}{
		{func(o *RingOptions) { o.Files = 1 }, "files"},
		{func(o *RingOptions) { o.FileSize = 1000 }, "file-size"},
		{func(o *RingOptions) { o.Format = "erf" }, "pcap-format"},
		{func(o *RingOptions) {
			o.Format = FormatPcap
			o.Interfaces = append(o.Interfaces, IfaceSpec{Name: "wwan0", LinkType: layers.LinkTypeRaw})
		}, "pcap-format"},
	} {
		o := base
		o.Interfaces = append([]IfaceSpec(nil), base.Interfaces...)
		tc.mod(&o)
		var oe *OptionError
		if err := o.Validate(); !errors.As(err, &oe) || oe.Field != tc.field {
			t.Errorf("want an error on --%s, got %v", tc.field, err)
		}
	}
}

func TestPcapFormatRing(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(t, clock)
	o.Format = FormatPcap
	w, err := NewRingWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint32(0); i < 50; i++ {
		clock.Advance(time.Millisecond)
		_ = w.WritePacket(0, clock.Now(), udpFrame(i, 120), 120)
	}
	_ = w.Close()
	seqs, _ := readAll(t, o.Dir)
	if len(seqs) != 50 {
		t.Fatalf("%d packets", len(seqs))
	}
	files, _ := ListRing(o.Dir, "")
	if !strings.HasSuffix(files[0].Name, ".pcap") {
		t.Fatal(files[0].Name)
	}
}
