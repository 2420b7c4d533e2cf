//go:build unix

package capture

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// LockFile is the name of the lock file in a ring directory.
const LockFile = ".lock"

// dirLock is the flock a live writer holds on DIR/.lock.
type dirLock struct{ f *os.File }

// lockDir takes DIR/.lock (exclusive, non-blocking) and writes our pid in it.
func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		pid := readPID(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, PID: pid}
		}
		return nil, err
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &dirLock{f: f}, nil
}

func (l *dirLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
	l.f = nil
}

func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	return pid
}

// LockHolder says whether a live process holds DIR/.lock, and its pid
// (from the file, 0 when unknown). It takes and releases the lock itself
// when nobody holds it.
func LockHolder(dir string) (held bool, pid int, err error) {
	f, err := os.Open(filepath.Join(dir, LockFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, 0, nil
		}
		return false, 0, err
	}
	defer f.Close()
	pid = readPID(f)
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return true, pid, nil
		}
		return false, pid, fmt.Errorf("flock %s: %w", f.Name(), err)
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false, pid, nil
}

// ErrLockUnsupportedOS is returned by LockHolder where flock does not exist
// (never on Unix).
var ErrLockUnsupportedOS = errors.New("file locks are not supported on this OS")
