package capture

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// A window that holds two link types cannot go into classic pcap: the
// error names both link types (whichever interface spoke first), is
// ErrMixedLinkTypes so the command can say "write pcapng", and leaves no
// half-written file behind.
func TestExportToPcapRefusesTwoLinkTypesNamingBoth(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(t, clock)
	o.Interfaces = append(o.Interfaces, IfaceSpec{Name: "wwan0", LinkType: layers.LinkTypeRaw, Snaplen: 2048})
	w, err := NewRingWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	// The raw-IP interface (index 1) speaks first, then Ethernet (index 0).
	for i, iface := range []int{1, 0} {
		clock.Advance(time.Millisecond)
		frame := udpFrame(uint32(i), 100)
		if iface == 1 {
			frame = frame[14:]
		}
		if err := w.WritePacket(iface, clock.Now(), frame, len(frame)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRing(o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "incident.pcap")
	_, err = Export(r, Window{}, out, FormatPcap)
	if !errors.Is(err, ErrMixedLinkTypes) {
		t.Fatalf("export of two link types to pcap: %v, want ErrMixedLinkTypes", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "RAW") || !strings.Contains(msg, "EN10MB") {
		t.Fatalf("%q does not name both link types (RAW and EN10MB)", msg)
	}
	if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
		t.Fatalf("a half-written %s is left behind (%v)", out, serr)
	}
}

// The clock set back an hour between two files: the ring stays in
// sequence order (the newer file's name now sorts first by time), the
// file that starts before its predecessor ended is flagged, and an export
// still merges every packet by time.
func TestAClockSetBackKeepsSequenceOrderAndIsFlagged(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(t, clock)
	w, err := NewRingWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	seq := uint32(0)
	write := func() {
		clock.Advance(10 * time.Millisecond)
		if err := w.WritePacket(0, clock.Now(), udpFrame(seq, 1500), 1500); err != nil {
			t.Fatal(err)
		}
		seq++
	}
	for len(w.Files()) < 2 {
		write()
	}
	perFile := int(seq) - 1 // the packet that rotated opened file 2
	for i := 1; i < perFile; i++ {
		write() // file 2 is full now
	}
	clock.Advance(-time.Hour)
	write() // the first packet after the step opens file 3
	if len(w.Files()) != 3 {
		t.Fatalf("%d files after the step, want 3 (%d packets a file)", len(w.Files()), perFile)
	}
	write()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRing(o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	sums := r.Summarize()
	stepped := 0
	for i, s := range sums {
		if i > 0 && s.Seq != sums[i-1].Seq+1 {
			t.Fatalf("files out of sequence: %s after %s", s.Name, sums[i-1].Name)
		}
		if s.ClockStep {
			stepped++
			if !s.First.Before(sums[i-1].Last) {
				t.Errorf("%s flagged, but starts %s after its predecessor's %s", s.Name, s.First, sums[i-1].Last)
			}
		}
	}
	if stepped != 1 || !sums[2].ClockStep {
		t.Fatalf("%d files flagged for one clock step, want the third: %+v", stepped, sums)
	}
	if when := len("ectool_00000_"); sums[2].Name[when:] >= sums[1].Name[when:] {
		t.Fatalf("the file after the step, %s, should name an earlier time than %s", sums[2].Name, sums[1].Name)
	}
	out := filepath.Join(t.TempDir(), "all.pcapng")
	res, err := Export(r, Window{}, out, FormatPcapng)
	if err != nil || res.Packets != int(seq) {
		t.Fatalf("export: %v, %d packets, want %d", err, res.Packets, seq)
	}
}
