package capture

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ecdata/ectool/diag/exitcode"
)

// FilterError is an expression --filter cannot take (exit 2).
type FilterError struct {
	Expr string
	Msg  string
}

func (e *FilterError) Error() string { return e.Msg }

// ExitKind is exitcode.KindUsage.
func (e *FilterError) ExitKind() exitcode.Kind { return exitcode.KindUsage }

// filterHelp is what the filter takes, for error messages.
const filterHelp = "ectool's --filter takes host ADDR, port N, tcp, udp, ip, ip6, src/dst, and/or/not and parentheses; libpcap's full syntax needs cgo"

// node is a parsed filter expression.
type node struct {
	op   string // "and", "or", "not", "host", "port", "proto", "ip", "ip6", "true"
	l, r *node
	dir  string // "", "src", "dst"
	addr netip.Addr
	port uint16
	// protos restricts a port to tcp (6) or udp (17); nil: tcp, udp, sctp.
	protos []uint8
	proto  uint8
}

type parser struct {
	expr string
	toks []string
	pos  int
	// last is the previous primitive, for tcpdump's "port 1883 or 8883".
	last *node
}

// ParseFilter parses a capture filter expression in the subset of
// tcpdump's syntax ectool compiles itself.
func ParseFilter(expr string) (*node, error) {
	p := &parser{expr: expr, toks: tokenize(expr)}
	if len(p.toks) == 0 {
		return &node{op: "true"}, nil
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, p.errorf("unexpected %q after a complete expression", p.toks[p.pos])
	}
	return n, nil
}

func tokenize(s string) []string {
	var out []string
	cur := strings.Builder{}
	emit := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			emit()
		case c == '(' || c == ')':
			emit()
			out = append(out, string(c))
		case c == '!' && (i+1 >= len(s) || s[i+1] != '='):
			emit()
			out = append(out, "!")
		case (c == '&' || c == '|') && i+1 < len(s) && s[i+1] == c:
			emit()
			out = append(out, s[i:i+2])
			i++
		default:
			cur.WriteByte(c)
		}
	}
	emit()
	return out
}

func (p *parser) errorf(format string, args ...any) error {
	return &FilterError{Expr: p.expr, Msg: fmt.Sprintf("--filter %q: ", p.expr) + fmt.Sprintf(format, args...)}
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *parser) or() (*node, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t == "or" || t == "||"; t = p.peek() {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &node{op: "or", l: l, r: r}
	}
	return l, nil
}

func (p *parser) and() (*node, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t == "and" || t == "&&"; t = p.peek() {
		p.next()
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = &node{op: "and", l: l, r: r}
	}
	return l, nil
}

func (p *parser) not() (*node, error) {
	if t := p.peek(); t == "not" || t == "!" {
		p.next()
		n, err := p.not()
		if err != nil {
			return nil, err
		}
		return &node{op: "not", l: n}, nil
	}
	return p.primary()
}

func (p *parser) primary() (*node, error) {
	t := p.next()
	switch t {
	case "":
		return nil, p.errorf("the expression ends too early")
	case "(":
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, p.errorf("a '(' is not closed")
		}
		return n, nil
	case ")":
		return nil, p.errorf("unexpected ')'")
	}
	p.pos--
	return p.primitive()
}

// primitive: [src|dst] host ADDR, [tcp|udp] [src|dst] port N, tcp, udp, ip, ip6,
// or a bare value repeating the previous primitive's kind.
func (p *parser) primitive() (*node, error) {
	n := &node{}
	t := p.next()
	if t == "src" || t == "dst" {
		n.dir = t
		if q := p.peek(); q == "or" || q == "and" {
			return nil, p.errorf("%q: only src or dst alone is supported, not \"src %s dst\"", t, q)
		}
		t = p.next()
	}
	switch t {
	case "tcp", "udp":
		proto := uint8(6)
		if t == "udp" {
			proto = 17
		}
		if q := p.peek(); n.dir == "" && (q == "src" || q == "dst") && p.pos+1 < len(p.toks) && p.toks[p.pos+1] == "port" {
			n.dir = p.next()
		}
		if p.peek() == "port" {
			p.next()
			n.protos = []uint8{proto}
			return p.portValue(n)
		}
		if n.dir != "" {
			return nil, p.errorf("%q needs host or port after it", n.dir)
		}
		return &node{op: "proto", proto: proto}, nil
	case "ip", "ip6":
		if n.dir != "" {
			return nil, p.errorf("%q needs host or port after it", n.dir)
		}
		if q := p.peek(); q == "host" || q == "src" || q == "dst" || q == "proto" {
			return nil, p.errorf("%q after %s is not supported (%s)", q, t, filterHelp)
		}
		return &node{op: t}, nil
	case "host":
		return p.hostValue(n)
	case "port":
		return p.portValue(n)
	}
	if p.last != nil && isValue(t) {
		p.pos--
		n := &node{dir: p.last.dir, protos: p.last.protos}
		if p.last.op == "host" {
			return p.hostValue(n)
		}
		return p.portValue(n)
	}
	return nil, p.unsupported(t)
}

func isValue(t string) bool {
	if _, err := strconv.Atoi(t); err == nil {
		return true
	}
	_, err := netip.ParseAddr(t)
	return err == nil
}

func (p *parser) unsupported(t string) error {
	switch t {
	case "portrange", "net", "ether", "vlan", "mpls", "greater", "less", "proto", "icmp", "icmp6", "arp", "rarp",
		"broadcast", "multicast", "gateway", "mask", "len", "sctp", "igmp", "pppoes", "geneve", "inbound", "outbound", "ifname", "on":
		return p.errorf("%q is not supported (%s)", t, filterHelp)
	}
	if isValue(t) {
		return p.errorf("%q: say what it is (host %s, port %s)", t, t, t)
	}
	return p.errorf("%q is not supported (%s)", t, filterHelp)
}

func (p *parser) hostValue(n *node) (*node, error) {
	v := p.next()
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		return nil, p.errorf("host %q: give an IPv4 or IPv6 address (names are not resolved)", v)
	}
	n.op, n.addr = "host", a.Unmap()
	p.last = n
	return n, nil
}

func (p *parser) portValue(n *node) (*node, error) {
	v := p.next()
	x, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return nil, p.errorf("port %q: give a number from 0 to 65535 (service names are not resolved)", v)
	}
	n.op, n.port = "port", uint16(x)
	p.last = n
	return n, nil
}

// BuildFilter joins the port list, the host list and an expression into one
// expression (each part in parentheses, joined with and). ports may be
// empty (no port restriction).
func BuildFilter(ports []uint16, hosts []string, expr string) string {
	var parts []string
	if len(ports) > 0 {
		var ps []string
		for _, p := range ports {
			ps = append(ps, "port "+strconv.Itoa(int(p)))
		}
		parts = append(parts, strings.Join(ps, " or "))
	}
	if len(hosts) > 0 {
		var hs []string
		for _, h := range hosts {
			hs = append(hs, "host "+h)
		}
		parts = append(parts, strings.Join(hs, " or "))
	}
	if strings.TrimSpace(expr) != "" {
		parts = append(parts, strings.TrimSpace(expr))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	for i := range parts {
		parts[i] = "(" + parts[i] + ")"
	}
	return strings.Join(parts, " and ")
}
