package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
)

// labProcess is a lab started from the binary as some user.
type labProcess struct {
	cmd *exec.Cmd
	ep  struct {
		Dir    string `json:"dir"`
		Broker struct {
			MQTT  string `json:"mqtt"`
			WS    string `json:"ws"`
			Users []struct {
				Username     string `json:"username"`
				PasswordFile string `json:"password_file"`
			} `json:"users"`
		} `json:"broker"`
		Capture struct {
			Dir string `json:"dir"`
		} `json:"capture"`
	}
	stderr bytes.Buffer
}

// startLabAs starts `ectool lab` as u (uid -1: this test's user), with
// TMPDIR in scratch, and reads its endpoints. The lab is stopped (SIGTERM)
// when the test ends.
func startLabAs(t *testing.T, bin string, u asUser, scratch string) *labProcess {
	t.Helper()
	l := &labProcess{cmd: exec.Command(bin, "lab", "--duration", "5m", "--interval", "500ms", "-o", "json")}
	l.cmd.Dir = scratch
	l.cmd.Env = []string{"PATH=/usr/bin:/bin", "TMPDIR=" + scratch, "HOME=" + scratch}
	if u.uid >= 0 {
		testenv.RunAs(t, l.cmd, u.uid)
	}
	stdout, err := l.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	l.cmd.Stderr = &l.stderr
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = l.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = l.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = l.cmd.Process.Kill()
			<-done
			t.Errorf("the lab did not stop within 20 s of SIGTERM")
		}
	})
	// Never a hang: reading the endpoints ends when the lab is killed.
	stop := time.AfterFunc(60*time.Second, func() { _ = l.cmd.Process.Kill() })
	defer stop.Stop()
	br := bufio.NewReader(stdout)
	line, err := br.ReadBytes('\n')
	if err != nil || json.Unmarshal(line, &l.ep) != nil || l.ep.Capture.Dir == "" {
		t.Fatalf("lab endpoints: %v %q\n%s", err, line, l.stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, br) }()
	return l
}

func (l *labProcess) passwordFile(user string) string {
	for _, u := range l.ep.Broker.Users {
		if u.Username == user {
			return u.PasswordFile
		}
	}
	return ""
}

// TestInspectExplainsTheLabsRefusedLoginWithoutPorts is the tour's
// inspect step, run by hand, as root and as nobody: a wrong password on
// the lab's plain listener, then `capture inspect --since 30s <lab dir>`
// through the binary exits 1 with inspect.connect failed, naming the client
// and reason 0x86; a subscriber on the ws listener shows up decoded. No
// --ports: the ring's listener lines say which ephemeral port is which.
func TestInspectExplainsTheLabsRefusedLoginWithoutPorts(t *testing.T) {
	for _, u := range labUsers {
		t.Run(u.name, func(t *testing.T) {
			t.Parallel()
			bin := reachableBinary(t)
			scratch := testenv.PrivateDir(t)
			_ = os.Chmod(scratch, 0o1777)
			lab := startLabAs(t, bin, u, scratch)
			as := func(args ...string) (int, string, string) {
				t.Helper()
				return runAs(t, bin, u, 2*time.Minute, args...)
			}
			tech := lab.passwordFile("tech")
			if code, _, errOut := as("mqtt", "sub", "-b", lab.ep.Broker.WS, "-u", "tech", "--password-file", tech, "--client-id", "ws-watcher",
				"-t", "ec-data/lab/+/telemetry", "--count", "3", "--timeout", "30s"); code != 0 {
				t.Fatalf("mqtt sub over ws: exit %d: %s", code, errOut)
			}
			wrong := filepath.Join(scratch, "wrong.password")
			if err := os.WriteFile(wrong, []byte("not-the-password\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if code, _, errOut := as("mqtt", "pub", "-b", lab.ep.Broker.MQTT, "-u", "tech", "--password-file", wrong,
				"--client-id", "tour-wrong-pw", "-t", "ectool/x", "-m", "z"); code != ExitProblem {
				t.Fatalf("mqtt pub with a wrong password: exit %d, want 1: %s", code, errOut)
			}
			testenv.WaitRingFlushed(t, lab.ep.Capture.Dir, time.Now(), 30*time.Second)

			code, out, errOut := as("capture", "inspect", "--since", "30s", lab.ep.Dir, "-o", "json")
			if code != ExitProblem {
				t.Fatalf("capture inspect: exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			testenv.AssertChecksDocumented(t, []byte(out))
			var rep struct {
				Checks []struct {
					ID, Status string
					Evidence   struct {
						First []struct {
							ClientID   string `json:"client_id"`
							ReasonCode *int   `json:"reason_code"`
						}
					}
				}
				Details struct {
					Connections []struct {
						Protocol string
						ClientID *string `json:"client_id"`
						Types    map[string]int
					}
				}
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("not a JSON report: %v\n%s", err, out)
			}
			refused := false
			for _, c := range rep.Checks {
				if c.ID == "inspect.connect" && c.Status == "failed" {
					for _, f := range c.Evidence.First {
						refused = refused || f.ClientID == "tour-wrong-pw" && f.ReasonCode != nil && *f.ReasonCode == 0x86
					}
				}
			}
			if !refused {
				t.Errorf("inspect.connect does not fail naming tour-wrong-pw and 0x86:\n%s", out)
			}
			ws := false
			for _, c := range rep.Details.Connections {
				ws = ws || c.Protocol == "ws" && c.ClientID != nil && *c.ClientID == "ws-watcher" && c.Types["subscribe"] == 1 && c.Types["publish"] >= 3
			}
			if !ws {
				t.Errorf("the subscriber on the ws listener is not decoded (connect, subscribe, 3 publishes):\n%s", out)
			}
		})
	}
}
