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

// icmpConn is an ICMP echo socket connected to one destination: a ping
// socket (SOCK_DGRAM, allowed to groups in net.ipv4.ping_group_range) or a
// raw one (CAP_NET_RAW).
type icmpConn interface {
	// Kind says which: "ping socket" or "raw socket".
	Kind() string
	// Send sends echo request seq as an IP packet of size bytes.
	Send(seq, size int) error
	// Recv waits until deadline for the next echo reply to us (its seq), or
	// the next ICMP error about our packets (EHOSTUNREACH, EMSGSIZE for
	// "fragmentation needed", ...).
	Recv(deadline time.Time) (int, error)
	// PathMTU is the path MTU the kernel learnt (0: unknown).
	PathMTU() int
	Close() error
}

// ICMPError is an ICMP error a router (or the target) sent about one of our
// packets: errors.Is(err, syscall.EHOSTUNREACH) and the like work on it.
type ICMPError struct {
	Errno      syscall.Errno
	Type, Code int
	From       netip.Addr // who sent it (invalid when unknown)
	MTU        int        // for "fragmentation needed": the next hop's MTU
}

func (e *ICMPError) Error() string {
	s := e.Errno.Error()
	if e.From.IsValid() {
		s += " (from " + e.From.String() + ")"
	}
	return s
}

func (e *ICMPError) Unwrap() error { return e.Errno }

// icmpDeniedError: neither kind of ICMP socket may be opened.
type icmpDeniedError struct{ Reason string }

func (e *icmpDeniedError) Error() string { return e.Reason }

// echoSize is the size of an echo request packet: ping's default (56 bytes
// of data) plus the ICMP and IP headers.
func echoSize(v6 bool) int {
	if v6 {
		return 56 + 8 + 40
	}
	return 56 + 8 + 20
}

// icmpOutcome is what net.icmp measured.
type icmpOutcome struct {
	kind        string
	skipped     string // why no socket could be used
	sent        int
	received    int
	rtts        []time.Duration
	errs        map[string]int
	interval    time.Duration
	timeout     time.Duration
	unreachable bool
}

// runICMP sends count echoes interval apart and waits for the replies until
// every echo is answered or the step's timeout has passed.
func runICMP(ctx context.Context, dst netip.Addr, iface string, count int, interval, timeout time.Duration) icmpOutcome {
	out := icmpOutcome{errs: map[string]int{}, interval: interval, timeout: timeout}
	c, start, deadline, err := openICMPStep(ctx, dst, iface, false, timeout)
	if err != nil {
		out.skipped = icmpOpenWords(err)
		return out
	}
	defer c.Close()
	out.kind = c.Kind()
	v6 := dst.Is6() && !dst.Is4In6()
	sentAt := map[int]time.Time{}
	answered := map[int]bool{}
	for ctx.Err() == nil {
		now := time.Now()
		if out.sent < count && !now.Before(start.Add(time.Duration(out.sent)*interval)) {
			sentAt[out.sent] = now
			if err := c.Send(out.sent, echoSize(v6)); err != nil {
				out.errs[icmpErrWords(err)]++
			}
			out.sent++
			continue
		}
		if out.sent == count && len(answered)+errCount(out.errs) >= count {
			break
		}
		if !now.Before(deadline) {
			break
		}
		wait := deadline
		if out.sent < count {
			wait = minTime(wait, start.Add(time.Duration(out.sent)*interval))
		}
		seq, err := c.Recv(wait)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
		case err != nil:
			out.errs[icmpErrWords(err)]++
			out.unreachable = out.unreachable || isUnreachable(err)
		case !answered[seq] && !sentAt[seq].IsZero():
			answered[seq] = true
			out.received++
			out.rtts = append(out.rtts, time.Since(sentAt[seq]))
		}
	}
	return out
}

// openICMPStep opens the ICMP socket a step probes with (probeMTU: with
// don't-fragment set) and times the step from the moment it is open: it
// ends timeout later, or at ctx's deadline when that comes first.
func openICMPStep(ctx context.Context, dst netip.Addr, iface string, probeMTU bool, timeout time.Duration) (c icmpConn, start, deadline time.Time, err error) {
	c, err = openICMP(dst, iface, probeMTU)
	if err != nil {
		return nil, start, deadline, err
	}
	start = time.Now()
	deadline = start.Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return c, start, deadline, nil
}

func errCount(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func isUnreachable(err error) bool {
	return errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.ECONNREFUSED)
}

// icmpErrWords names an ICMP error about our packets, and who sent it.
func icmpErrWords(err error) string {
	var ie *ICMPError
	if errors.As(err, &ie) && ie.From.IsValid() {
		return icmpErrKind(err) + " from " + ie.From.String()
	}
	return icmpErrKind(err)
}

func icmpErrKind(err error) string {
	switch {
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.Is(err, syscall.EMSGSIZE):
		return "fragmentation needed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "destination unreachable"
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
		return "refused by a local firewall"
	}
	return err.Error()
}

// icmpOpenWords says why no ICMP socket could be used.
func icmpOpenWords(err error) string {
	var de *icmpDeniedError
	if errors.As(err, &de) {
		return de.Reason
	}
	if errors.Is(err, ErrNotSupported) {
		return "ICMP probing is implemented on Linux only (" + err.Error() + ")"
	}
	return "no ICMP socket: " + err.Error()
}

func (o icmpOutcome) maxRTT() time.Duration {
	var m time.Duration
	for _, r := range o.rtts {
		m = max(m, r)
	}
	return m
}

// evidence fills net.icmp's evidence; the status waits for judge, which
// knows how TCP went.
func (o icmpOutcome) evidence(ch *report.Check) {
	if o.skipped != "" {
		ch.Status, ch.SkippedReason = report.Skipped, o.skipped
		ch.Evidence = nil
		return
	}
	ch.Evidence["socket"] = o.kind
	ch.Evidence["sent"] = o.sent
	ch.Evidence["received"] = o.received
	ch.Evidence["interval_ms"] = report.Millis(o.interval)
	if o.sent > 0 {
		ch.Evidence["loss_percent"] = 100 * (o.sent - o.received) / o.sent
	}
	if len(o.rtts) > 0 {
		s := append([]time.Duration(nil), o.rtts...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		var sum time.Duration
		for _, r := range s {
			sum += r
		}
		ch.Evidence["rtt_ms"] = map[string]float64{"min": report.Millis(s[0]), "avg": report.Millis(sum / time.Duration(len(s))), "max": report.Millis(s[len(s)-1])}
	}
	if len(o.errs) > 0 {
		ch.Evidence["errors"] = o.errs
	}
}

// judge settles net.icmp once net.tcp is known: no reply at all is a
// warning while TCP connects (ICMP filtered), a failure when TCP does not.
func (o icmpOutcome) judge(ch, tcp *report.Check) {
	if ch.Status == report.Skipped {
		return
	}
	tcpOK := tcp != nil && tcp.Status != report.Failed && tcp.Status != report.Skipped
	switch {
	case o.sent > 0 && o.received == o.sent:
	case o.received > 0:
		warn(ch, fmt.Sprintf("%d of %d echoes lost: packet loss on the path (a weak radio link, a congested uplink); MQTT survives it but retransmits, so latency spikes", o.sent-o.received, o.sent))
	case o.unreachable:
		fail(ch, fmt.Sprintf("no echo reply: the path says %s", keys(o.errs)),
			"a router on the path has no route to the target: check the target address, and this network's routes and modem/APN")
	case tcpOK:
		ch.Evidence["note"] = "no reply to any echo while TCP connects: ICMP is filtered on the path"
		warn(ch, "ICMP echo is filtered on the path (common on cellular networks and behind cloud firewalls): it proves nothing here, TCP does; net.pmtu cannot probe either")
	default:
		fail(ch, fmt.Sprintf("no reply to %d ICMP echoes within %s, and TCP does not connect either", o.sent, seconds(o.timeout)),
			"the host is down, unreachable from here, or behind a firewall that drops everything: check the target address, this machine's route and the modem's data session")
	}
}

func keys(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	s := ""
	for i, k := range ks {
		if i > 0 {
			s += ", "
		}
		s += k
	}
	return s
}

// pmtuSkip is why net.pmtu cannot run after this net.icmp ("" when it can).
func (o icmpOutcome) pmtuSkip() string {
	switch {
	case o.skipped != "":
		return "no ICMP socket (see net.icmp): " + o.skipped
	case o.received == 0:
		return "ICMP echo gets no answer (net.icmp), so don't-fragment probes cannot tell the path MTU"
	}
	return ""
}
