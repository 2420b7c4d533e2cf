package netpath

import (
	"errors"
	"fmt"
	"runtime"
)

// ErrNotSupported is what a Linux-only part returns elsewhere.
var ErrNotSupported = errors.New("not supported on " + runtime.GOOS)

// BindError is a socket that could not be bound to the interface asked for
// (SO_BINDTODEVICE): an old kernel without the capability, or another OS.
type BindError struct {
	Iface string
	Err   error
}

func (e *BindError) Error() string {
	return fmt.Sprintf("cannot bind a socket to interface %s: %v", e.Iface, e.Err)
}

func (e *BindError) Unwrap() error { return e.Err }

// CannotRunError is a probe that could not run at all: the interface asked
// for does not exist, or sockets cannot be bound to it. Commands exit 3.
type CannotRunError struct {
	Message string
	Hint    string
	Err     error
}

func (e *CannotRunError) Error() string { return e.Message }
func (e *CannotRunError) Unwrap() error { return e.Err }
