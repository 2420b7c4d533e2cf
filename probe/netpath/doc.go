// Package netpath proves the network path to a service, layer by layer, and
// names the first layer that breaks: the interface, DNS (each resolver
// separately), ICMP, TCP, the path MTU, TLS and, handed in by the caller,
// the application (an MQTT CONNECT).
//
// Start with Probe, which runs the ladder of `ectool probe net` for one or
// more targets and returns a Result that fills a report (diag/report). The
// single steps are exported too, because `mqtt check` runs the same DNS,
// TCP and TLS steps under its own check IDs: StepSystemDNS, StepTCP and
// StepTLS, with the words they share (DNSWords, DialFailure/DialWords,
// TCPHint, VerifyWords, HandshakeWords, AlertWords).
//
// The package is named netpath, not net, so it does not shadow the standard
// library. It never imports probe/mqtt (probe/mqtt imports it): the MQTT
// step is a function the caller passes in Options.MQTT.
package netpath
