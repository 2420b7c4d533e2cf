//go:build linux

package modbus

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// FindHolders looks for other processes that have the device open (links in
// /proc/*/fd to it) or hold a UUCP lock file (/run/lock/LCK..ttyUSB0) with a
// live PID. Processes we may not inspect are skipped: as root (CI, most
// gateways) every process is visible.
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
	self := os.Getpid()
	var out []Holder
	seen := map[int]bool{}
	entries, _ := os.ReadDir(proc)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		fdDir := filepath.Join(proc, e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !strings.HasPrefix(link, "/dev/") {
				continue
			}
			if link != real && link != path {
				var st syscall.Stat_t
				if syscall.Stat(link, &st) != nil || st.Rdev != want.Rdev || st.Rdev == 0 {
					continue
				}
			}
			if !seen[pid] {
				seen[pid] = true
				out = append(out, Holder{PID: pid, Command: command(proc, pid), How: "open file"})
			}
			break
		}
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
