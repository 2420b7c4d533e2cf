package mqtt

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Broker is a parsed broker URL.
type Broker struct {
	// Scheme is normalised to mqtt, mqtts, ws or wss (tcp:// is mqtt://,
	// ssl:// and tls:// are mqtts://).
	Scheme string
	Host   string // host name or IP, without brackets
	Port   int
	Path   string // WebSocket path, URL-escaped (default /mqtt); empty for mqtt/mqtts
}

// TLS reports whether the broker is reached over TLS.
func (b Broker) TLS() bool { return b.Scheme == "mqtts" || b.Scheme == "wss" }

// WebSocket reports whether MQTT is carried over WebSockets.
func (b Broker) WebSocket() bool { return b.Scheme == "ws" || b.Scheme == "wss" }

// Addr is host:port for dialling.
func (b Broker) Addr() string { return net.JoinHostPort(b.Host, strconv.Itoa(b.Port)) }

// String is the canonical URL, default port included.
func (b Broker) String() string {
	return b.Scheme + "://" + b.Addr() + b.Path
}

var defaultPorts = map[string]int{"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}

var schemeAliases = map[string]string{
	"mqtt": "mqtt", "tcp": "mqtt",
	"mqtts": "mqtts", "ssl": "mqtts", "tls": "mqtts", "mqtt+ssl": "mqtts",
	"ws": "ws", "wss": "wss",
}

// ParseBroker parses a broker URL: mqtt://host[:1883], mqtts://host[:8883],
// ws://host[:80][/mqtt], wss://host[:443][/mqtt]; tcp://, ssl:// and tls://
// are accepted as aliases and a bare host[:port] means mqtt://. Its errors
// are worded for the person who typed the URL.
func ParseBroker(raw string) (Broker, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Broker{}, fmt.Errorf("no broker URL given")
	}
	if !strings.Contains(s, "://") {
		if strings.ContainsAny(s, "/?#@") {
			return Broker{}, fmt.Errorf("%q is not a broker URL: write it as mqtt://host:1883 or mqtts://host:8883", raw)
		}
		if ip := net.ParseIP(s); ip != nil && strings.Contains(s, ":") {
			s = "[" + s + "]" // a bare IPv6 address: its colons are not a port
		}
		s = "mqtt://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return Broker{}, fmt.Errorf("%q is not a valid URL: %v", raw, unwrapURLError(err))
	}
	scheme, ok := schemeAliases[strings.ToLower(u.Scheme)]
	if !ok {
		return Broker{}, fmt.Errorf("scheme %q is not MQTT: use mqtt:// (1883), mqtts:// (8883), ws:// or wss://", u.Scheme)
	}
	if u.User != nil {
		return Broker{}, fmt.Errorf("credentials do not belong in the URL: use -u/--username and --password-file")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Broker{}, fmt.Errorf("%q has a query or fragment; a broker URL has none", raw)
	}
	b := Broker{Scheme: scheme, Host: u.Hostname(), Port: defaultPorts[scheme]}
	if b.Host == "" {
		return Broker{}, fmt.Errorf("%q has no host name", raw)
	}
	if strings.Contains(b.Host, ":") && net.ParseIP(b.Host) == nil {
		return Broker{}, fmt.Errorf("%q: host %q is neither a name nor an IP address (write IPv6 addresses in brackets: mqtt://[::1]:1883)", raw, b.Host)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Broker{}, fmt.Errorf("port %q is not a number from 1 to 65535", p)
		}
		b.Port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return Broker{}, fmt.Errorf("%q has an empty port", raw)
	}
	switch {
	case b.WebSocket():
		b.Path = u.EscapedPath() // kept escaped: it goes back into a URL
		if b.Path == "" {
			b.Path = "/mqtt"
		}
	case u.Path != "" && u.Path != "/":
		return Broker{}, fmt.Errorf("%s:// takes no path (%q); for MQTT over WebSockets use ws:// or wss://", scheme, u.Path)
	}
	return b, nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
