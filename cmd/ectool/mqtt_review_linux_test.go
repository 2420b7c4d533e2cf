//go:build linux

package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
)

// G5: an input file this user may not read is exit 3 ("could not run:
// permission"); a missing one stays a usage error (exit 2).
func TestUnreadableInputFilesExitThree(t *testing.T) {
	testenv.RequireRoot(t) // to run ectool as another user
	dir, err := os.MkdirTemp("", "ectool-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	_ = os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "ectool")
	src, err := os.Open(testenv.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(dst, src)
	_ = src.Close()
	if cerr := dst.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\nBEGIN"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"mqtt", "pub", "-b", "mqtt://127.0.0.1:1", "-u", "x", "--password-file", secret, "-t", "a", "-m", "x"}, 3, "--password-file " + secret + ": permission denied"},
		{[]string{"mqtt", "pub", "-b", "mqtts://127.0.0.1:1", "--ca", secret, "-t", "a", "-m", "x"}, 3, "--ca " + secret + ": permission denied"},
		{[]string{"mqtt", "pub", "-b", "mqtt://127.0.0.1:1", "--file", secret, "-t", "a"}, 3, "--file " + secret + ": permission denied"},
		{[]string{"mqtt", "pub", "-b", "mqtt://127.0.0.1:1", "-u", "x", "--password-file", secret + ".missing", "-t", "a", "-m", "x"}, 2, "no such file"},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "NO_COLOR=1"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args[2:], code, tc.code, errOut.String())
		}
	}
}
