package netpath

import (
	"context"
	"crypto/tls"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// The check IDs `ectool probe net` emits, in ladder order (docs/checks.md).
const (
	CheckIface = "net.iface"
	CheckDNS   = "net.dns"
	CheckICMP  = "net.icmp"
	CheckTCP   = "net.tcp"
	CheckPMTU  = "net.pmtu"
	CheckTLS   = "net.tls"
	CheckMQTT  = "net.mqtt"
)

// CheckOrder is the order of the checks in a report, per target.
var CheckOrder = []string{CheckIface, CheckDNS, CheckICMP, CheckTCP, CheckPMTU, CheckTLS, CheckMQTT}

var checkTitles = map[string]string{
	CheckIface: "the interface is up, has an address and a route to the target",
	CheckDNS:   "each DNS resolver answers for the target (A and AAAA)",
	CheckICMP:  "the target answers ICMP echo (loss, latency)",
	CheckTCP:   "a TCP connection opens to the target's port",
	CheckPMTU:  "full-size packets cross the path (path MTU, no black hole)",
	CheckTLS:   "TLS handshake and certificates",
	CheckMQTT:  "MQTT CONNECT accepted",
}

// CheckTitle is the title of a check ID.
func CheckTitle(id string) string { return checkTitles[id] }

// Defaults of Options.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultCount    = 3
	DefaultInterval = 200 * time.Millisecond
)

// Options are the inputs of Probe.
type Options struct {
	Targets []Target
	// Iface binds every socket of the probe to this interface
	// (SO_BINDTODEVICE, Linux), whatever the routing table prefers; "" lets
	// the routing table choose.
	Iface string
	// DNS lists the resolvers to ask ("ip" or "ip:port"); empty: those of
	// the resolv.conf (or the system's resolver where there is none).
	DNS []string
	// Count is the number of ICMP echoes (default 3), Interval their spacing
	// (default 200 ms).
	Count    int
	Interval time.Duration
	// Timeout bounds each step (default 5 s). The whole run is bounded by
	// RunBound.
	Timeout time.Duration

	// TLS is the client configuration for net.tls: roots (nil: the
	// system's), client certificate, ALPN, minimum version. nil: defaults.
	TLS *tls.Config
	// CAFile names the roots in the evidence ("" reads "system roots");
	// ServerName is --servername ("" sends the target's host); Insecure is
	// --insecure.
	CAFile     string
	ServerName string
	Insecure   bool
	// Pins (sha256//BASE64): net.tls fails unless a certificate of the
	// chain has one of them.
	Pins []string

	// MQTT, when set, adds net.mqtt: it logs in to the broker over
	// connections from dial (bound to Iface, to the address net.tcp
	// reached). probe/netpath never imports probe/mqtt: the caller hands
	// the step in.
	MQTT MQTTFunc

	// Now is the clock of the report and of certificate dates (nil:
	// time.Now).
	Now func() time.Time
	// ResolvConf, ResolvedConf and HostsFile are the files the DNS step
	// reads (defaults DefaultResolvConf, DefaultResolvedConf,
	// DefaultHostsFile).
	ResolvConf, ResolvedConf, HostsFile string
}

// MQTTFunc is the net.mqtt step: CONNECT to brokerURL over dial within
// timeout, and say how it went.
type MQTTFunc func(ctx context.Context, brokerURL string, dial DialFunc, timeout time.Duration) MQTTOutcome

// MQTTOutcome is what the MQTT step found: evidence, and for a refusal or a
// failure a message and hint in words.
type MQTTOutcome struct {
	Evidence map[string]any
	Failed   bool
	Message  string
	Hint     string
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Count <= 0 {
		o.Count = DefaultCount
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ResolvConf == "" {
		o.ResolvConf = DefaultResolvConf
	}
	if o.ResolvedConf == "" {
		o.ResolvedConf = DefaultResolvedConf
	}
	if o.HostsFile == "" {
		o.HostsFile = DefaultHostsFile
	}
	if o.TLS == nil {
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return o
}

// RunBound is the longest a probe with these options may take: DNS, TCP
// and TLS each get one Timeout (ICMP and the path MTU run beside TCP and
// TLS), net.mqtt two (it dials again), and two seconds for the rest.
func (o Options) RunBound() time.Duration {
	o = o.withDefaults()
	n := 3
	if o.MQTT != nil {
		n += 2
	}
	return time.Duration(n)*o.Timeout + 2*time.Second
}

// Result is what Probe found, target by target.
type Result struct {
	Targets []*TargetResult
	// Err is set when the probe could not run (a *CannotRunError: no such
	// interface, sockets cannot be bound to it); commands exit 3.
	Err error
}

// TargetResult is the ladder of one target.
type TargetResult struct {
	Target Target
	Checks []report.Check
	// Addresses are what DNS gave (or the IP literal); Address the one
	// TCP reached.
	Addresses []string
	Address   string
	// Interface is the interface the path leaves by (Iface, or the
	// routing table's choice) and MTU its MTU.
	Interface string
	MTU       int
	// PathMTU is the largest packet that crossed the path (0: unknown).
	PathMTU int
}

// Report adds the checks of every target to rep, each naming its target,
// and the command's details.
func (r *Result) Report(rep *report.Report, o Options) {
	o = o.withDefaults()
	var targets []map[string]any
	for _, t := range r.Targets {
		for _, c := range t.Checks {
			c.Target = t.Target.Raw
			rep.Add(c)
		}
		d := map[string]any{"target": t.Target.Raw, "host": t.Target.Host, "port": t.Target.Port, "tls": t.Target.TLS}
		if t.Target.Scheme != "" {
			d["scheme"] = t.Target.Scheme
		}
		if len(t.Addresses) > 0 {
			d["addresses"] = t.Addresses
		}
		if t.Address != "" {
			d["address"] = t.Address
		}
		if t.Interface != "" {
			d["interface"] = t.Interface
			d["mtu"] = t.MTU
		}
		if t.PathMTU > 0 {
			d["path_mtu"] = t.PathMTU
		}
		targets = append(targets, d)
	}
	rep.SetDetail("targets", targets)
	if o.Iface != "" {
		rep.SetDetail("iface", o.Iface)
	}
	rep.SetDetail("timeout_ms", report.Millis(o.Timeout))
	rep.SetDetail("run_bound_ms", report.Millis(o.RunBound()))
	rep.SetDetail("count", o.Count)
	if len(o.Pins) > 0 {
		rep.SetDetail("pins", o.Pins)
	}
}
