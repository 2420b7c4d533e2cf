package modbus

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Transport is how ectool reaches a bus.
type Transport string

// Transports.
const (
	// TransportRTU is a local serial port (USB RS-485 adapter).
	TransportRTU Transport = "rtu"
	// TransportTCP is Modbus TCP (MBAP framing), usually a gateway.
	TransportTCP Transport = "tcp"
	// TransportRTUOverTCP is RTU frames over a TCP stream (a transparent
	// serial server).
	TransportRTUOverTCP Transport = "rtuovertcp"
)

// Target is a parsed bus target.
type Target struct {
	Transport Transport
	// Path is the serial device (rtu): /dev/ttyUSB0, COM12.
	Path string
	// Addr is host:port (tcp, rtuovertcp).
	Addr string
}

func (t Target) String() string {
	if t.Transport == TransportRTU {
		return "rtu://" + t.Path
	}
	return string(t.Transport) + "://" + t.Addr
}

// Serial reports whether the target's bytes are RTU frames (a serial port or
// a transparent serial server), as opposed to Modbus TCP.
func (t Target) Serial() bool { return t.Transport != TransportTCP }

// ErrBadTarget is returned by ParseTarget for targets it cannot read.
var ErrBadTarget = errors.New("bad bus target")

var comPort = regexp.MustCompile(`(?i)^(\\\\\.\\)?COM[0-9]+$`)

// ParseTarget reads rtu:///dev/ttyUSB0, a bare device path, COM12 (COM10 and
// above included), tcp://host[:502] and rtuovertcp://host:port.
func ParseTarget(s string) (Target, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Target{}, fmt.Errorf("%w: empty target: give rtu:///dev/ttyUSB0, COM12, tcp://host:502 or rtuovertcp://host:port", ErrBadTarget)
	case comPort.MatchString(s):
		return Target{Transport: TransportRTU, Path: strings.ToUpper(strings.TrimPrefix(s, `\\.\`))}, nil
	case strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../"):
		return Target{Transport: TransportRTU, Path: s}, nil
	}
	if !strings.Contains(s, "://") {
		return Target{}, fmt.Errorf("%w: %q: give rtu:///dev/ttyUSB0, a device path, COM12, tcp://host:502 or rtuovertcp://host:port", ErrBadTarget, s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return Target{}, fmt.Errorf("%w: %v", ErrBadTarget, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "rtu":
		p := u.Path
		if u.Host != "" { // rtu://COM12 or rtu://ttyUSB0
			p = u.Host + u.Path
		}
		if comPort.MatchString(p) {
			p = strings.ToUpper(p)
		}
		if p == "" {
			return Target{}, fmt.Errorf("%w: %q names no serial device (rtu:///dev/ttyUSB0)", ErrBadTarget, s)
		}
		return Target{Transport: TransportRTU, Path: p}, nil
	case "tcp", "rtuovertcp":
		host, port := u.Hostname(), u.Port()
		if host == "" {
			return Target{}, fmt.Errorf("%w: %q names no host", ErrBadTarget, s)
		}
		if port == "" {
			if u.Scheme == "rtuovertcp" {
				return Target{}, fmt.Errorf("%w: %q needs a port (serial servers have no standard one)", ErrBadTarget, s)
			}
			port = "502"
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return Target{}, fmt.Errorf("%w: port %q out of 1..65535", ErrBadTarget, port)
		}
		return Target{Transport: Transport(strings.ToLower(u.Scheme)), Addr: net.JoinHostPort(host, port)}, nil
	}
	return Target{}, fmt.Errorf("%w: scheme %q: use rtu, tcp or rtuovertcp", ErrBadTarget, u.Scheme)
}

// ParseIDs reads a list of unit ids and ranges ("1-247", "1,2,10-20"). Ids 0
// (broadcast) and 248-255 (reserved) are refused: ectool never polls them (a broadcast write takes unit 0 alone).
func ParseIDs(s string) ([]byte, error) {
	seen := map[int]bool{}
	var ids []byte
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi := part, part
		if i := strings.Index(part, "-"); i >= 0 {
			lo, hi = part[:i], part[i+1:]
		}
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || a > b {
			return nil, fmt.Errorf("bad id range %q: use numbers and ranges like 1-10,17 (1 to 247)", part)
		}
		if a < 1 || b > 247 {
			return nil, fmt.Errorf("id range %q: unit ids are 1-247 (0 is broadcast and 248-255 are reserved: ectool never polls them)", part)
		}
		for i := a; i <= b; i++ {
			if !seen[i] {
				seen[i] = true
				ids = append(ids, byte(i))
			}
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no unit ids in %q", s)
	}
	return ids, nil
}
