// Package testenv is what ectool's tests share: network isolation (each test
// package runs in a network namespace of its own), real peers that must be
// present in CI, the ectool binary under test, and free loopback ports.
//
// A test package that uses the network starts with
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// and its tests call testenv.Require(t, "mosquitto") for each peer they start.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const netnsEnv = "ECTOOL_TEST_NETNS"

// CI reports whether we run under CI (CI=true), where a missing peer is a
// failure, never a skip.
func CI() bool { return os.Getenv("CI") == "true" }

// Main runs the package's tests inside a fresh network namespace with a
// random name (ectool-t-XXXXXXXX) and its own loopback, then deletes it. It
// needs root and `ip` (iproute2); without them it runs the tests in the
// current namespace, except under CI, where it fails.
func Main(m *testing.M) {
	if os.Getenv(netnsEnv) != "" || runtime.GOOS != "linux" {
		os.Exit(m.Run())
	}
	ip, err := exec.LookPath("ip")
	if err != nil || os.Geteuid() != 0 {
		if CI() {
			fmt.Fprintln(os.Stderr, "testenv: CI=true but cannot isolate the tests in a network namespace (need root and iproute2)")
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "testenv: not root or no iproute2: running in the current network namespace")
		os.Exit(m.Run())
	}
	name := "ectool-t-" + randomHex(4)
	if out, err := exec.Command(ip, "netns", "add", name).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: ip netns add %s: %v: %s\n", name, err, out)
		if CI() {
			os.Exit(1)
		}
		os.Exit(m.Run())
	}
	code := 1
	defer func() {
		_ = exec.Command(ip, "netns", "delete", name).Run()
		os.Exit(code)
	}()
	if out, err := exec.Command(ip, "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: bringing up lo in %s: %v: %s\n", name, err, out)
		return
	}
	args := append([]string{"netns", "exec", name}, os.Args...)
	cmd := exec.Command(ip, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), netnsEnv+"="+name)
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
			return
		}
		fmt.Fprintf(os.Stderr, "testenv: running tests in %s: %v\n", name, err)
		return
	}
	code = 0
}

// Netns is the name of the namespace the tests run in ("" when not isolated).
func Netns() string { return os.Getenv(netnsEnv) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Require returns the path of a peer program, skipping the test when it is
// missing (failing under CI=true).
func Require(t testing.TB, program string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if _, err := os.Stat(filepath.Join(dir, program)); err == nil {
			return filepath.Join(dir, program)
		}
	}
	Missing(t, "peer %q is not installed (scripts/test.sh installs it)", program)
	return ""
}

// Missing skips the test for a missing prerequisite, or fails it under CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("CI=true: %s", msg)
	}
	t.Skip(msg)
}

// RequireNetns returns the network namespace the package's tests run in
// (see Main), for a test that changes routes or links: they must not reach
// the host's namespace. Another OS is NotApplicable; on Linux a missing
// namespace (not root, no iproute2) is Missing, a failure under CI.
func RequireNetns(t testing.TB) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		NotApplicable(t, "network namespaces are Linux-only (%s)", runtime.GOOS)
	}
	if Netns() == "" {
		Missing(t, "needs the test package's own network namespace (testenv.Main: root and iproute2)")
	}
	return Netns()
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary returns the ectool binary under test: $ECTOOL_BIN, or one built
// once per test process with CGO_ENABLED=0.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ECTOOL_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatalf("ECTOOL_BIN: %v", err)
		}
		return abs
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ectool-bin-")
		if err != nil {
			binErr = err
			return
		}
		_ = os.Chmod(dir, 0o755)
		binPath = filepath.Join(dir, "ectool")
		root, err := moduleRoot()
		if err != nil {
			binErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/ectool")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if binErr != nil {
		t.Fatalf("building ectool: %v", binErr)
	}
	return binPath
}

// CopyBinary copies the ectool binary under test into a directory every
// user can traverse and returns the copy's path: for tests that run it as
// another user or give the copy file capabilities (setcap).
func CopyBinary(t testing.TB) string {
	t.Helper()
	return CopyExecutable(t, Binary(t))
}

// CopyExecutable copies the program src into a directory every user can
// traverse. cp writes the copy, not this process: a write descriptor held
// here would leak into a child another test forks meanwhile, and exec of
// the copy would fail with "text file busy".
func CopyExecutable(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(PrivateDir(t), filepath.Base(src))
	if out, err := exec.Command("cp", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("copying %s: %v: %s", src, err, out)
	}
	if err := os.Chmod(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// ModuleRoot is the directory holding go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	r, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// SharedDir is ../shared beside the clone (fixtures, conventions), or ""
// when absent (never absent in CI).
func SharedDir(t testing.TB) string {
	t.Helper()
	root := ModuleRoot(t)
	d := filepath.Join(filepath.Dir(root), "shared")
	if _, err := os.Stat(d); err != nil {
		Missing(t, "../shared is not beside the clone")
		return ""
	}
	return d
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Callers
// that start a peer on it retry with another port when the bind fails.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitPort waits until something accepts TCP connections on addr.
func WaitPort(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s: %v", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PrivateDir is a temp dir that an unprivileged uid can traverse (for binaries
// and configs used by tests that drop privileges).
func PrivateDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	_ = os.Chmod(d, 0o755)
	// t.TempDir's parent (one per test) is 0700: let others traverse it.
	_ = os.Chmod(filepath.Dir(d), 0o711)
	return d
}

// Lines splits output into non-empty lines.
func Lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
