package netpath

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// DialFunc opens a connection, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// StepSystemDNS resolves host with the system's resolver (the hosts file,
// then the configured DNS servers, as every program on this machine does)
// within timeout, fills ch and returns the addresses. An IP literal needs
// no lookup. role names the host in the words ("broker", "server").
func StepSystemDNS(ctx context.Context, host, role string, timeout time.Duration, ch *report.Check) ([]string, bool) {
	if ch.Evidence == nil {
		ch.Evidence = map[string]any{}
	}
	ch.Evidence["host"] = host
	if ip := net.ParseIP(host); ip != nil {
		ch.Evidence["addresses"] = []string{ip.String()}
		ch.Evidence["lookup"] = fmt.Sprintf("not needed: the %s is an IP address", role)
		return []string{ip.String()}, true
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	ips, err := net.DefaultResolver.LookupIPAddr(sctx, host)
	ch.Evidence["lookup_ms"] = report.Millis(time.Since(t0))
	if err == nil && len(ips) == 0 {
		err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	if err != nil {
		msg, hint := DNSWords(host, role, err, timeout)
		fail(ch, msg, hint)
		return nil, false
	}
	addrs := make([]string, 0, len(ips))
	for _, ip := range ips {
		addrs = append(addrs, ip.IP.String())
	}
	ch.Evidence["addresses"] = addrs
	return addrs, true
}

// StepTCP connects to the addresses in turn (port e.Port) through dial
// (nil: a plain net.Dialer), fills ch and returns the first connection.
// The step's timeout is shared between the addresses: refused, timed out
// (silent drop) and no route are told apart.
func StepTCP(ctx context.Context, dial DialFunc, addrs []string, e Endpoint, timeout time.Duration, ch *report.Check) (net.Conn, bool) {
	if ch.Evidence == nil {
		ch.Evidence = map[string]any{}
	}
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	port := strconv.Itoa(e.Port)
	var attempts []map[string]any
	var lastErr error
	var lastAddr string
	for i, a := range addrs {
		addr := net.JoinHostPort(a, port)
		deadline, _ := sctx.Deadline()
		per := time.Until(deadline) / time.Duration(len(addrs)-i)
		actx, acancel := context.WithTimeout(sctx, per)
		t0 := time.Now()
		conn, err := dial(actx, "tcp", addr)
		elapsed := time.Since(t0)
		acancel()
		if err == nil {
			ch.Evidence["address"] = addr
			ch.Evidence["local_address"] = conn.LocalAddr().String()
			ch.Evidence["connect_ms"] = report.Millis(elapsed)
			if len(attempts) > 0 {
				ch.Evidence["failed_attempts"] = attempts
			}
			return conn, true
		}
		kind := DialFailure(err)
		attempts = append(attempts, map[string]any{"address": addr, "result": kind, "error": err.Error(), "after_ms": report.Millis(elapsed)})
		lastErr, lastAddr = err, addr
	}
	if lastErr == nil {
		fail(ch, "no address to connect to", "the name resolved to no address")
		return nil, false
	}
	ch.Evidence["attempts"] = attempts
	kind, words := DialWords(lastErr)
	ch.Evidence["result"] = kind
	fail(ch, fmt.Sprintf("TCP connection to %s %s", lastAddr, words), TCPHint(kind, e, timeout))
	return nil, false
}
