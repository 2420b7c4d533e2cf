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
