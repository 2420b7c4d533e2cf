package capture

import (
	"fmt"

	"github.com/ecdata/ectool/diag/exitcode"
)

// LockedError: another live writer holds the ring directory's lock (exit 3).
type LockedError struct {
	Dir string
	PID int
}

// ExitKind is exitcode.KindCannotRun.
func (e *LockedError) ExitKind() exitcode.Kind { return exitcode.KindCannotRun }

// NextStep says how to get the directory.
func (e *LockedError) NextStep() string {
	return "stop the other capture, or give this one another --dir"
}

func (e *LockedError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("another ectool capture (pid %d) is writing to %s", e.PID, e.Dir)
	}
	return fmt.Sprintf("another ectool capture is writing to %s", e.Dir)
}

// OptionError is a setting that cannot work, found before any I/O (exit
// 2). Field is named like the flag that sets it.
type OptionError struct {
	Field   string
	Problem string
}

func (e *OptionError) Error() string { return "--" + e.Field + ": " + e.Problem }

// ExitKind is exitcode.KindUsage.
func (e *OptionError) ExitKind() exitcode.Kind { return exitcode.KindUsage }

// DirError: the ring directory cannot be created, read or written (exit 3).
type DirError struct {
	Dir string
	Op  string
	Err error
}

func (e *DirError) Error() string { return fmt.Sprintf("%s %s: %v", e.Op, e.Dir, e.Err) }

func (e *DirError) Unwrap() error { return e.Err }

// ExitKind is exitcode.KindCannotRun.
func (e *DirError) ExitKind() exitcode.Kind { return exitcode.KindCannotRun }

// NextStep says how to make the directory the capture's.
func (e *DirError) NextStep() string {
	return fmt.Sprintf("make %s writable by this user (the unit's StateDirectory=, or chown)", e.Dir)
}
