package inspect

import (
	"fmt"
	"time"

	"github.com/ecdata/ectool/capture"
)

// Protocol is what a TCP port carries.
type Protocol string

// The protocols inspect tells apart.
const (
	ProtoMQTT Protocol = "mqtt" // MQTT in clear
	ProtoWS   Protocol = "ws"   // MQTT over WebSocket (HTTP Upgrade)
	ProtoTLS  Protocol = "tls"  // MQTT over TLS, or WebSocket over TLS: metadata only
)

// Reassembly chooses how TCP segments become byte streams.
type Reassembly int

const (
	// ReassemblyFast hands in-order segments straight to the decoder and
	// moves a connection to gopacket's reassembler at its first gap or
	// out-of-order segment.
	ReassemblyFast Reassembly = iota
	// ReassemblyFull sends every segment through gopacket's reassembler
	// (the general path the fast one is tested against).
	ReassemblyFull
)

// Options configure an inspection. The zero value inspects ports 1883 and
// 8883 (plus every port where a CONNECT is recognised) with bounded
// memory.
type Options struct {
	// Ports are the TCP ports to decode (default 1883 and 8883). Other
	// ports are decoded from the first connection where a CONNECT (or a
	// WebSocket upgrade to MQTT) is recognised.
	Ports []uint16
	// PortProtocols says what a port carries when the bytes cannot tell
	// (TLS and WebSocket on ephemeral ports, connections joined mid-way).
	// Inspect fills it, when empty, from the listeners the captures name
	// (PortProtocols of the lab ring's pcapng comment).
	PortProtocols map[uint16]Protocol
	// AssumeVersion is the MQTT version ("3.1", "3.1.1" or "5") of
	// connections whose CONNECT is not in the capture; empty: inferred.
	AssumeVersion string

	// Clients keeps only connections of these client ids (empty: all).
	Clients []string
	// Topics keeps only PUBLISH, SUBSCRIBE and UNSUBSCRIBE packets whose
	// topic matches one of these MQTT topic filters, and their
	// acknowledgements (empty: all).
	Topics []string
	// Window keeps packets in [From, To) (zero: open), as capture export
	// clips: resolve a capture.Window against capture.Newest of the same
	// input.
	Window capture.Resolved

	// OnMessage, when set, is called for every control packet that passes
	// the filters, in capture order. The Message is valid only during the
	// call. An error stops the inspection.
	OnMessage func(*Message) error

	// Reassembly picks the fast path (default) or the general path.
	Reassembly Reassembly
	// MaxBufferedPagesTotal and MaxBufferedPagesPerConnection bound the
	// out-of-order data gopacket's reassembler keeps (pages of 1900
	// bytes). Defaults 4096 and 256.
	MaxBufferedPagesTotal         int
	MaxBufferedPagesPerConnection int
	// MaxPacketBuffer bounds the bytes kept of one MQTT packet split over
	// segments (default 256 KiB); a larger packet keeps its head only.
	// MaxBufferTotal bounds them over all connections (default 32 MiB).
	MaxPacketBuffer int
	MaxBufferTotal  int
	// GapWait is how long (in capture time) a hole in a stream is waited
	// for before the bytes after it are decoded anyway (default 5 s).
	GapWait time.Duration
	// IdleTimeout frees the buffers of a connection silent that long in
	// capture time (default 5 min); the connection itself is still
	// reported.
	IdleTimeout time.Duration
}

func (o *Options) withDefaults() (Options, error) {
	out := *o
	if len(out.Ports) == 0 {
		out.Ports = []uint16{1883, 8883}
	}
	if out.MaxBufferedPagesTotal <= 0 {
		out.MaxBufferedPagesTotal = 4096
	}
	if out.MaxBufferedPagesPerConnection <= 0 {
		out.MaxBufferedPagesPerConnection = 256
	}
	if out.MaxPacketBuffer <= 0 {
		out.MaxPacketBuffer = 256 << 10
	}
	if out.MaxBufferTotal <= 0 {
		out.MaxBufferTotal = 32 << 20
	}
	if out.GapWait <= 0 {
		out.GapWait = 5 * time.Second
	}
	if out.IdleTimeout <= 0 {
		out.IdleTimeout = 5 * time.Minute
	}
	switch out.AssumeVersion {
	case "", "3.1", "3.1.1", "5":
	case "5.0":
		out.AssumeVersion = "5"
	default:
		return out, fmt.Errorf("MQTT version %q: want 3.1, 3.1.1 or 5", out.AssumeVersion)
	}
	return out, nil
}

func assumedLevel(v string) byte {
	switch v {
	case "3.1":
		return level31
	case "3.1.1":
		return level311
	case "5":
		return level5
	}
	return 0
}
