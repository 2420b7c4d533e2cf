package capture

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// Protocols a Listener can carry.
const (
	ProtoMQTT    = "mqtt"     // MQTT over TCP, in clear
	ProtoMQTTWS  = "mqtt+ws"  // MQTT in WebSocket binary frames, in clear
	ProtoMQTTTLS = "mqtt+tls" // TLS records carrying MQTT
)

// Listener is a server socket whose traffic a file holds, with the protocol
// spoken on it (see the package documentation for the comment format).
type Listener struct {
	Name string `json:"name"`
	// URL is how a client reaches it (mqtt://, mqtts://, ws://host:port/mqtt).
	URL      string         `json:"url"`
	Addr     netip.AddrPort `json:"addr"`
	Protocol string         `json:"protocol"`
}

const listenerPrefix = "ectool-listener "

// FormatListeners renders listeners as the lines of a section comment.
func FormatListeners(ls []Listener) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%sname=%s url=%s protocol=%s\n", listenerPrefix, l.Name, l.URL, l.Protocol)
	}
	return b.String()
}

// ParseListeners reads the listener lines of a section comment; other
// lines and malformed listener lines are ignored.
func ParseListeners(comment string) []Listener {
	var out []Listener
	for _, line := range strings.Split(comment, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), listenerPrefix)
		if !ok {
			continue
		}
		var l Listener
		valid := true
		for _, f := range strings.Fields(rest) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "name":
				l.Name = v
			case "url":
				l.URL = v
				u, err := url.Parse(v)
				if err != nil {
					valid = false
					break
				}
				ap, err := netip.ParseAddrPort(u.Host)
				if err != nil {
					valid = false
				}
				l.Addr = ap
			case "protocol":
				l.Protocol = v
			}
		}
		if valid && l.Name != "" && l.Addr.IsValid() && l.Protocol != "" {
			out = append(out, l)
		}
	}
	return out
}
