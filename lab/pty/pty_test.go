//go:build linux || darwin

package pty

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A program writing to the slave reaches the simulator through Pump, and the
// simulator's answer reaches the program; the link names the slave until
// Close removes it.
func TestProgramAndSimulatorTalkThroughThePTY(t *testing.T) {
	link := filepath.Join(t.TempDir(), "modem")
	m, err := Open(115200, link)
	if err != nil {
		t.Fatal(err)
	}
	if dst, err := os.Readlink(link); err != nil || dst != m.Path() {
		t.Fatalf("link %s -> %q (%v), want %s", link, dst, err, m.Path())
	}
	got := make(chan []byte, 4)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		m.Pump(done, nil, func(b []byte) error {
			got <- append([]byte(nil), b...)
			return nil
		})
	}()
	fd, err := unix.Open(link, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if tio, err := GetTermios(fd); err != nil || Baud(tio) != 115200 || tio.Lflag&unix.ECHO != 0 {
		t.Fatalf("the slave does not start raw at 115200: %+v %v", tio, err)
	}
	if _, err := unix.Write(fd, []byte("AT\r")); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if string(b) != "AT\r" {
			t.Fatalf("Pump read %q", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing the program wrote reached Pump")
	}
	if !m.SlaveOpen() {
		t.Fatal("a program holds the slave but SlaveOpen is false")
	}
	if _, err := m.Write([]byte("\r\nOK\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := unix.Read(fd, buf)
	if err != nil || string(buf[:n]) != "\r\nOK\r\n" {
		t.Fatalf("the program read %q (%v)", buf[:max(n, 0)], err)
	}
	close(done)
	<-stopped
	m.Close()
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatalf("link still there after Close: %v", err)
	}
}

// A poll that returns within its wait and a little scheduling slack is not
// a stall; one that returns far later is counted, with the longest kept.
func TestPumpCountsOnlyWakeUpsFarPastItsPoll(t *testing.T) {
	var m Master
	for _, took := range []time.Duration{pollWait, pollWait + stallAfter - time.Millisecond, 600 * time.Millisecond, 200 * time.Millisecond} {
		m.noteStall(took)
	}
	if n, longest := m.Stalls(); n != 2 || longest != 600*time.Millisecond {
		t.Fatalf("stalls %d, longest %v; want 2 and 600ms", n, longest)
	}
}
