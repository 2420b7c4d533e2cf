//go:build !linux

package testenv

import "syscall"

func peerProcAttr() *syscall.SysProcAttr { return nil }
