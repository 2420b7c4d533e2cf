package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// writePcapAt writes a classic pcap file with one UDP frame at each time,
// its payload starting with the frame's index in ids.
func writePcapAt(t *testing.T, path string, ids []uint32, at []time.Time) {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(2048, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, ts := range at {
		f := udpFrame(ids[i], 60)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(f), Length: len(f)}, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mergedIDs(t *testing.T, m *Merger) (ids []uint32, files []int) {
	t.Helper()
	defer m.Close()
	for {
		p, err := m.Next()
		if err == io.EOF {
			return ids, files
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, binary.BigEndian.Uint32(p.Data[42:]))
		files = append(files, p.File)
	}
}

// TestMergerInterleavesByTimeAndKeepsTiesInOrder: runs of packets from one
// file (the merger's fast path) and packets alternating between files (the
// heap) come out by time; equal times keep the order the files were added.
func TestMergerInterleavesByTimeAndKeepsTiesInOrder(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	ms := func(n ...int) []time.Time {
		var out []time.Time
		for _, x := range n {
			out = append(out, t0.Add(time.Duration(x)*time.Millisecond))
		}
		return out
	}
	a, b := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap")
	writePcapAt(t, a, []uint32{1, 2, 3, 6, 8}, ms(1, 2, 3, 6, 8))
	writePcapAt(t, b, []uint32{4, 5, 7, 9, 10}, ms(4, 5, 6, 8, 10))
	m, err := MergeFiles([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	ids, files := mergedIDs(t, m)
	if want := []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; !reflect.DeepEqual(ids, want) {
		t.Errorf("merged order %v, want %v", ids, want)
	}
	if want := []int{0, 0, 0, 1, 1, 0, 1, 0, 1, 1}; !reflect.DeepEqual(files, want) {
		t.Errorf("files %v, want %v", files, want)
	}
}

// TestGzipAndStreamsReadLikeTheFile: a capture compressed with gzip, and
// one added as an open reader (standard input), give the file's packets.
func TestGzipAndStreamsReadLikeTheFile(t *testing.T) {
	clock := newFakeClock()
	o := writeRing(t, testOptions(t, clock), clock, 20, func(int) int { return 100 })
	files, _ := ListRing(o.Dir, "")
	plain, _ := os.ReadFile(files[0].Path)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	gzPath := filepath.Join(t.TempDir(), "copy.pcapng.gz")
	os.WriteFile(gzPath, gz.Bytes(), 0o600)

	want, _ := readFile(t, files[0].Path)
	if got, torn := readFile(t, gzPath); got != want || torn != nil {
		t.Errorf("gzip file: %d packets (torn %v), the file has %d", got, torn, want)
	}
	rd, err := NewReader(bytes.NewReader(gz.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	m := NewMerger()
	m.AddReader("standard input", rd)
	if ids, _ := mergedIDs(t, m); len(ids) != want {
		t.Errorf("stream: %d packets, want %d", len(ids), want)
	}
	if in := m.Inputs(); !reflect.DeepEqual(in, []string{"standard input"}) {
		t.Errorf("inputs %v", in)
	}
	// A gzip stream that is not a capture inside is still not a capture.
	gz.Reset()
	zw = gzip.NewWriter(&gz)
	zw.Write([]byte("hello, not a capture"))
	zw.Close()
	if _, err := NewReader(bytes.NewReader(gz.Bytes())); !errors.Is(err, ErrNotCapture) {
		t.Errorf("gzip of text: %v, want ErrNotCapture", err)
	}
}

// TestOpenRingReadsLabAndLooseDirectories: a lab directory opens as its
// capture ring; a directory of captures no writer named opens with them
// in dumpcap's sequence order, then by name.
func TestOpenRingReadsLabAndLooseDirectories(t *testing.T) {
	clock := newFakeClock()
	lab := t.TempDir()
	o := testOptions(t, clock)
	o.Dir = filepath.Join(lab, "capture")
	o = writeRing(t, o, clock, 30, func(int) int { return 200 })
	r, err := OpenRing(lab)
	if err != nil {
		t.Fatal(err)
	}
	if r.Dir != o.Dir || len(r.Files) == 0 || r.Status == nil {
		t.Errorf("lab directory opened as %s with %d files, status %v; want its ring %s", r.Dir, len(r.Files), r.StatusErr, o.Dir)
	}

	loose := t.TempDir()
	for _, name := range []string{"zz.pcap", "gw_00010_20261202030000.pcapng", "gw_00009_20261202040000.pcapng", "aa.cap.gz", "notes.txt"} {
		os.WriteFile(filepath.Join(loose, name), nil, 0o600)
	}
	os.Mkdir(filepath.Join(loose, "sub.pcap"), 0o700)
	r, err = OpenRing(loose)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"gw_00009_20261202040000.pcapng", "gw_00010_20261202030000.pcapng", "aa.cap.gz", "zz.pcap"}
	if got := names(r.Files); !reflect.DeepEqual(got, want) {
		t.Errorf("loose directory: %v, want %v", got, want)
	}
	// Empty files are being written: torn at 0, not fatal.
	m, err := r.Packets()
	if err != nil {
		t.Fatal(err)
	}
	mergedIDs(t, m)
	if torn := m.Torn(); len(torn) != 4 || torn[0].Offset != 0 {
		t.Errorf("torn %+v, want the 4 empty files at offset 0", torn)
	}
}

// TestARingFileRotatedAwayIsSkipped: the writer deletes its oldest file
// between the listing and the reading: the rest is read, no error.
func TestARingFileRotatedAwayIsSkipped(t *testing.T) {
	clock := newFakeClock()
	o := writeRing(t, testOptions(t, clock), clock, 200, func(int) int { return 300 })
	r, err := OpenRing(o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Files) < 2 {
		t.Fatalf("%d files, want a rotated ring", len(r.Files))
	}
	os.Remove(r.Files[0].Path)
	m, err := r.Packets()
	if err != nil {
		t.Fatalf("a rotated-away file: %v", err)
	}
	ids, files := mergedIDs(t, m)
	if len(ids) == 0 || files[0] != 1 || len(m.Unreadable()) != 0 || len(m.Torn()) != 0 {
		t.Errorf("%d packets, first from file %d, unreadable %v, torn %v", len(ids), files[0], m.Unreadable(), m.Torn())
	}
}

// TestWindowsCountBackFromTheNewestPacket: durations resolve against
// Newest, the last packet in the data, never the clock; [since, until).
func TestWindowsCountBackFromTheNewestPacket(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var at []time.Time
	var ids []uint32
	for i := 0; i < 10; i++ {
		at, ids = append(at, t0.Add(time.Duration(i)*time.Second)), append(ids, uint32(i))
	}
	path := filepath.Join(dir, "x.pcap")
	writePcapAt(t, path, ids, at)
	m, _ := MergeFiles([]string{path})
	newest, err := Newest(m)
	m.Close()
	if err != nil || !newest.Equal(at[9]) {
		t.Fatalf("newest %v (%v), want %v", newest, err, at[9])
	}
	since, _ := ParseBound("5s")
	until, _ := ParseBound("2s")
	day, err := ParseBound("1d")
	if err != nil || day.Back != 24*time.Hour {
		t.Errorf("1d: %+v %v", day, err)
	}
	w := Window{Since: since, Until: until}
	if !w.Relative() || w.Check() != nil {
		t.Errorf("window %+v: relative %v, check %v", w, w.Relative(), w.Check())
	}
	res := w.Resolve(newest)
	var kept []int
	for i, ts := range at {
		if res.Contains(ts) {
			kept = append(kept, i)
		}
	}
	if want := []int{4, 5, 6}; !reflect.DeepEqual(kept, want) {
		t.Errorf("kept packets %v, want %v ([newest-5s, newest-2s))", kept, want)
	}
	if err := (Window{Since: until, Until: since}).Check(); err == nil {
		t.Error("--since 2s --until 5s (ends before it starts) was accepted")
	}
}
