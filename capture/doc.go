// Package capture keeps an always-on, bounded ring of pcap/pcapng files and
// reads it back: the engine of `ectool capture` (writing, listing, status,
// export) and the reader `capture inspect` builds on.
//
// Start with RingWriter (NewRingWriter, WritePacket, Maintain, Close) for
// writing and OpenRing / OpenFile for reading. A ring directory holds:
//
//	<prefix>_<seq>_<UTC time>.pcapng   the files, ordered by seq (never by time)
//	.lock                              flock held by the live writer (its pid inside)
//	status.json                        rewritten atomically at each flush (Status)
//
// Every reader reports a torn final record (a power cut or kill -9 in the
// middle of a write) as a Torn value and keeps every whole record before
// it; a torn record is never an error.
//
// The live part (AF_PACKET sockets, BPF filters attached to them) is Linux
// only (live_linux.go); everything else works on every OS.
//
// # Listener comments
//
// A file may name the listeners whose traffic it holds (the lab does this,
// so that TLS and WebSocket traffic on ephemeral ports can be told apart).
// The pcapng section header's comment then holds one line per listener:
//
//	ectool-listener name=mqtt url=mqtt://127.0.0.1:41883 protocol=mqtt
//	ectool-listener name=mqtts url=mqtts://127.0.0.1:41884 protocol=mqtt+tls
//	ectool-listener name=ws url=ws://127.0.0.1:41885/mqtt protocol=mqtt+ws
//	ectool-listener name=mtls url=mqtts://127.0.0.1:41886 protocol=mqtt+tls
//
// Fields are space separated key=value pairs without spaces in values; the
// url's host:port is the listener's address and port (an IP literal).
// protocol is mqtt (MQTT over TCP in clear), mqtt+ws (MQTT in WebSocket
// binary frames, in clear) or mqtt+tls (TLS records carrying MQTT); other
// lines of the comment are free text. FormatListeners writes the lines,
// ParseListeners reads them (File.Listeners holds them after reading).
package capture
