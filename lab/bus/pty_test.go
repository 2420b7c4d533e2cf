//go:build linux || darwin

package bus

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ecdata/ectool/lab/pty"
	"github.com/ecdata/ectool/probe/modbus"
)

func TestMbpollReadsMetersThroughThePTY(t *testing.T) {
	b := startBus(t, "default")
	x := openPTY(t, b, "")
	regs, out, ok := mbpoll(t, "-m", "rtu", "-b", "9600", "-P", "none", "-a", "1", "-t", "4", "-r", "17", "-c", "2", x.Path())
	if !ok || serialOf(regs) != 11930231 {
		t.Fatalf("unit 1 over the PTY: serial %d, want 11930231\n%s", serialOf(regs), out)
	}
	// The SDM630's phase voltages, IEEE floats in input registers
	// 30001-30006, high word first (mbpoll -B).
	_, out, ok = mbpoll(t, "-m", "rtu", "-b", "9600", "-P", "none", "-a", "2", "-t", "3:float", "-B", "-r", "1", "-c", "3", x.Path())
	volts := mbpollFloats(out)
	if !ok || len(volts) != 3 || volts[1] < 220 || volts[1] > 240 || volts[5] < 220 || volts[5] > 240 {
		t.Fatalf("unit 2 voltages over the PTY: %v\n%s", volts, out)
	}
}

// mbpoll -a 1:3 polls the next address straight after an answer (less than
// t3.5 of silence): every meter answers all the same, as meters in the field
// do. The scan benchmark compares ectool with exactly this sweep.
func TestMbpollSweepsSeveralAddressesThroughThePTY(t *testing.T) {
	b := startBus(t, "default")
	x := openPTY(t, b, "")
	_, out, ok := mbpoll(t, "-m", "rtu", "-b", "9600", "-P", "none", "-a", "1:3", "-t", "4", "-r", "19", "-c", "1", x.Path())
	got := map[int]int{}
	for _, m := range mbpollSlave.FindAllStringSubmatch(out, -1) {
		unit, _ := strconv.Atoi(m[1])
		v, _ := strconv.Atoi(m[2])
		got[unit] = v
	}
	if !ok || len(got) != 3 || got[1] != 1 || got[2] != 2 || got[3] != 3 {
		t.Fatalf("mbpoll -a 1:3: answers %v (register 19 is the unit id), want 1, 2 and 3\n%s", got, out)
	}
}

var mbpollSlave = regexp.MustCompile(`(?m)^-- Polling slave (\d+)\.\.\.\s*\n\[\d+\]:\s+(-?\d+)`)

// mbpoll at unit 17 polls two meters whose answers overlap: libmodbus sees
// garbage, never a value.
func TestMbpollGetsGarbageFromTwoMetersAt17(t *testing.T) {
	b := startBus(t, "default")
	x := openPTY(t, b, "")
	regs, out, ok := mbpoll(t, "-m", "rtu", "-b", "9600", "-P", "none", "-a", "17", "-t", "4", "-r", "1", "-c", "2", x.Path())
	if ok || len(regs) != 0 {
		t.Fatalf("mbpoll read collided unit 17 cleanly: %v\n%s", regs, out)
	}
}

// The simulator reads the master's termios through its own handle on the
// PTY: a master at the wrong baud or parity gets nothing it can use.
func TestWrongSerialSettingsOnThePTYGarble(t *testing.T) {
	b := startBus(t, "clean")
	x := openPTY(t, b, "")
	for _, c := range []struct{ baud, parity string }{
		{"19200", "none"}, {"4800", "none"}, {"9600", "even"}, {"9600", "odd"},
	} {
		regs, out, ok := mbpoll(t, "-m", "rtu", "-b", c.baud, "-P", c.parity, "-a", "1", "-t", "4", "-r", "17", "-c", "2", x.Path())
		if ok || len(regs) != 0 {
			t.Errorf("%s %s on a 9600 8N1 bus: mbpoll read %v\n%s", c.baud, c.parity, regs, out)
		}
	}
	// and the right settings still work on the same PTY afterwards
	if regs, out, ok := mbpoll(t, "-m", "rtu", "-b", "9600", "-P", "none", "-a", "1", "-t", "4", "-r", "17", "-c", "2", x.Path()); !ok || serialOf(regs) != 11930231 {
		t.Fatalf("back at 9600 8N1: %v\n%s", regs, out)
	}
}

func TestEvenParityBusThroughThePTY(t *testing.T) {
	b := startBus(t, "even-parity")
	x := openPTY(t, b, "")
	if regs, out, ok := mbpoll(t, "-m", "rtu", "-b", "19200", "-P", "even", "-a", "3", "-t", "4", "-r", "17", "-c", "2", x.Path()); !ok || serialOf(regs) != 31100873 {
		t.Fatalf("19200 8E1 master on a 19200 8E1 bus: %v\n%s", regs, out)
	}
	if regs, out, ok := mbpoll(t, "-m", "rtu", "-b", "19200", "-P", "none", "-a", "3", "-t", "4", "-r", "17", "-c", "2", x.Path()); ok {
		t.Fatalf("19200 8N1 master on a 19200 8E1 bus read %v\n%s", regs, out)
	}
}

func TestPymodbusReadsMetersThroughThePTY(t *testing.T) {
	b := startBus(t, "default")
	x := openPTY(t, b, "")
	res := pymodbus(t, "serial", x.Path(), "9600", "N", "1", "2")
	if r := res[1]; r.Serial != 11930231 || r.Vendor != "Carlo Gavazzi" || r.Product != "EM340" {
		t.Errorf("unit 1 over the PTY: %+v", r)
	}
	if r := res[2]; r.Serial != 20214417 {
		t.Errorf("unit 2 over the PTY: %+v", r)
	}
}

// openSlave opens the PTY like a master program, raw at 9600 8N1.
func openSlave(t *testing.T, path string) int {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	tio, err := getTermios(fd)
	if err != nil {
		t.Fatal(err)
	}
	tio.Iflag = 0
	tio.Oflag = 0
	tio.Lflag = 0
	tio.Cflag = unix.CS8 | unix.CREAD | unix.CLOCAL
	tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 0, 1 // reads return after 100ms of quiet
	setSpeed(tio, 9600)
	if err := setTermios(fd, tio); err != nil {
		t.Fatal(err)
	}
	return fd
}

// readN reads from the slave until it has n bytes (or more) or 10 s pass:
// it waits for what it expects, however loaded the machine.
func readN(t *testing.T, fd, n int) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 256)
	for end := time.Now().Add(10 * time.Second); len(got) < n; {
		if time.Now().After(end) {
			t.Fatalf("the slave read % X in 10s, want %d bytes", got, n)
		}
		k, _ := unix.Read(fd, buf) // VTIME: returns after 100ms of quiet
		got = append(got, buf[:max(k, 0)]...)
	}
	return got
}

// waitSlaveOpen waits until the simulator has seen a program open the
// slave: before that it drops what the line carries, as an adapter nobody
// holds does.
func waitSlaveOpen(t *testing.T, x *PTY) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !x.master.SlaveOpen(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the simulator did not see the slave open within 10s")
		}
	}
}

func TestEchoingAdapterEchoesTheRequestOnThePTY(t *testing.T) {
	b := startBus(t, "echo")
	x := openPTY(t, b, "")
	fd := openSlave(t, x.Path())
	waitSlaveOpen(t, x)
	req := readHolding(2, 0, 2)
	if _, err := unix.Write(fd, req); err != nil {
		t.Fatal(err)
	}
	got := readN(t, fd, len(req)+answerLen(2))
	if !bytes.HasPrefix(got, req) {
		t.Fatalf("echoing adapter read % X; want the request % X first", got, req)
	}
	if f := answer(t, got[len(req):]); f.Unit != 2 {
		t.Fatalf("answer from %d", f.Unit)
	}
}

// A real adapter drops what the line carries while no program has it open;
// the PTY must not hand a program stale bytes when it opens the port: the
// first bytes it reads are the answer to its own first request.
func TestPTYHandsNoStaleBytesToANewProgram(t *testing.T) {
	b := startBus(t, "clean")
	x := openPTY(t, b, "")
	p := master(t, b, b.Settings(), false)
	for _, u := range []byte{1, 2, 3} {
		exchange(t, p, readHolding(u, 0, 2), 30*time.Millisecond)
	}
	fd := openSlave(t, x.Path())
	waitSlaveOpen(t, x)
	if _, err := unix.Write(fd, readHolding(2, 0, 1)); err != nil {
		t.Fatal(err)
	}
	got := readN(t, fd, answerLen(1))
	if f, err := modbus.DecodeRTU(got, modbus.Response); err != nil || f.Unit != 2 {
		t.Fatalf("a program opening the PTY read % X before or instead of its answer from unit 2 (%v)", got, err)
	}
}

func TestPTYLinkPointsAtTheSlaveAndGoesAwayOnClose(t *testing.T) {
	b := startBus(t, "clean")
	link := filepath.Join(t.TempDir(), "rs485")
	x := openPTY(t, b, link)
	if dst, err := os.Readlink(link); err != nil || dst != x.Path() {
		t.Fatalf("link %s -> %q (%v), want %s", link, dst, err, x.Path())
	}
	x.Close()
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatalf("link still there after Close: %v", err)
	}
}

// When the program changes its settings, the PTY drops exactly the chunks
// it read off the line at the old ones: readLoop and writeLoop may both
// look at one change (they once counted the queue twice and dropped the
// first answer read at the new settings), and writeLoop may have taken a
// chunk off the queue just before a look (it once went uncounted, and one
// chunk read at the old settings was handed over at the new ones). The
// simulation does not run here: the test makes the chunks itself.
func TestPTYDropsExactlyTheChunksReadAtTheSettingsTheProgramLeft(t *testing.T) {
	cfg, err := Scenario("clean")
	if err != nil {
		t.Fatal(err)
	}
	b := newBus(cfg)
	m, err := pty.Open(9600, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	x := &PTY{bus: b, master: m, fd: m.Fd()}
	if x.port, err = b.attach(&Port{name: "pty", settings: b.Settings()}, x.filter); err != nil {
		t.Fatal(err)
	}
	fd := openSlave(t, x.Path()) // 9600 8N1
	x.refresh()
	chunk := func(c byte) {
		b.mu.Lock()
		defer b.mu.Unlock()
		x.port.inbox = []byte{c}
		x.port.tick(b.frontier)
	}
	chunk(1)
	chunk(2)
	<-x.port.Recv() // chunk 1: writeLoop holds it when the program switches

	tio, err := getTermios(fd)
	if err != nil {
		t.Fatal(err)
	}
	setSpeed(tio, 19200)
	if err := setTermios(fd, tio); err != nil {
		t.Fatal(err)
	}
	readLoopSaw, writeLoopSaw := x.refresh(), x.refresh()
	chunk(3) // read at 19200
	if got := x.port.Settings(); got.Baud != 19200 {
		t.Fatalf("the PTY's port is at %s after the program set 19200", got)
	}
	if readLoopSaw != 2 || writeLoopSaw != 2 {
		t.Fatalf("looks at one change mark chunks up to %d and %d as stale, want 2 and 2", readLoopSaw, writeLoopSaw)
	}
	for n, want := range map[uint64]bool{1: true, 2: true, 3: false} {
		if stale := n <= x.refresh(); stale != want {
			t.Errorf("chunk %d stale: %v, want %v", n, stale, want)
		}
	}
}
