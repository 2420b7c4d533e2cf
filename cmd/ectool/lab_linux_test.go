package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// setCredential runs cmd as uid (and the same gid) with no supplementary
// groups; leaving root drops every capability.
func setCredential(cmd *exec.Cmd, uid int) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}}
}

func TestLabRunsUntilSIGTERMAndCleansUp(t *testing.T) {
	cmd := exec.Command(reachableBinary(t), "lab", "-o", "json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	// Never a hang: reading the endpoints ends when the lab is killed.
	stop := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer stop.Stop()
	var ep struct {
		Dir string `json:"dir"`
	}
	// The endpoints document comes first, while the lab runs.
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil || json.Unmarshal(line, &ep) != nil || ep.Dir == "" {
		t.Fatalf("endpoints document: %v %q\n%s", err, line, errOut.String())
	}
	if _, err := os.Stat(ep.Dir); err != nil {
		t.Fatalf("lab dir while running: %v", err)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after SIGTERM: %v\n%s", err, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the lab did not stop within 15s of SIGTERM")
	}
	if _, err := os.Stat(ep.Dir); !os.IsNotExist(err) {
		t.Errorf("lab dir %s left behind: %v", ep.Dir, err)
	}
	if !strings.Contains(errOut.String(), "lab stopped") {
		t.Errorf("stderr: %q", errOut.String())
	}
}
