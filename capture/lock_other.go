//go:build !unix

package capture

import "errors"

// LockFile is the name of the lock file in a ring directory.
const LockFile = ".lock"

type dirLock struct{}

// ErrLockUnsupportedOS: flock is not available on this OS.
var ErrLockUnsupportedOS = errors.New("file locks are not supported on this OS")

func lockDir(dir string) (*dirLock, error) { return &dirLock{}, nil }

func (l *dirLock) release() {}

// LockHolder cannot tell on this OS.
func LockHolder(dir string) (held bool, pid int, err error) { return false, 0, ErrLockUnsupportedOS }
