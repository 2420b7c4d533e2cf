// Package serialport opens serial ports by the rules every ectool command
// follows, whether a Modbus bus adapter (scan, modbus read, write, watch)
// or a modem's AT port (probe modem):
//
//   - A path that exists and cannot be a serial device (a file, a
//     directory) is ErrNotSerial before anything else.
//   - Another process holding the port (an open file in /proc/PID/fd, a
//     UUCP lock file in /run/lock) is a *HeldError naming it, unless the
//     caller forces: a gateway's poller or ModemManager would lose bytes to
//     us and we to them. The process holding a pseudo-terminal's master (a
//     socat bridge to a serial server, a simulator) is the other end of
//     the wire, a bridge, not a holder.
//   - An FTDI adapter's latency timer goes to 1 ms where sysfs exposes it,
//     when the caller asks (bus commands, which time gaps between frames).
//   - The open's own failures come back as ErrMissing, ErrBusy,
//     ErrPermission or ErrNotSerial, so a report can say what to do (Hint).
//
// Start with Open; Check and OpenAfterCheck serve a caller that opens one
// port at several settings (auto-detect). Settings are the line's
// parameters, shared by every command's --baud, --parity, --stop-bits and
// --data-bits.
package serialport
