// Package bus simulates an RS-485 Modbus RTU bus for the lab: a line with
// meters on it, faults injected on purpose, and the three ways a field
// engineer reaches such a bus: a USB adapter (here a PTY), a transparent
// serial server (rtuovertcp://) and a Modbus TCP gateway (tcp://).
//
// Where to start: New(Default()) starts the default scenario (meters 1, 2
// and 3 and two meters colliding at address 17, 9600 8N1); OpenPTY,
// ServeRTUOverTCP and ServeGateway attach the endpoints; Scenarios lists
// the named scenarios `ectool lab --bus-scenario` offers. Package lab wires
// all of this into the lab site (lab/bus.go there).
//
// # The line
//
// The simulation works on line levels, bit by bit, in line time: the
// duration since the bus started, kept in step with the wall clock by one
// goroutine (Bus.run). Every transmission is a burst: characters clocked
// out back to back from a start time at the transmitter's own baud, each
// one a start bit, data bits (LSB first), a parity bit if any and stop
// bits (uart.go). A burst takes its real wire time: 8 bytes at 9600 8N1 are
// 8.33 ms on the line, and nobody hears the last byte before then.
//
// The line level at any moment is the AND of every burst driving it (idle
// is mark, 1; a driver sending space wins). Real RS-485 contention is
// electrically undefined; dominant-zero is a deterministic stand-in with the
// same effect: when two devices transmit at once, their characters corrupt
// each other. How much depends on the overlap, as on a real line: answers a
// fraction of a bit apart keep the common header and fail the CRC (the
// default twins at 17); a few bits apart even the address byte is lost
// (scenario "garbled"); far enough apart they arrive as two valid frames
// ("staggered").
//
// Every port on the line (a meter, the gateway, an adapter) receives
// through a UART of its own (line.go, decode): it hunts for the falling
// edge of a start bit, samples each bit in its middle at its own baud,
// checks parity and the first stop bit. A port whose settings differ from
// the sender's therefore reads exactly the wrong bytes, framing errors and
// parity errors a real UART would, deterministically. A half-duplex port
// does not hear itself while it transmits; an echoing adapter does.
//
// Devices react in line time, not wall time: a meter notices the end of a
// request after t3.5 of silence (framer in port.go) and schedules its
// answer at a line time fixed by its latency, so twins collide the same way
// on every run, whatever the scheduler does to the process. Only what
// comes from outside (the bytes a program writes to the PTY or a TCP
// connection) enters at the wall clock's "now": when the simulator read
// them, not when the simulation gets round to them. The simulation advances
// in steps of 250 µs while anything is in flight and sleeps while the line
// is idle.
//
// A host that starves the process (a loaded machine, a CPU quota) delays
// the simulation, never changes it: line time catches up step by step when
// the process runs again, as a real line would have gone on meanwhile, so
// no collision, gap or corruption appears that the scenario did not put
// there, and the simulated gateway's timeout runs in line time too. What a
// starved host does show is what it shows with real hardware: adapters hand
// over what the line carried in a burst, late, and bytes a program wrote
// while the simulator's reader could not run go on the line late, as
// behind a slow USB stack or network.
//
// # Meters
//
// A meter (meter.go) answers FC 03 and 04 from two maps. Its profile's
// (meter_profile.go: the probe/modbus profile matching its vendor and
// product, so the EM340 at 1, the SDM630 at 2, the iEM3255 at 3 and the
// SDM120 twins) serves every quantity on the profile's table, encoded as
// the profile says: voltages near 230 V, a few amps, a power factor near
// 0.93, 50 Hz, all wandering slowly, and energy counters that only rise;
// all a function of line time and the meter's serial number, so a scenario
// replays the same values at the same line times (StillValues holds them
// at line time 0). The lab's own map fills the rest of addresses below
// Registers on both tables, as before the profiles: voltages wandering each
// second, a growing counter, the serial number in holding registers 16-17
// (40017, u32, high word first) on every meter, which scan --id-register
// reads. The Eastron meters also keep the serial number where their manual
// puts it (464513), the iEM3255 at 40130; MeterConfig.SerialRegisters and
// the lab's endpoints say where. FC 0x11 Report Server ID and FC 0x2B/0x0E
// Read Device Identification (vendor, product, revision, model, serial as
// object 0x80) tell the identity; exceptions answer the rest: 0x01 for
// functions it lacks, 0x02 beyond its maps (a block read between a
// profile's first and last register reads 0 in the gaps), 0x03 for a bad
// quantity. Holding registers 20-29 (40021-40030) are settings a master
// may write (FC 06 and 16; the Eastron meters take FC 16 only and answer
// FC 06 with 0x01, as their manuals say); a write elsewhere answers 0x02,
// and a broadcast write (unit 0) takes effect on every meter without an
// answer. It drops frames with UART errors or a bad CRC silently (but
// finds a whole request to its address at the tail of a frame, as when a
// master polls straight after another meter's answer), answers only its
// own address, and never answers a broadcast (unit 0). Options make a
// meter answer only with exceptions, answer late, lack identity, jitter,
// take turns with a twin at the same address, send its words swapped
// against its manual (the iEM3255 in every scenario), or flip a bit in a
// seeded fraction of its answers (meter 2 in scenario "flaky").
//
// # Faults
//
// All seeded by Config.Seed, so a scenario replays identically: two meters
// at one address (overlapping, garbled, jittery, staggered or alternating),
// an exception-only meter, a slow meter, line noise (pulses of a few bit
// times that receivers read as garbage characters), a second master polling
// the bus, an echoing PTY adapter, a gateway whose serial side is down, a
// meter whose words are swapped against its manual, and a meter that
// corrupts some of its answers.
//
// # Endpoints
//
// The PTY (pty.go, Linux and macOS) is what a scanner opens like
// /dev/ttyUSB0. The simulator keeps only the master side open, so a check
// for other processes holding the port finds none; it reads the slave's
// termios through the master (TCGETS2 on Linux, TIOCGETA on macOS) before
// every write and every 20 ms, and the PTY's port on the line uses those
// settings: a scanner at the wrong baud or parity is garbled both ways.
// Linux's pty driver clears PARENB and forces CS8 in every termios a
// program sets, so on Linux parity is inferred from what survives (PARODD
// for odd; INPCK, which libmodbus, go.bug.st/serial and stty set with
// parity, for even) and data bits always read 8. Characters with UART
// errors reach the program as its input flags say (IGNPAR drops them,
// PARMRK marks them, otherwise they read as 0x00). While no program holds
// the slave, what the line carries is dropped, as an unplugged adapter
// would, so a program opening the port never reads stale bytes. Elsewhere
// OpenPTY returns ErrPTYUnsupported.
//
// The rtuovertcp:// server (tcp.go) is a transparent serial server: each
// connection is an adapter at the bus's settings, bytes in and out at wire
// rate, no termios to get wrong. The Modbus TCP gateway forwards each MBAP
// request as an RTU frame (one transaction on the line at a time) and
// answers with the first valid answer from that unit, exception 0x0B when
// none comes within Config.GatewayTimeout of line time (an absent unit, or
// the garbage of a collision), 0x0A when its serial side is down. It uses the same
// codec as the scanner (probe/modbus).
package bus
