package netpath

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Target is one destination of a probe: a URL or a bare host:port.
type Target struct {
	// Raw is the target as given, for the report.
	Raw string
	// Scheme is mqtt, mqtts, ws, wss, http, https, or "" for host:port.
	Scheme string
	Host   string // name or IP, without brackets
	Port   int
	Path   string // WebSocket or HTTP path, as given
	// TLS says the ladder runs net.tls: mqtts://, wss://, https://, a bare
	// host:port on 8883, 443 or 8443, or any target with --tls.
	TLS bool
}

var targetPorts = map[string]int{"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443, "http": 80, "https": 443}

var targetSchemes = map[string]string{
	"mqtt": "mqtt", "tcp": "mqtt", "mqtts": "mqtts", "ssl": "mqtts", "tls": "mqtts", "mqtt+ssl": "mqtts",
	"ws": "ws", "wss": "wss", "http": "http", "https": "https",
}

// tlsPorts are the ports a bare host:port is spoken TLS to.
var tlsPorts = map[int]bool{8883: true, 443: true, 8443: true}

// ParseTarget reads host:port, [v6addr]:port or a URL (mqtt://, mqtts://,
// ws://, wss://, http://, https://). forceTLS (--tls) makes any target a
// TLS one. Its errors are worded for the person who typed the target.
func ParseTarget(raw string, forceTLS bool) (Target, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Target{}, fmt.Errorf("empty target: give host:port or a URL such as mqtts://broker.example.com")
	}
	t := Target{Raw: s}
	if !strings.Contains(s, "://") {
		host, port, err := net.SplitHostPort(s)
		if err != nil || strings.ContainsAny(s, "/?#@") {
			return Target{}, fmt.Errorf("target %q: give host:port (such as broker.example.com:8883 or [2001:db8::1]:443) or a URL (mqtts://, wss://, https://)", raw)
		}
		if t.Port, err = parsePort(port); err != nil {
			return Target{}, fmt.Errorf("target %q: %v", raw, err)
		}
		t.Host = host
		t.TLS = tlsPorts[t.Port] || forceTLS
		return t, checkHost(t, raw)
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Target{}, fmt.Errorf("target %q is not a valid URL: %v", raw, err)
	}
	scheme, ok := targetSchemes[strings.ToLower(u.Scheme)]
	if !ok {
		return Target{}, fmt.Errorf("target %q: scheme %q is not one probe net knows: use mqtt://, mqtts://, ws://, wss://, http://, https:// or host:port", raw, u.Scheme)
	}
	if u.User != nil {
		return Target{}, fmt.Errorf("target %q: credentials do not belong in the URL: use -u/--username and --password-file with --mqtt", raw)
	}
	t.Scheme, t.Host, t.Path = scheme, u.Hostname(), u.EscapedPath()
	t.Port = targetPorts[scheme]
	if p := u.Port(); p != "" {
		if t.Port, err = parsePort(p); err != nil {
			return Target{}, fmt.Errorf("target %q: %v", raw, err)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return Target{}, fmt.Errorf("target %q has an empty port", raw)
	}
	t.TLS = scheme == "mqtts" || scheme == "wss" || scheme == "https" || forceTLS
	return t, checkHost(t, raw)
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", p)
	}
	return n, nil
}

func checkHost(t Target, raw string) error {
	switch {
	case t.Host == "":
		return fmt.Errorf("target %q has no host", raw)
	case strings.Contains(t.Host, ":") && net.ParseIP(t.Host) == nil:
		return fmt.Errorf("target %q: host %q is neither a name nor an IP address (write IPv6 addresses in brackets: [2001:db8::1]:8883)", raw, t.Host)
	case net.ParseIP(t.Host) == nil && !validName(t.Host):
		return fmt.Errorf("target %q: %q is not a valid host name", raw, t.Host)
	}
	return nil
}

// validName accepts DNS names: labels of letters, digits, '-' and '_' up to
// 63 characters, 253 in all.
func validName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if len(l) == 0 || len(l) > 63 {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Addr is host:port for dialling.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// String is the target as the report names it.
func (t Target) String() string { return t.Raw }

// MQTT reports whether the target is an MQTT URL (mqtt, mqtts, ws, wss).
func (t Target) MQTT() bool {
	switch t.Scheme {
	case "mqtt", "mqtts", "ws", "wss":
		return true
	}
	return false
}

// BrokerURL is the broker URL the MQTT step connects to: the target itself
// for an MQTT URL, mqtt:// or mqtts:// (by t.TLS) for host:port, "" for
// http:// and https://.
func (t Target) BrokerURL() string {
	switch {
	case t.MQTT():
		path := t.Path
		if (t.Scheme == "ws" || t.Scheme == "wss") && path == "" {
			path = "/mqtt"
		}
		if t.Scheme == "mqtt" || t.Scheme == "mqtts" {
			path = ""
		}
		return t.Scheme + "://" + t.Addr() + path
	case t.Scheme == "":
		if t.TLS {
			return "mqtts://" + t.Addr()
		}
		return "mqtt://" + t.Addr()
	}
	return ""
}

// Endpoint is the target as the words of the steps name it; mqtt says the
// far end is an MQTT broker (an MQTT URL, or --mqtt).
func (t Target) Endpoint(mqtt bool) Endpoint {
	e := Endpoint{Scheme: t.Scheme, Host: t.Host, Port: t.Port}
	if t.MQTT() || (mqtt && t.Scheme == "") {
		e.Role = "broker"
		if e.Scheme == "" {
			e.Scheme = "mqtt"
			if t.TLS {
				e.Scheme = "mqtts"
			}
		}
	}
	return e
}
