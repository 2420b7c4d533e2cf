package netpath

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// DialFailure sorts a TCP connect error: "refused", "timed_out",
// "no_route", "reset" or "error".
func DialFailure(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return "no_route"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timed_out"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	}
	s := strings.ToLower(err.Error())
	switch {
	case strings.Contains(s, "refused"):
		return "refused"
	case strings.Contains(s, "no route") || strings.Contains(s, "unreachable"):
		return "no_route"
	case strings.Contains(s, "timeout") || strings.Contains(s, "timed out"):
		return "timed_out"
	}
	return "error"
}

// DialWords sorts a dial error (DialFailure) and words the outcome so that
// it reads after "TCP connection to ADDR ".
func DialWords(err error) (kind, words string) {
	kind = DialFailure(err)
	switch kind {
	case "refused":
		return kind, "refused: nothing listens on that port (the host answered with a reset)"
	case "no_route":
		return kind, "failed: no route to host (network or host unreachable)"
	case "timed_out":
		return kind, "timed out: no answer at all (packets dropped)"
	case "reset":
		return kind, "was reset by the peer"
	}
	return kind, "failed: " + err.Error()
}

// TCPHint is the next step after a TCP connect that failed as kind.
func TCPHint(kind string, e Endpoint, timeout time.Duration) string {
	switch kind {
	case "refused":
		if e.isBroker() {
			return fmt.Sprintf("the host is up but nothing listens on port %d: is the broker running, and is %d its %s port? (usual ports: mqtt 1883, mqtts 8883, ws 80/8080, wss 443/8084)", e.Port, e.Port, e.Scheme)
		}
		return fmt.Sprintf("the host is up but nothing listens on port %d: is the service running, and is %d its port?", e.Port, e.Port)
	case "no_route":
		return fmt.Sprintf("this machine has no route to the %s: check the gateway's IP settings, default route and modem/APN, or the %s address", e.role(), e.role())
	case "timed_out":
		return fmt.Sprintf("nothing answered within %s: a firewall drops the traffic, or the host is down or wrong; check that port %d is open from this network (raise --timeout on a slow link)", seconds(timeout), e.Port)
	}
	return fmt.Sprintf("check the %s address and this machine's network", e.role())
}

// DNSWords explains a failed lookup of host by the system resolver. role
// names what the host is ("broker", "server").
func DNSWords(host, role string, err error, timeout time.Duration) (string, string) {
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		return fmt.Sprintf("no such host %q: the name does not exist in DNS", host),
			fmt.Sprintf("check the spelling of the %s host; if it is an internal name, this network's DNS server may not know it", role)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &de) && de.IsTimeout):
		return fmt.Sprintf("DNS lookup of %q got no answer within %s", host, seconds(timeout)),
			fmt.Sprintf("the DNS server does not answer: check the gateway's DNS settings (or the modem's), or use the %s's IP address to confirm", role)
	case errors.As(err, &de) && (strings.Contains(de.Err, "unreachable") || strings.Contains(de.Err, "refused")):
		server := "the DNS server"
		if de.Server != "" {
			server += " " + de.Server
		}
		return fmt.Sprintf("DNS lookup of %q failed: %s cannot be reached (%s)", host, server, de.Err),
			fmt.Sprintf("this machine has no working path to its DNS server: check its network (default route, modem/APN) and DNS settings, or use the %s's IP address to confirm", role)
	case errors.As(err, &de) && de.IsTemporary:
		return fmt.Sprintf("DNS lookup of %q failed: %s (a temporary DNS server failure)", host, de.Err),
			"retry; if it persists, check the gateway's DNS servers"
	}
	return fmt.Sprintf("DNS lookup of %q failed: %v", host, err),
		fmt.Sprintf("check the gateway's DNS settings, or use the %s's IP address to confirm", role)
}
