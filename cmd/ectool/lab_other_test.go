//go:build !linux

package main

import "os/exec"

// setCredential is Linux-only: elsewhere runAs skips before calling it
// (there is no root to drop from).
func setCredential(cmd *exec.Cmd, uid int) {
	panic("running as another uid is tested on Linux only")
}
