//go:build linux

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
)

// An input file this user may not read is exit 3 ("could not run:
// permission"); a missing one stays a usage error (exit 2).
func TestUnreadableInputFilesExitThree(t *testing.T) {
	bin := testenv.CopyBinary(t)
	dir := filepath.Dir(bin)
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
		testenv.RunAs(t, cmd, testenv.Nobody)
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
