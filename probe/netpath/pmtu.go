package netpath

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"syscall"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// pmtuLadder are the packet sizes the path MTU probe tries below the
// interface's MTU: Ethernet, PPPoE, common tunnel and cellular MTUs, IPv6's
// minimum, and a small one that any path carries.
var pmtuLadder = []int{9000, 1500, 1492, 1480, 1460, 1440, 1420, 1400, 1380, 1350, 1300, 1280, 1200, 1100, 1000, 800, 576, 128}

// pmtuRepeats: each size is sent twice, so one lost packet is not taken
// for a black hole.
const pmtuRepeats = 2

// pmtuOutcome is what the don't-fragment probes found.
type pmtuOutcome struct {
	kind       string
	ifaceMTU   int
	top        int
	passed     map[int]bool // size: answered
	fragNeeded int          // "fragmentation needed" errors received
	reported   int          // the MTU they announce
	fragFrom   string       // the router that sent one
	pathMTU    int          // largest size that crossed
	v6         bool
	err        string
}

// runPMTU sends echo requests with the don't-fragment bit, every size of
// the ladder at once from the interface's MTU down, then a finer ladder
// between the largest that crossed and the smallest that vanished. A round
// waits four round trips of net.icmp, at least a second, within the step's
// timeout.
func runPMTU(ctx context.Context, dst netip.Addr, iface string, ifaceMTU int, rtt, timeout time.Duration) pmtuOutcome {
	v6 := dst.Is6() && !dst.Is4In6()
	out := pmtuOutcome{ifaceMTU: ifaceMTU, passed: map[int]bool{}, v6: v6}
	c, _, deadline, err := openICMPStep(ctx, dst, iface, true, timeout)
	if err != nil {
		out.err = icmpOpenWords(err)
		return out
	}
	defer c.Close()
	out.kind = c.Kind()
	wait := max(4*rtt, time.Second)
	top := ifaceMTU
	if top <= 0 || top > 9000 {
		top = 9000
	}
	out.top = top
	sizes := []int{top}
	for _, s := range pmtuLadder {
		if s < top {
			sizes = append(sizes, s)
		}
	}
	out.round(c, sizes, minTime(deadline, time.Now().Add(wait)))
	if lo, hi, ok := out.gap(); ok && hi-lo > 8 {
		var fine []int
		for i := 1; i < 8; i++ {
			fine = append(fine, lo+(hi-lo)*i/8)
		}
		out.round(c, fine, minTime(deadline, time.Now().Add(wait)))
	}
	if out.fragNeeded > 0 && out.reported == 0 {
		out.reported = c.PathMTU()
	}
	for s, ok := range out.passed {
		if ok {
			out.pathMTU = max(out.pathMTU, s)
		}
	}
	return out
}

// round sends every size pmtuRepeats times and collects answers until all
// sizes are answered or until.
func (o *pmtuOutcome) round(c icmpConn, sizes []int, until time.Time) {
	seqSize := map[int]int{}
	seq := 1000 * (len(o.passed) + 1)
	for r := 0; r < pmtuRepeats; r++ {
		for _, s := range sizes {
			if _, ok := o.passed[s]; !ok {
				o.passed[s] = false
			}
			seqSize[seq] = s
			if err := c.Send(seq, s); err != nil && !errors.Is(err, syscall.EMSGSIZE) {
				o.err = err.Error()
			}
			seq++
		}
	}
	left := len(sizes)
	for left > 0 && time.Now().Before(until) {
		got, err := c.Recv(until)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return
		case errors.Is(err, syscall.EMSGSIZE):
			o.fragNeeded++
			var ie *ICMPError
			if errors.As(err, &ie) && ie.MTU > 0 {
				o.reported = ie.MTU
				if ie.From.IsValid() {
					o.fragFrom = ie.From.String()
				}
			}
		case err != nil:
		default:
			if s, ok := seqSize[got]; ok && !o.passed[s] {
				o.passed[s] = true
				left--
			}
		}
	}
}

// gap is the largest size that crossed and the smallest larger one that
// vanished, when there is one.
func (o *pmtuOutcome) gap() (lo, hi int, ok bool) {
	for s, passed := range o.passed {
		if passed && s > lo {
			lo = s
		}
	}
	for s, passed := range o.passed {
		if !passed && s > lo && (hi == 0 || s < hi) {
			hi = s
		}
	}
	return lo, hi, lo > 0 && hi > 0
}

// judge fills net.pmtu: ok when full-size packets cross, or when a router
// says "fragmentation needed" (path MTU discovery works); failed for a black
// hole (small packets cross, large ones vanish, nobody says why).
func (o pmtuOutcome) judge(ch *report.Check, iface, pathIface string) {
	if o.err != "" && o.kind == "" {
		ch.Status, ch.SkippedReason, ch.Evidence = report.Skipped, o.err, nil
		return
	}
	passed, vanished := []int{}, []int{}
	for s, ok := range o.passed {
		if ok {
			passed = append(passed, s)
		} else {
			vanished = append(vanished, s)
		}
	}
	sort.Ints(passed)
	sort.Ints(vanished)
	ch.Evidence["socket"] = o.kind
	ch.Evidence["interface_mtu"] = o.ifaceMTU
	ch.Evidence["passed"] = passed
	ch.Evidence["vanished"] = vanished
	if o.fragNeeded > 0 {
		ch.Evidence["frag_needed"] = o.fragNeeded
	}
	if o.pathMTU > 0 {
		ch.Evidence["path_mtu"] = o.pathMTU
	}
	if pathIface == "" {
		pathIface = iface
	}
	lo, hi, gap := o.gap()
	var above bool // a vanished size below one that crossed
	for _, v := range vanished {
		if v < o.pathMTU {
			above = true
		}
	}
	switch {
	case len(passed) == 0:
		warn(ch, "no don't-fragment probe was answered, though plain echoes were: the path may rate-limit or drop large ICMP; the path MTU is unknown")
	case o.fragNeeded > 0:
		mtu := o.reported
		if mtu <= 0 || mtu > o.ifaceMTU {
			mtu = o.pathMTU
		}
		ch.Evidence["reported_mtu"] = mtu
		if o.fragFrom != "" {
			ch.Evidence["frag_needed_from"] = o.fragFrom
		}
		ch.Evidence["note"] = fmt.Sprintf("a router on the path has an MTU of %d and says so (ICMP 'fragmentation needed' reaches this host): TCP adapts", mtu)
	case above:
		warn(ch, fmt.Sprintf("probes vanished below the largest that crossed (%d bytes): loss on the path makes the path MTU uncertain; run again", o.pathMTU))
	case !gap && o.top < o.ifaceMTU:
		ch.Evidence["note"] = fmt.Sprintf("packets of %d bytes cross the path (the probe stops there; the interface's MTU is %d)", o.pathMTU, o.ifaceMTU)
	case !gap:
		ch.Evidence["note"] = fmt.Sprintf("full-size packets (%d bytes, the interface's MTU) cross the path", o.pathMTU)
	default:
		mss := lo - 40
		if o.v6 {
			mss = lo - 60
		}
		fail(ch, fmt.Sprintf("path MTU black hole: don't-fragment packets up to %d bytes cross, from %d bytes they vanish, and no router says 'fragmentation needed' (the interface's MTU is %d)", lo, hi, o.ifaceMTU),
			fmt.Sprintf("TCP segments larger than %d bytes are lost (a TLS handshake with a large certificate chain stalls first): clamp the TCP MSS to %d on the gateway (nft: tcp flags syn tcp option maxseg size set %d), or lower %s's MTU to %d (ip link set dev %s mtu %d), and have the router that drops them send ICMP 'fragmentation needed'", lo, mss, mss, pathIface, lo, pathIface, lo))
	}
}
