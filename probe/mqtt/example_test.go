package mqtt_test

import (
	"fmt"

	"github.com/ecdata/ectool/probe/mqtt"
)

// Broker URLs as gateways' configurations spell them: the scheme picks the
// default port and TLS; tcp://, ssl:// and tls:// are aliases, a bare
// host:port is mqtt://, and WebSockets get the /mqtt path by default.
func ExampleParseBroker() {
	for _, s := range []string{"broker.example.com", "mqtts://broker.example.com", "ssl://10.0.0.5:8884", "wss://broker.example.com", "ws://[::1]:9001/ws"} {
		b, err := mqtt.ParseBroker(s)
		if err != nil {
			fmt.Println(s, "error:", err)
			continue
		}
		fmt.Printf("%-28s %-36s tls=%-5v websocket=%v\n", s, b, b.TLS(), b.WebSocket())
	}
	// Output:
	// broker.example.com           mqtt://broker.example.com:1883       tls=false websocket=false
	// mqtts://broker.example.com   mqtts://broker.example.com:8883      tls=true  websocket=false
	// ssl://10.0.0.5:8884          mqtts://10.0.0.5:8884                tls=true  websocket=false
	// wss://broker.example.com     wss://broker.example.com:443/mqtt    tls=true  websocket=true
	// ws://[::1]:9001/ws           ws://[::1]:9001/ws                   tls=false websocket=true
}

// A URL it cannot use says why, worded for the person who typed it.
func ExampleParseBroker_error() {
	_, err := mqtt.ParseBroker("http://broker.example.com")
	fmt.Println(err)
	// Output: scheme "http" is not MQTT: use mqtt:// (1883), mqtts:// (8883), ws:// or wss://
}
