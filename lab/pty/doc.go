// Package pty opens pseudo-terminals for the lab's simulated serial devices
// (the RS-485 bus in lab/bus, the cellular modem in lab/modem): the slave
// side (/dev/pts/N on Linux, /dev/ttysNNN on macOS) is what a program opens
// like a USB adapter, the simulator keeps only the master.
//
// Start with Open. Master.Pump reads what the program writes and tells
// whether a program holds the slave at all, so a simulator can drop what it
// would send to nobody, as a real adapter does. Elsewhere than Linux and
// macOS, Open returns ErrUnsupported.
package pty
