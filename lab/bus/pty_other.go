//go:build !linux && !darwin

package bus

import (
	"fmt"
	"runtime"
	"time"
)

// ErrPTYUnsupported is returned by OpenPTY where the OS has no PTYs to offer
// a scanner; use the rtuovertcp:// endpoint instead.
var ErrPTYUnsupported = fmt.Errorf("lab bus PTY: not supported on %s (use the rtuovertcp:// endpoint)", runtime.GOOS)

// PTY is not available on this OS.
type PTY struct{}

// OpenPTY is not supported on this OS.
func (b *Bus) OpenPTY(link string) (*PTY, error) { return nil, ErrPTYUnsupported }

// Path is empty on this OS.
func (x *PTY) Path() string { return "" }

// Link is empty on this OS.
func (x *PTY) Link() string { return "" }

// Port is nil on this OS.
func (x *PTY) Port() *Port { return nil }

// ReaderStalls is 0 on this OS.
func (x *PTY) ReaderStalls() (n uint64, longest time.Duration) { return 0, 0 }

// Close does nothing on this OS.
func (x *PTY) Close() error { return nil }
