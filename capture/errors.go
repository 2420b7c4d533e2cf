package capture

import "fmt"

// LockedError: another live writer holds the ring directory's lock.
type LockedError struct {
	Dir string
	PID int
}

func (e *LockedError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("another ectool capture (pid %d) is writing to %s", e.PID, e.Dir)
	}
	return fmt.Sprintf("another ectool capture is writing to %s", e.Dir)
}

// OptionError is a setting that cannot work, found before any I/O. Field
// is named like the flag that sets it.
type OptionError struct {
	Field   string
	Problem string
}

func (e *OptionError) Error() string { return "--" + e.Field + ": " + e.Problem }

// DirError: the ring directory cannot be created, read or written.
type DirError struct {
	Dir string
	Op  string
	Err error
}

func (e *DirError) Error() string { return fmt.Sprintf("%s %s: %v", e.Op, e.Dir, e.Err) }

func (e *DirError) Unwrap() error { return e.Err }
