package modem

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// PDPContext is one defined packet data context: its +CGDCONT definition,
// its +CGACT state and its +CGPADDR addresses.
type PDPContext struct {
	CID  int    `json:"cid"`
	Type string `json:"type"` // IP, IPV6, IPV4V6, Non-IP
	APN  string `json:"apn"`
	// Active is nil when +CGACT? did not answer.
	Active *bool `json:"active,omitempty"`
	// Addresses are the context's non-zero addresses.
	Addresses []string `json:"addresses"`
}

// ParseCGDCONT reads the answer to AT+CGDCONT?: one
// "+CGDCONT: <cid>,<PDP_type>,<APN>,<PDP_addr>,..." line per context.
func ParseCGDCONT(lines []string) ([]PDPContext, error) {
	var out []PDPContext
	for _, rest := range linesWith(lines, "+CGDCONT:") {
		f := splitFields(rest)
		cid, ok := atoi(f[0])
		if !ok || len(f) < 3 {
			return out, fmt.Errorf("+CGDCONT: %q is not <cid>,<type>,<apn>", rest)
		}
		out = append(out, PDPContext{CID: cid, Type: unquote(f[1]), APN: unquote(f[2]), Addresses: []string{}})
	}
	if len(out) == 0 && len(lines) > 0 {
		return nil, errors.New("no +CGDCONT: line in the answer")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CID < out[j].CID })
	return out, nil
}

// ParseCGACT reads the answer to AT+CGACT?: "+CGACT: <cid>,<state>".
func ParseCGACT(lines []string) (map[int]bool, error) {
	out := map[int]bool{}
	for _, rest := range linesWith(lines, "+CGACT:") {
		f := splitFields(rest)
		cid, ok1 := atoi(f[0])
		if len(f) < 2 {
			return out, fmt.Errorf("+CGACT: %q is not <cid>,<state>", rest)
		}
		st, ok2 := atoi(f[1])
		if !ok1 || !ok2 {
			return out, fmt.Errorf("+CGACT: %q is not <cid>,<state>", rest)
		}
		out[cid] = st == 1
	}
	return out, nil
}

// ParseCGPADDR reads the answer to AT+CGPADDR: "+CGPADDR: <cid>[,<addr>[,<addr2>]]"
// per context. Addresses are quoted or not; "0.0.0.0", "::" and empty mean
// none; an IPv6 address may come as 16 dot-separated decimal bytes
// (27.007's format) and is rewritten in the usual notation.
func ParseCGPADDR(lines []string) (map[int][]string, error) {
	out := map[int][]string{}
	for _, rest := range linesWith(lines, "+CGPADDR:") {
		f := splitFields(rest)
		cid, ok := atoi(f[0])
		if !ok {
			return out, fmt.Errorf("+CGPADDR: %q has no context id", rest)
		}
		addrs := []string{}
		for _, a := range f[1:] {
			a = strings.TrimSpace(unquote(a))
			if a == "" {
				continue
			}
			ip, err := parsePDPAddr(a)
			if err != nil {
				return out, fmt.Errorf("+CGPADDR: context %d: %v", cid, err)
			}
			if !ip.IsUnspecified() {
				addrs = append(addrs, ip.String())
			}
		}
		out[cid] = addrs
	}
	return out, nil
}

func parsePDPAddr(s string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) == 16 || len(parts) == 32 { // IPv6 (and IPv6 with a mask) in dotted decimal
		var b [16]byte
		for i := range 16 {
			n, err := strconv.Atoi(parts[i])
			if err != nil || n < 0 || n > 255 {
				return netip.Addr{}, fmt.Errorf("%q is not an address", s)
			}
			b[i] = byte(n)
		}
		return netip.AddrFrom16(b), nil
	}
	if len(parts) == 8 { // IPv4 with its mask: "10.1.2.3.255.255.255.0"
		if ip, err := netip.ParseAddr(strings.Join(parts[:4], ".")); err == nil {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%q is not an address", s)
}

// ParseCEER reads the answer to AT+CEER (the last call or context error in
// the modem's words): "+CEER: <report>", quoted or not.
func ParseCEER(lines []string) (string, error) {
	rest, ok := firstWith(lines, "+CEER:")
	if !ok {
		if len(lines) > 0 {
			return strings.Join(lines, "; "), nil
		}
		return "", errors.New("no +CEER: line in the answer")
	}
	f := splitFields(rest)
	words := make([]string, 0, len(f))
	for _, x := range f {
		if x = unquote(x); x != "" {
			words = append(words, x)
		}
	}
	return strings.Join(words, ", "), nil
}
