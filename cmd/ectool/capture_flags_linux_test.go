package main

import (
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
)

// --pcap-format pcap holds one link type: lo (EN10MB) beside any
// (LINUX_SLL2) is refused before anything is opened, in one line, exit 2;
// pcapng takes both.
func TestCapturePcapFormatOverTwoLinkTypesIsExitTwo(t *testing.T) {
	_, code, errOut := parseCapture(t, "--iface", "lo", "--iface", "any", "--dir", "d", "--pcap-format", "pcap")
	lines := testenv.Lines(errOut)
	if code != ExitUsage || len(lines) != 1 || !strings.Contains(lines[0], "LINUX_SLL2") || !strings.Contains(lines[0], "use pcapng") {
		t.Fatalf("exit %d, stderr %q: want exit 2 and one line naming LINUX_SLL2 and pcapng", code, errOut)
	}
	if _, code, errOut := parseCapture(t, "--iface", "lo", "--iface", "any", "--dir", "d"); code != 0 {
		t.Fatalf("pcapng over lo and any: exit %d: %s", code, errOut)
	}
}
