package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/ecdata/ectool/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// writeRing writes n packets into a fresh ring and returns its options.
func writeRing(t *testing.T, o RingOptions, clock *fakeClock, n int, size func(i int) int) RingOptions {
	t.Helper()
	w, err := NewRingWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		clock.Advance(time.Duration(1+i%7) * time.Millisecond)
		if err := w.WritePacket(i%len(o.Interfaces), clock.Now(), udpFrame(uint32(i), size(i)), size(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.Options()
}

func readFile(t *testing.T, path string) (n int, torn *Torn) {
	t.Helper()
	r, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		_, err := r.Next()
		if err == io.EOF {
			return n, r.Torn()
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
}

// Every cut of a file yields the whole records before the cut and reports
// a torn record unless the cut falls on a record boundary.
func TestRandomTruncationsKeepEveryWholeRecord(t *testing.T) {
	for _, format := range []string{FormatPcapng, FormatPcap} {
		t.Run(format, func(t *testing.T) {
			clock := newFakeClock()
			o := testOptions(t, clock)
			o.Format, o.FileSize, o.Files = format, 1<<20, 2
			o = writeRing(t, o, clock, 60, func(i int) int { return 60 + (i*37)%400 })
			files, _ := ListRing(o.Dir, "")
			full, err := os.ReadFile(files[0].Path)
			if err != nil {
				t.Fatal(err)
			}
			// Record boundaries, from the file itself.
			ends := recordEnds(t, full, format)
			cut := filepath.Join(t.TempDir(), "cut."+format)
			rng := rand.New(rand.NewPCG(1, 2))
			for k := 0; k < 300; k++ {
				at := ends[0] + rng.IntN(len(full)-ends[0])
				if k < 20 {
					at = ends[0] + k // the first bytes after the header
				}
				if err := os.WriteFile(cut, full[:at], 0o600); err != nil {
					t.Fatal(err)
				}
				n, torn := readFile(t, cut)
				want, boundary := 0, false
				for i, e := range ends[1:] {
					if e <= at {
						want = i + 1
					}
					if e == at {
						boundary = true
					}
				}
				if format == FormatPcapng {
					want = pcapngPackets(ends, at)
				}
				if n != want {
					t.Fatalf("cut at %d: %d packets, want %d", at, n, want)
				}
				if boundary != (torn == nil) && at != ends[0] {
					t.Fatalf("cut at %d (boundary %v): torn %v", at, boundary, torn)
				}
				if torn != nil && torn.Offset+torn.Bytes != int64(at) {
					t.Fatalf("cut at %d: torn %+v does not reach the end", at, torn)
				}
			}
		})
	}
}

// recordEnds lists the offsets where records end (ends[0] is the end of the
// headers, for pcapng after the opening statistics blocks).
func recordEnds(t *testing.T, b []byte, format string) []int {
	t.Helper()
	var ends []int
	if format == FormatPcap {
		off := 24
		ends = append(ends, off)
		for off < len(b) {
			off += 16 + int(binary.LittleEndian.Uint32(b[off+8:]))
			ends = append(ends, off)
		}
		return ends
	}
	off := 0
	for off < len(b) {
		typ := binary.LittleEndian.Uint32(b[off:])
		off += int(binary.LittleEndian.Uint32(b[off+4:]))
		if typ == blockEPB || len(ends) == 0 {
			ends = append(ends, off)
		} else if typ != blockEPB && len(ends) == 1 {
			ends[0] = off // headers and opening statistics
		} else {
			ends = append(ends, -off) // closing statistics: not a packet
		}
	}
	return ends
}

func pcapngPackets(ends []int, at int) int {
	n := 0
	for _, e := range ends[1:] {
		if e > 0 && e <= at {
			n++
		}
	}
	return n
}

func TestGarbageAfterTheLastRecordIsTornNotFatal(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(t, clock)
	o.FileSize = 1 << 20
	o = writeRing(t, o, clock, 10, func(int) int { return 100 })
	files, _ := ListRing(o.Dir, "")
	f, _ := os.OpenFile(files[0].Path, os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.Write(make([]byte, 4096)) // a power cut leaves zeros
	f.Close()
	n, torn := readFile(t, files[0].Path)
	if n != 10 || torn == nil || torn.Bytes != 4096 {
		t.Fatalf("%d packets, torn %+v", n, torn)
	}
}

func TestNotACaptureIsErrNotCapture(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.pcap")
	for _, content := range []string{"", "hello world, this is not a capture", "\x0a\x0d\x0d\x0a\x10"} {
		_ = os.WriteFile(p, []byte(content), 0o600)
		if _, err := OpenFile(p); err == nil || !strings.Contains(err.Error(), ErrNotCapture.Error()) {
			t.Errorf("%q: %v", content, err)
		}
	}
}

// tshark and capinfos read every file of a ring, torn or not, with the
// counts our reader gives.
func TestWiresharkToolsReadEveryRingFile(t *testing.T) {
	capinfos := testenv.Require(t, "capinfos")
	tshark := testenv.Require(t, "tshark")
	clock := newFakeClock()
	o := testOptions(t, clock)
	o.Interfaces = append(o.Interfaces, IfaceSpec{Name: "wwan0", LinkType: layers.LinkTypeEthernet, Snaplen: 1500})
	o = writeRing(t, o, clock, 300, func(i int) int { return 80 + i%900 })
	files, _ := ListRing(o.Dir, "")
	for _, f := range files {
		n, _ := readFile(t, f.Path)
		out, err := exec.Command(capinfos, "-c", "-M", f.Path).CombinedOutput()
		if err != nil {
			t.Fatalf("capinfos %s: %v\n%s", f.Name, err, out)
		}
		if !strings.Contains(string(out), "Number of packets:   "+strconv.Itoa(n)) {
			t.Fatalf("capinfos %s: want %d packets\n%s", f.Name, n, out)
		}
		out, err = exec.Command(tshark, "-r", f.Path, "-T", "fields", "-e", "frame.interface_name").Output()
		if err != nil {
			t.Fatalf("tshark %s: %v", f.Name, err)
		}
		lines := testenv.Lines(string(out))
		if len(lines) != n || (n > 1 && lines[0] == lines[1]) {
			t.Fatalf("tshark %s: %d packets (want %d), interfaces %v", f.Name, len(lines), n, lines[:min(2, len(lines))])
		}
	}
}

// Export equals mergecap of the ring clipped with editcap -A/-B, packet for
// packet (time and bytes).
func TestExportEqualsMergecapAndEditcap(t *testing.T) {
	mergecap := testenv.Require(t, "mergecap")
	editcap := testenv.Require(t, "editcap")
	clock := newFakeClock()
	o := testOptions(t, clock)
	o.Interfaces = append(o.Interfaces, IfaceSpec{Name: "wwan0", LinkType: layers.LinkTypeEthernet, Snaplen: 2048})
	o.Files = 40
	o = writeRing(t, o, clock, 400, func(i int) int { return 60 + (i*13)%300 })
	r, _ := OpenRing(o.Dir)
	sums := r.Summarize()
	first, last, _ := Span(sums)
	dir := t.TempDir()
	for _, tc := range []struct {
		name         string
		since, until string
	}{
		{"all", "", ""},
		{"last 300ms", "300ms", ""},
		{"a middle window", first.Add(200 * time.Millisecond).Format(time.RFC3339Nano), last.Add(-500 * time.Millisecond).Format(time.RFC3339Nano)},
		{"durations both ends", "900ms", "100ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w Window
			w.Since, _ = ParseBound(tc.since)
			w.Until, _ = ParseBound(tc.until)
			out := filepath.Join(dir, "export.pcapng")
			if _, err := Export(r, w, out, FormatPcapng); err != nil {
				t.Fatal(err)
			}
			merged := filepath.Join(dir, "merged.pcapng")
			args := []string{"-w", merged}
			for _, f := range r.Files {
				args = append(args, f.Path)
			}
			if b, err := exec.Command(mergecap, args...).CombinedOutput(); err != nil {
				t.Fatalf("mergecap: %v %s", err, b)
			}
			res := w.Resolve(last)
			eargs := []string{}
			if !res.From.IsZero() {
				eargs = append(eargs, "-A", epoch(res.From))
			}
			if !res.To.IsZero() {
				eargs = append(eargs, "-B", epoch(res.To))
			}
			clipped := filepath.Join(dir, "clipped.pcapng")
			if b, err := exec.Command(editcap, append(eargs, merged, clipped)...).CombinedOutput(); err != nil {
				t.Fatalf("editcap: %v %s", err, b)
			}
			a, b := packetList(t, out), packetList(t, clipped)
			if len(a) == 0 || len(a) != len(b) {
				t.Fatalf("export %d packets, mergecap+editcap %d", len(a), len(b))
			}
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("packet %d differs: %s vs %s", i, a[i][:40], b[i][:40])
				}
			}
		})
	}
	// An empty window names the span.
	var w Window
	w.Since, _ = ParseBound(last.Add(time.Hour).Format(time.RFC3339))
	res, err := Export(r, w, filepath.Join(dir, "none.pcapng"), FormatPcapng)
	if err != ErrEmptyWindow || !res.RingLast.Equal(last) || res.RingPackets != 400 {
		t.Fatalf("empty window: %v %+v", err, res)
	}
	if _, err := os.Stat(filepath.Join(dir, "none.pcapng")); err == nil {
		t.Fatal("an empty export left a file")
	}
}

func epoch(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

func packetList(t *testing.T, path string) []string {
	t.Helper()
	r, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	for {
		p, err := r.Next()
		if err != nil {
			break
		}
		out = append(out, fmt.Sprintf("%d %s %x", p.Timestamp.UnixNano(), r.Interfaces()[p.Interface].Name, p.Data))
	}
	return out
}

func FuzzReader(f *testing.F) {
	clock := newFakeClock()
	for _, format := range []string{FormatPcapng, FormatPcap} {
		dir := f.TempDir()
		o := RingOptions{Dir: dir, Format: format, FileSize: 1 << 20, Files: 2, Clock: clock.Now,
			Interfaces: []IfaceSpec{{Name: "eth0", LinkType: layers.LinkTypeEthernet, Snaplen: 512}}}
		w, err := NewRingWriter(o)
		if err != nil {
			f.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			_ = w.WritePacket(0, clock.Now(), udpFrame(uint32(i), 90), 90)
		}
		_ = w.Close()
		files, _ := ListRing(dir, "")
		b, _ := os.ReadFile(files[0].Path)
		f.Add(b)
		f.Add(b[:len(b)-7])
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(b)
		zw.Close()
		f.Add(gz.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		for i := 0; i < 10000; i++ {
			p, err := r.Next()
			if err != nil {
				break
			}
			if p.Interface < 0 || p.Interface >= len(r.Interfaces()) && r.Format() == FormatPcapng {
				t.Fatalf("packet on interface %d of %d", p.Interface, len(r.Interfaces()))
			}
		}
		// Offsets count the bytes read (uncompressed ones for gzip).
		gz := len(b) > 1 && b[0] == 0x1f && b[1] == 0x8b
		if tn := r.Torn(); tn != nil && !gz && tn.Offset+tn.Bytes != int64(len(b)) {
			t.Fatalf("torn %+v in %d bytes", tn, len(b))
		}
	})
}
