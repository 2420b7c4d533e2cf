package netpath

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/ecdata/ectool/diag/report"
)

// The outcomes of one DNS query, as the evidence names them.
const (
	dnsAnswered    = "answer"      // addresses of the type asked
	dnsNoData      = "no_data"     // NOERROR, but no record of that type
	dnsNXDomain    = "nxdomain"    // the name does not exist
	dnsServFail    = "servfail"    // the server could not get an answer
	dnsRefused     = "refused"     // the server will not answer this client
	dnsTimeout     = "timeout"     // nothing came back
	dnsUnreachable = "unreachable" // ICMP: no route, or port 53 closed
	dnsError       = "error"       // anything else (a garbled answer...)
)

// DNSAnswer is what one query (one type, one server) gave.
type DNSAnswer struct {
	Result    string   `json:"result"`
	RCode     string   `json:"rcode,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
	CNAMEs    []string `json:"cnames,omitempty"`
	Truncated bool     `json:"truncated,omitempty"`
	MS        float64  `json:"ms"`
	Error     string   `json:"error,omitempty"`
}

// queryDNS asks server (ip:port) for name's records of type qtype over UDP
// through dial, within timeout.
func queryDNS(ctx context.Context, dial DialFunc, server, name string, qtype dnsmessage.Type, timeout time.Duration) DNSAnswer {
	t0 := time.Now()
	a := queryDNSOnce(ctx, dial, server, name, qtype, timeout)
	a.MS = report.Millis(time.Since(t0))
	return a
}

func queryDNSOnce(ctx context.Context, dial DialFunc, server, name string, qtype dnsmessage.Type, timeout time.Duration) DNSAnswer {
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dial(qctx, "udp", server)
	if err != nil {
		return dnsFailure(err)
	}
	defer conn.Close()
	if dl, ok := qctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	q, err := buildQuery(id, name, qtype)
	if err != nil {
		return DNSAnswer{Result: dnsError, Error: err.Error()}
	}
	if _, err := conn.Write(q); err != nil {
		return dnsFailure(err)
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return dnsFailure(err)
		}
		// Answers to other queries (a late one, a spoofed one) are ignored.
		if a, ok := parseDNSAnswer(buf[:n], id, name, qtype); ok {
			return a
		}
	}
}

// dnsFailure sorts a socket error of a query.
func dnsFailure(err error) DNSAnswer {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return DNSAnswer{Result: dnsTimeout}
	case errors.Is(err, syscall.ECONNREFUSED):
		return DNSAnswer{Result: dnsUnreachable, Error: "port unreachable: no DNS server listens there"}
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return DNSAnswer{Result: dnsUnreachable, Error: "no route to the server"}
	}
	var be *BindError
	if errors.As(err, &be) {
		return DNSAnswer{Result: dnsError, Error: be.Error()}
	}
	return DNSAnswer{Result: dnsError, Error: err.Error()}
}

// buildQuery is a recursive query for name, type qtype.
func buildQuery(id uint16, name string, qtype dnsmessage.Type) ([]byte, error) {
	n, err := dnsmessage.NewName(fqdn(name))
	if err != nil {
		return nil, fmt.Errorf("%q cannot be asked in DNS: %v", name, err)
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: n, Type: qtype, Class: dnsmessage.ClassINET}); err != nil {
		return nil, err
	}
	return b.Finish()
}

func fqdn(name string) string {
	if strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}

// parseDNSAnswer reads a server's answer to query id for name/qtype. ok is
// false for a message that is not that answer (another id, another
// question, a query, garbage): the caller keeps waiting.
func parseDNSAnswer(msg []byte, id uint16, name string, qtype dnsmessage.Type) (DNSAnswer, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || h.ID != id || !h.Response {
		return DNSAnswer{}, false
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 || qs[0].Type != qtype || !strings.EqualFold(qs[0].Name.String(), fqdn(name)) {
		return DNSAnswer{}, false
	}
	a := DNSAnswer{RCode: rcodeName(h.RCode), Truncated: h.Truncated}
	switch h.RCode {
	case dnsmessage.RCodeSuccess:
	case dnsmessage.RCodeNameError:
		a.Result = dnsNXDomain
		return a, true
	case dnsmessage.RCodeServerFailure:
		a.Result = dnsServFail
		return a, true
	case dnsmessage.RCodeRefused:
		a.Result = dnsRefused
		return a, true
	default:
		a.Result = dnsError
		a.Error = "the server answered " + a.RCode
		return a, true
	}
	for {
		rh, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			a.Result, a.Error = dnsError, "garbled answer: "+err.Error()
			return a, true
		}
		switch {
		case rh.Type == dnsmessage.TypeA && qtype == dnsmessage.TypeA:
			r, err := p.AResource()
			if err != nil {
				a.Result, a.Error = dnsError, "garbled A record: "+err.Error()
				return a, true
			}
			a.Addresses = append(a.Addresses, net.IP(r.A[:]).String())
		case rh.Type == dnsmessage.TypeAAAA && qtype == dnsmessage.TypeAAAA:
			r, err := p.AAAAResource()
			if err != nil {
				a.Result, a.Error = dnsError, "garbled AAAA record: "+err.Error()
				return a, true
			}
			a.Addresses = append(a.Addresses, net.IP(r.AAAA[:]).String())
		case rh.Type == dnsmessage.TypeCNAME:
			r, err := p.CNAMEResource()
			if err != nil {
				a.Result, a.Error = dnsError, "garbled CNAME record: "+err.Error()
				return a, true
			}
			a.CNAMEs = append(a.CNAMEs, strings.TrimSuffix(r.CNAME.String(), "."))
		default:
			if err := p.SkipAnswer(); err != nil {
				a.Result, a.Error = dnsError, "garbled answer: "+err.Error()
				return a, true
			}
		}
	}
	a.Result = dnsNoData
	if len(a.Addresses) > 0 {
		a.Result = dnsAnswered
	}
	return a, true
}

func rcodeName(c dnsmessage.RCode) string {
	switch c {
	case dnsmessage.RCodeSuccess:
		return "NOERROR"
	case dnsmessage.RCodeFormatError:
		return "FORMERR"
	case dnsmessage.RCodeServerFailure:
		return "SERVFAIL"
	case dnsmessage.RCodeNameError:
		return "NXDOMAIN"
	case dnsmessage.RCodeNotImplemented:
		return "NOTIMP"
	case dnsmessage.RCodeRefused:
		return "REFUSED"
	}
	return fmt.Sprintf("RCODE %d", c)
}
