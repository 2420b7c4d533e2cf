//go:build linux

package serialport

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// FindHolders looks for other processes that have the device open (links in
// /proc/*/fd to it) or hold a UUCP lock file (/run/lock/LCK..ttyUSB0) with a
// live PID. When the device is a pseudo-terminal's slave (/dev/pts/N), the
// process holding its master (an fd on /dev/ptmx whose
// /proc/PID/fdinfo/FD says tty-index: N) is returned as a Bridge, whether
// it keeps the slave open too (socat, ser2net-style tools) or not (the lab's
// simulator): it is the other end of the wire. Processes we may not inspect
// are skipped: as root (CI, most gateways) every process is visible.
func FindHolders(path string) ([]Holder, error) {
	return findHolders("/proc", []string{"/run/lock", "/var/lock"}, path)
}

func findHolders(proc string, lockDirs []string, path string) ([]Holder, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, err
	}
	var want syscall.Stat_t
	if err := syscall.Stat(real, &want); err != nil {
		return nil, err
	}
	dev := device{path: path, real: real, rdev: uint64(want.Rdev), ptyIndex: ptySlaveIndex(real, uint64(want.Rdev))}
	self := os.Getpid()
	var out []Holder
	seen := map[int]bool{}
	entries, _ := os.ReadDir(proc)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		slave, master := dev.heldBy(filepath.Join(proc, e.Name()))
		switch {
		case master:
			how := "pty master"
			if slave {
				how = "pty master and slave"
			}
			out = append(out, Holder{PID: pid, Command: command(proc, pid), How: how, Bridge: true})
		case slave:
			out = append(out, Holder{PID: pid, Command: command(proc, pid), How: "open file"})
		default:
			continue
		}
		seen[pid] = true
	}
	base := filepath.Base(real)
	names := []string{base}
	if b := filepath.Base(path); b != base {
		names = append(names, b)
	}
	for _, dir := range lockDirs {
		for _, n := range names {
			pid, ok := lockPID(filepath.Join(dir, "LCK.."+n))
			if !ok || pid == self || seen[pid] {
				continue
			}
			if _, err := os.Stat(filepath.Join(proc, strconv.Itoa(pid))); err != nil {
				continue // stale lock
			}
			seen[pid] = true
			out = append(out, Holder{PID: pid, Command: command(proc, pid), How: "lock file " + filepath.Join(dir, "LCK.."+n)})
		}
	}
	return out, nil
}

// device is the port FindHolders looks for.
type device struct {
	path, real string
	rdev       uint64
	// ptyIndex is N of /dev/pts/N, -1 when the port is not a PTY slave.
	ptyIndex int
}

// heldBy reports whether the process at procDir has the device open
// (slave) and, for a PTY, its master side (master).
func (d device) heldBy(procDir string) (slave, master bool) {
	fdDir := filepath.Join(procDir, "fd")
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return false, false
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
		if err != nil || !strings.HasPrefix(link, "/dev/") {
			continue
		}
		if d.ptyIndex >= 0 && isPTMX(link) {
			if !master && ttyIndex(filepath.Join(procDir, "fdinfo", fd.Name())) == d.ptyIndex {
				master = true
			}
			continue
		}
		if !slave && d.is(link) {
			slave = true
		}
	}
	return slave, master
}

// is reports whether an fd's link names the device, by path or by device
// number (another name for the same node).
func (d device) is(link string) bool {
	if link == d.real || link == d.path {
		return true
	}
	var st syscall.Stat_t
	return syscall.Stat(link, &st) == nil && uint64(st.Rdev) == d.rdev && st.Rdev != 0
}

// isPTMX reports whether an fd's link is the PTY multiplexer: /dev/ptmx,
// or /dev/pts/ptmx inside a container with its own devpts.
func isPTMX(link string) bool { return link == "/dev/ptmx" || link == "/dev/pts/ptmx" }

// ttyIndex reads the tty-index line of a /dev/ptmx fd's fdinfo (Linux 4.14
// and later): the N of the /dev/pts/N slave that fd is the master of. -1
// when absent.
func ttyIndex(fdinfo string) int {
	b, err := os.ReadFile(fdinfo)
	if err != nil {
		return -1
	}
	return parseTTYIndex(b)
}

// parseTTYIndex finds "tty-index:\tN" in fdinfo text.
func parseTTYIndex(b []byte) int {
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != "tty-index" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return -1
		}
		return n
	}
	return -1
}

// ptySlaveIndex is N for a PTY slave (/dev/pts/N, character major 136-143),
// -1 for anything else.
func ptySlaveIndex(real string, rdev uint64) int {
	major := unix.Major(rdev)
	if major < 136 || major > 143 {
		return -1
	}
	if n, ok := strings.CutPrefix(real, "/dev/pts/"); ok {
		if i, err := strconv.Atoi(n); err == nil {
			return i
		}
	}
	// Another name for the node (a udev link resolved elsewhere): slaves
	// take minor N of major 136 (minors are 20 bits wide).
	if major == 136 {
		return int(unix.Minor(rdev))
	}
	return -1
}

// lockPID reads a UUCP lock file: the PID in ASCII (10 characters, HDB
// style) or as a 4-byte binary integer (old style).
func lockPID(file string) (int, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
		return pid, true
	}
	if len(b) == 4 {
		pid := int(b[0]) | int(b[1])<<8 | int(b[2])<<16 | int(b[3])<<24
		return pid, pid > 0
	}
	return 0, false
}

func command(proc string, pid int) string {
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// SetLowLatency sets an FTDI adapter's latency timer to 1 ms where sysfs
// exposes it (/sys/class/tty/ttyUSB0/device/latency_timer): by default the
// chip holds received bytes up to 16 ms, which hides gaps and slows every
// request. Other adapters have no such file; that is not an error.
func SetLowLatency(path string) LatencyTimer { return setLowLatency("/sys/class/tty", path) }

func setLowLatency(ttyClass, path string) LatencyTimer {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return LatencyTimer{}
	}
	file := filepath.Join(ttyClass, filepath.Base(real), "device", "latency_timer")
	b, err := os.ReadFile(file)
	if err != nil {
		return LatencyTimer{}
	}
	lt := LatencyTimer{Path: file}
	lt.Before, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	lt.After = lt.Before
	if lt.Before <= 1 {
		return lt
	}
	if err := os.WriteFile(file, []byte("1"), 0o644); err != nil {
		lt.Err = fmt.Sprintf("cannot set it to 1 ms: %v", err)
		return lt
	}
	lt.After = 1
	return lt
}
