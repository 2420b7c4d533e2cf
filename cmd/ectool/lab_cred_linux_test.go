package main

import (
	"os/exec"
	"syscall"
)

// setCredential runs cmd as uid (and the same gid) with no supplementary
// groups; leaving root drops every capability.
func setCredential(cmd *exec.Cmd, uid int) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}}
}
