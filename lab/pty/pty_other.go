//go:build !linux && !darwin

package pty

import (
	"errors"
	"fmt"
	"runtime"
	"time"
)

// ErrUnsupported is returned by Open where the OS has no pseudo-terminals
// to offer a program.
var ErrUnsupported = errors.New("pseudo-terminals: not supported on " + runtime.GOOS)

// Master is not available on this OS.
type Master struct{}

// Open is not supported on this OS.
func Open(baud int, link string) (*Master, error) {
	return nil, fmt.Errorf("%w", ErrUnsupported)
}

// Path is empty on this OS.
func (m *Master) Path() string { return "" }

// Link is empty on this OS.
func (m *Master) Link() string { return "" }

// SlaveOpen is false on this OS.
func (m *Master) SlaveOpen() bool { return false }

// Opens is 0 on this OS.
func (m *Master) Opens() uint64 { return 0 }

// Stalls is 0 on this OS.
func (m *Master) Stalls() (n uint64, longest time.Duration) { return 0, 0 }

// Write fails on this OS.
func (m *Master) Write(b []byte) (int, error) { return 0, ErrUnsupported }

// Close does nothing on this OS.
func (m *Master) Close() error { return nil }

// Pump returns at once on this OS.
func (m *Master) Pump(done <-chan struct{}, tick func(), data func([]byte) error) {}
