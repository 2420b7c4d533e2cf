// Package inspect turns a packet capture into a diagnosis of the MQTT
// conversation in it: every connection (who, which version, how it
// ended), every topic, the QoS flows and their acknowledgement latency,
// the transport's troubles, and the problems behind the inspect.* checks
// of `ectool capture inspect`.
//
// Start with Inspect: give it a capture.Merger (package capture reads
// every input: capture.MergeFiles, or capture.NewMerger with AddFile,
// AddRing for a ring or lab directory, AddReader for standard input) and
// Options; it returns a Result whose Report method adds the checks and
// details to a diag/report.Report. Options.OnMessage streams every
// decoded control packet (--messages).
//
// How a packet travels, and where to look:
//
//   - input.go: what the reader reports (torn records, unreadable files)
//     becomes inspect.input's evidence; the listeners a capture names
//     (capture.ParseListeners) say what their ports carry.
//   - frame.go: link, IP and TCP headers with gopacket's
//     DecodingLayerParser (no allocation per packet).
//   - conn.go, asm.go: TCP connections. Segments that continue their
//     stream go straight to the decoder (the fast path); a connection
//     whose segments come out of order moves to gopacket's reassembly,
//     bounded by MaxBufferedPagesTotal and MaxBufferedPagesPerConnection,
//     with holes given up after GapWait and idle connections flushed. A
//     hole the peer acknowledged is known lost and skipped at once.
//   - handler.go, websocket.go, tls.go: what a connection carries, from
//     its first bytes or its port: MQTT, MQTT over WebSocket (upgrade,
//     masked and fragmented frames), or TLS (metadata only: decrypting is
//     out of scope).
//   - mqttframe.go: control packets cut from a byte stream, split or
//     several per segment, with resynchronisation on a plausible fixed
//     header for streams joined mid-way.
//   - mqttdecode.go, mqttfields.go: a hand-written fast path for the
//     common packets beside mochi-mqtt's codec for everything else; a
//     malformed packet is flagged in Message.Malformed, never fatal.
//   - session.go, flows.go, analysis.go: the conversation: CONNECT and
//     CONNACK, topic aliases, QoS 1/2 flows across resumed sessions,
//     keep-alive silences, maximum packet sizes, reconnect storms.
//   - checks.go: the checks, their evidence and hints.
//
// Passwords are never kept: ConnectFields holds whether there was one and
// its length.
package inspect
