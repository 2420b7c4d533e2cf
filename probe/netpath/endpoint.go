package netpath

import (
	"net"
	"strconv"
	"time"
)

// Endpoint is what the words of a step need to know about the far end:
// where it is and what to call it.
type Endpoint struct {
	// Scheme is mqtt, mqtts, ws, wss, https, or "" for a bare host:port.
	Scheme string
	Host   string
	Port   int
	// Role names the far end in messages: "broker" for an MQTT broker,
	// anything else (or "") reads "server".
	Role string
}

// Addr is host:port for dialling.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

func (e Endpoint) role() string {
	if e.Role == "" {
		return "server"
	}
	return e.Role
}

// isBroker reports whether the far end is an MQTT broker, whose usual ports
// the hints can name.
func (e Endpoint) isBroker() bool { return e.Role == "broker" }

// seconds writes a timeout the way a person reads it: 5s, 1.5s.
func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.Itoa(int(d/time.Second)) + "s"
	}
	return d.String()
}
