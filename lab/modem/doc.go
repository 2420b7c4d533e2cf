// Package modem simulates a cellular modem's AT port for the lab: a TCP raw
// AT port everywhere, and a PTY on Linux and macOS that a program opens like
// a USB modem's ttyUSB port (the PTY code is lab/pty's, shared with the bus).
//
// Start with New and a Config: Scenario chooses what is wrong (ok, no-sim,
// pin-locked, no-signal, registration-denied, roaming, wrong-apn, garbage,
// mute), Dialect the vendor whose answers it gives (generic, quectel,
// sierra, ublox, telit: where that vendor's standard command fails, its own
// command answers), Quirks how it talks (echo on, URCs amid answers, slow
// answers). Then ServeTCP and OpenPTY. Everything is deterministic: the
// same scenario answers the same bytes every run.
//
// The modem logs every command it receives (Commands): tests use the log
// to prove a probe sent nothing that changes a modem's settings.
package modem
