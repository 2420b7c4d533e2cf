//go:build linux

package testenv

import "syscall"

// peerProcAttr kills a peer started by a test when the test process dies, so
// an interrupted `go test` leaves no broker behind.
func peerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
