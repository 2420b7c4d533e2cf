package mqtt

import (
	"context"
	"net"
	"net/url"
	"time"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/netpath"
)

// redactURL hides a password written into the broker URL.
func redactURL(broker string) string {
	u, err := url.Parse(broker)
	if err != nil || u.User == nil {
		return broker
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// checkDNS resolves the broker host (netpath.StepSystemDNS). An IP
// literal needs no lookup.
func (c *checker) checkDNS(ctx context.Context) ([]string, bool) {
	ch, start := c.begin(CheckDNS)
	defer c.add(ch, start)
	return netpath.StepSystemDNS(ctx, c.target.Host, "broker", c.o.Timeout, ch)
}

// checkTCP connects to the resolved addresses in turn and returns the first
// connection (netpath.StepTCP: the step's timeout is shared between the
// addresses).
func (c *checker) checkTCP(ctx context.Context, addrs []string) (net.Conn, bool) {
	ch, start := c.begin(CheckTCP)
	defer c.add(ch, start)
	return netpath.StepTCP(ctx, netpath.DialFunc(c.o.Dial), addrs, c.target.endpoint(), c.o.Timeout, ch)
}

// endpoint is the broker as the netpath words name it.
func (b Broker) endpoint() netpath.Endpoint {
	return netpath.Endpoint{Scheme: b.Scheme, Host: b.Host, Port: b.Port, Role: "broker"}
}

// checkTLS runs a TLS handshake on conn to measure what the broker offers
// (netpath.StepTLS: the chain is verified by hand, so the evidence holds
// it even when it is not trusted) and closes conn. The check is returned,
// not recorded: checkConnect may still learn that the broker rejected the
// client certificate.
func (c *checker) checkTLS(ctx context.Context, raw net.Conn) (*report.Check, time.Time) {
	ch, start := c.begin(CheckTLS)
	defer raw.Close()
	// Timed here: the check is recorded after CONNECT.
	defer func() { ch.DurationMS = report.Millis(time.Since(start)) }()
	o := c.o.TLS
	serverName := o.ServerName
	if serverName == "" {
		serverName = c.target.Host
	}
	c.tls = &netpath.HandshakeState{ServerName: serverName}
	cfg, err := o.Config(c.target.Host)
	if err != nil {
		ch.Evidence["server_name"] = serverName
		msg, hint := Explain(err)
		fail(ch, msg, hint)
		return ch, start
	}
	c.tls, _ = netpath.StepTLS(ctx, raw, netpath.TLSCheckOptions{
		Config: cfg, ServerName: serverName, CAFile: o.CAFile, ServerNameGiven: o.ServerName != "",
		Insecure: o.Insecure, Pins: c.o.Pins, Timeout: c.o.Timeout, Now: c.o.Now(), Endpoint: c.target.endpoint(),
	}, ch)
	return ch, start
}
