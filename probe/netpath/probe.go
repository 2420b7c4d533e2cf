package netpath

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// Probe runs the ladder for every target (all at once): net.iface, net.dns,
// then net.icmp and net.pmtu beside net.tcp, net.tls and net.mqtt. Each
// step is bounded by o.Timeout, the whole run by o.RunBound(); a failed
// step skips those that depend on it, each with the reason. A slow step
// never hides the others: ICMP that gets no answer does not delay TCP.
func Probe(ctx context.Context, o Options) *Result {
	o = o.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.RunBound())
	defer cancel()
	rs := o.resolvers()
	res := &Result{Targets: make([]*TargetResult, len(o.Targets))}
	runs := make([]*run, len(o.Targets))
	var wg sync.WaitGroup
	for i, t := range o.Targets {
		runs[i] = newRun(ctx, o, t, rs)
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i].ladder(ctx)
		}()
	}
	wg.Wait()
	for i, r := range runs {
		res.Targets[i] = r.result()
		switch {
		case res.Err != nil:
		case r.missingIface:
			res.Err = &CannotRunError{Message: fmt.Sprintf("no interface %q on this machine", o.Iface),
				Hint: "check the name with 'ip link' (net.iface lists those there are)"}
		case r.bindErr != nil:
			res.Err = &CannotRunError{Message: r.bindErr.Error(),
				Hint: "binding to an interface needs Linux 5.7 or later, or CAP_NET_RAW on older kernels: run as root, or probe without --iface", Err: r.bindErr}
		}
	}
	return res
}

// run is the ladder of one target.
type run struct {
	caller    context.Context // the caller's: cancelled means interrupted
	o         Options
	t         Target
	endpoint  Endpoint
	resolvers resolverSet
	dial      DialFunc // bound to o.Iface when set
	res       *TargetResult

	mu     sync.Mutex
	checks map[string]*report.Check

	ifi          *net.Interface
	prefixes     []netip.Prefix
	missingIface bool
	bindErr      error

	// Shared between the two branches, read after both ended.
	icmp    icmpOutcome
	pmtu    pmtuOutcome
	tlsWait *tlsStall
}

func newRun(caller context.Context, o Options, t Target, rs resolverSet) *run {
	r := &run{caller: caller, o: o, t: t, endpoint: t.Endpoint(o.MQTT != nil), resolvers: rs,
		res: &TargetResult{Target: t}, checks: map[string]*report.Check{}}
	r.dial = r.dialer(o.Iface)
	return r
}

// dialer dials with sockets bound to iface ("" unbound).
func (r *run) dialer(iface string) DialFunc {
	d := &net.Dialer{Control: bindControl(iface)}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		var be *BindError
		if errors.As(err, &be) {
			r.mu.Lock()
			r.bindErr = be
			r.mu.Unlock()
		}
		return c, err
	}
}

// step runs fn as check id, timed, and records it.
func (r *run) step(id string, fn func(ch *report.Check)) report.Status {
	ch := &report.Check{ID: id, Title: checkTitles[id], Status: report.OK, Evidence: map[string]any{}}
	start := time.Now()
	fn(ch)
	r.record(ch, start)
	return ch.Status
}

func (r *run) record(ch *report.Check, start time.Time) {
	ch.DurationMS = report.Millis(time.Since(start))
	if len(ch.Evidence) == 0 {
		ch.Evidence = nil
	}
	if ch.Status == report.Failed && r.caller.Err() != nil && !errors.Is(r.caller.Err(), context.DeadlineExceeded) {
		ch.Status, ch.Hint, ch.SkippedReason = report.Skipped, "", "interrupted"
	}
	r.mu.Lock()
	r.checks[ch.ID] = ch
	r.mu.Unlock()
}

func (r *run) skip(reason string, ids ...string) {
	if r.caller.Err() != nil && !errors.Is(r.caller.Err(), context.DeadlineExceeded) {
		reason = "interrupted"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if id == CheckMQTT && r.o.MQTT == nil {
			continue
		}
		r.checks[id] = &report.Check{ID: id, Title: checkTitles[id], Status: report.Skipped, SkippedReason: reason}
	}
}

func (r *run) get(id string) *report.Check {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.checks[id]
}

// after is the skipped_reason of a check that depends on a failed one.
func after(id string) string { return "depends on " + id + ", which failed" }

// result lists the checks in ladder order.
func (r *run) result() *TargetResult {
	for _, id := range CheckOrder {
		if c := r.checks[id]; c != nil {
			r.res.Checks = append(r.res.Checks, *c)
		}
	}
	return r.res
}

func (r *run) ladder(ctx context.Context) {
	rest := CheckOrder[1:]
	ifaceCh := &report.Check{ID: CheckIface, Title: checkTitles[CheckIface], Status: report.OK, Evidence: map[string]any{}}
	ifaceStart := time.Now()
	if r.o.Iface != "" && !r.checkIfaceBound(ifaceCh) {
		r.record(ifaceCh, ifaceStart)
		r.skip(after(CheckIface), rest...)
		return
	}
	ifaceTime := time.Since(ifaceStart)
	var addrs []string
	dnsOK := r.step(CheckDNS, func(ch *report.Check) {
		var ok bool
		if addrs, ok = r.checkDNS(ctx, ch); !ok {
			addrs = nil
		}
	}) != report.Failed
	r.res.Addresses = addrs
	if !dnsOK {
		ifaceCh.Evidence["route"] = "not looked up: the target's name did not resolve"
		r.recordTimed(ifaceCh, ifaceTime)
		r.skip(after(CheckDNS), CheckICMP, CheckTCP, CheckPMTU, CheckTLS, CheckMQTT)
		return
	}
	routeStart := time.Now()
	addrs = r.checkRoute(ctx, ifaceCh, addrs)
	r.recordTimed(ifaceCh, ifaceTime+time.Since(routeStart))
	if ifaceCh.Status == report.Failed {
		r.skip(after(CheckIface), CheckICMP, CheckTCP, CheckPMTU, CheckTLS, CheckMQTT)
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		r.icmpBranch(ctx, addrs[0])
	}()
	go func() {
		defer wg.Done()
		r.tcpBranch(ctx, addrs)
	}()
	wg.Wait()
	r.judgeAcross()
}

// recordTimed records a check whose duration was measured in pieces.
func (r *run) recordTimed(ch *report.Check, d time.Duration) {
	r.record(ch, time.Now().Add(-d))
}

// tcpBranch: net.tcp, net.tls, net.mqtt.
func (r *run) tcpBranch(ctx context.Context, addrs []string) {
	var conn net.Conn
	netStart := time.Now()
	if r.step(CheckTCP, func(ch *report.Check) {
		var ok bool
		if conn, ok = StepTCP(ctx, r.dial, addrs, r.endpoint, r.o.Timeout, ch); ok {
			r.res.Address, _ = ch.Evidence["address"].(string)
		}
	}) == report.Failed {
		r.skip(after(CheckTCP), CheckTLS, CheckMQTT)
		return
	}
	if !r.t.TLS {
		conn.Close()
		r.skip("not a TLS target (TLS runs for mqtts://, wss://, https://, ports 8883, 443 and 8443, and --tls)", CheckTLS)
	} else if r.step(CheckTLS, func(ch *report.Check) { r.checkTLS(ctx, conn, ch) }) == report.Failed {
		r.skip(after(CheckTLS), CheckMQTT)
		return
	}
	if r.o.MQTT == nil {
		return
	}
	url := r.t.BrokerURL()
	if url == "" {
		r.skip(fmt.Sprintf("%s:// is not an MQTT target", r.t.Scheme), CheckMQTT)
		return
	}
	netTime := time.Since(netStart)
	r.step(CheckMQTT, func(ch *report.Check) {
		ch.Evidence["broker"] = url
		// The broker's name stays in the URL (TLS verifies it); the
		// connection goes to the address net.tcp reached, bound as it was.
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			return r.dial(ctx, network, r.res.Address)
		}
		out := r.o.MQTT(ctx, url, dial, r.o.Timeout+netTime)
		for k, v := range out.Evidence {
			ch.Evidence[k] = v
		}
		if out.Failed {
			fail(ch, out.Message, out.Hint)
		}
	})
}

// icmpBranch: net.icmp, then net.pmtu when echo answered.
func (r *run) icmpBranch(ctx context.Context, addr string) {
	dst, _ := netip.ParseAddr(addr)
	r.step(CheckICMP, func(ch *report.Check) {
		r.icmp = runICMP(ctx, dst, r.o.Iface, r.o.Count, r.o.Interval, r.o.Timeout)
		r.icmp.evidence(ch)
	})
	if reason := r.icmp.pmtuSkip(); reason != "" {
		r.skip(reason, CheckPMTU)
		return
	}
	r.step(CheckPMTU, func(ch *report.Check) {
		r.pmtu = runPMTU(ctx, dst, r.o.Iface, r.res.MTU, r.icmp.maxRTT(), r.o.Timeout)
		r.pmtu.judge(ch, r.o.Iface, r.res.Interface)
		r.res.PathMTU = r.pmtu.pathMTU
	})
}

// judgeAcross settles what needs both branches: ICMP without an answer is
// only a warning while TCP works, and a TLS handshake that stalled points
// at the path MTU when net.pmtu found a black hole.
func (r *run) judgeAcross() {
	if ic := r.get(CheckICMP); ic != nil {
		r.icmp.judge(ic, r.get(CheckTCP))
	}
	if tc := r.get(CheckTLS); tc != nil && r.tlsWait != nil {
		r.tlsWait.judge(tc, r.get(CheckPMTU), r.pmtu)
	}
}

// tlsConfig is the client configuration for the target: SNI, ALPN.
func (r *run) tlsConfig() (*tls.Config, string) {
	cfg := r.o.TLS.Clone()
	name := r.o.ServerName
	if name == "" {
		name = r.t.Host
	}
	if len(cfg.NextProtos) == 0 && r.t.Scheme == "https" {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	return cfg, name
}
