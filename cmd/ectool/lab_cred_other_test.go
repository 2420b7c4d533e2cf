//go:build !linux

package main

import (
	"os/exec"
	"testing"
)

func setCredential(cmd *exec.Cmd, uid int) {
	panic("running as another uid is tested on Linux only")
}

var _ = testing.Short
