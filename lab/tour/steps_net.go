package tour

import (
	"context"
	"fmt"
	"net"
	"net/url"

	"github.com/ecdata/ectool/diag/report"
)

// The steps of `ectool probe net` against the lab: the TLS listener
// reached layer by layer, and a closed port refused.

func stepProbeNet(ctx context.Context, tr *Tour) Verdict {
	b := tr.EP.Broker
	c := tr.Run(ctx, "probe", "net", b.MQTTS, "--ca", b.CAFile)
	return judgeProbeNet(c)
}

// judgeProbeNet wants every layer ok, except ICMP, which may be skipped
// with its reason: an unprivileged user may open a ping socket only
// within the host's net.ipv4.ping_group_range.
func judgeProbeNet(c *Command) Verdict {
	d, v := wantReport(c, 0, map[string]report.Status{
		"net.iface": ok, "net.dns": ok, "net.tcp": ok, "net.tls": ok})
	if v.failed() {
		return v
	}
	icmp := d.Check("net.icmp")
	switch {
	case icmp == nil:
		return problem("net.icmp is absent from the probe net report")
	case icmp.Status == report.Skipped && icmp.SkippedReason == "":
		return problem("net.icmp is skipped without a reason")
	case icmp.Status == report.Skipped:
		return Verdict{}.with("icmp", "skipped: "+icmp.SkippedReason)
	case icmp.Status != report.OK:
		return problem("net.icmp is %s on loopback (%s), want ok or skipped with its reason", icmp.Status, icmp.Hint)
	}
	return Verdict{}.with("icmp", "ok", "icmp_socket", icmp.Evidence["socket"])
}

func stepProbeRefused(ctx context.Context, tr *Tour) Verdict {
	port, err := closedPort(tr.EP.Broker.MQTT)
	if err != nil {
		return problem("cannot find a closed port: %v", err)
	}
	c := tr.Run(ctx, "probe", "net", port)
	return judgeProbeRefused(c)
}

// judgeProbeRefused wants exit 1 with net.tcp failed as refused (not timed
// out, not unreachable) and the layers above it skipped.
func judgeProbeRefused(c *Command) Verdict {
	d, v := wantReport(c, 1, map[string]report.Status{"net.tcp": failed, "net.tls": skips})
	if v.failed() {
		v.Hint = "nothing listens on that port"
		return v
	}
	if d.FirstFailure == nil || d.FirstFailure.ID != "net.tcp" {
		return problem("first_failure is %v, want net.tcp", d.FirstFailure)
	}
	if got := d.Check("net.tcp").Evidence["result"]; got != "refused" {
		return problem("net.tcp says %v, want refused", got)
	}
	return Verdict{}.with("tcp", "refused")
}

// closedPort is host:port on the broker's host where nothing listens: a
// port this process bound and let go of at once.
func closedPort(broker string) (string, error) {
	u, err := url.Parse(broker)
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(u.Hostname(), "0"))
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("closing %s: %v", addr, err)
	}
	return addr, nil
}
