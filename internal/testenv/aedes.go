package testenv

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// AedesDir is where scripts/test.sh installs aedes with `npm ci` (the
// versions pinned in its package-lock.json), relative to the module root.
const AedesDir = "scripts/peers/aedes"

// AedesConfig describes the aedes broker a test wants. The zero value lets
// every client in.
type AedesConfig struct {
	// User and Password, when User is set, are the only credentials
	// accepted; others get CONNACK 0x04 "bad user name or password".
	User, Password string
}

// Aedes is a running aedes broker: a Node.js MQTT broker that speaks only
// MQTT 3.1 and 3.1.1 (it answers an MQTT 5 CONNECT with a 3.1.1 CONNACK 0x01
// "unacceptable protocol version"), the kind of broker many sites run.
// It stops when the test ends.
type Aedes struct {
	URL  string // mqtt://127.0.0.1:PORT
	Host string
	Port int

	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.Closer
	stderr *syncBuffer
	done   chan struct{}
	once   sync.Once
}

// StartAedes starts aedes (node scripts/peers/aedes/server.mjs) on a port
// the kernel picks on 127.0.0.1 and returns once it listens (it prints the
// port). It needs node and the npm packages scripts/test.sh installs: the
// test is skipped without them, and fails under CI=true. On test failure the
// broker's stderr is printed.
func StartAedes(t testing.TB, cfg AedesConfig) *Aedes {
	t.Helper()
	node := Require(t, "node")
	dir := filepath.Join(ModuleRoot(t), AedesDir)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "aedes", "package.json")); err != nil {
		Missing(t, "aedes is not installed: run (cd %s && npm ci), as scripts/test.sh does", AedesDir)
		return nil
	}
	args := []string{filepath.Join(dir, "server.mjs"), "--host", "127.0.0.1", "--port", "0"}
	if cfg.User != "" {
		args = append(args, "--user", cfg.User+":"+cfg.Password)
	}
	a := &Aedes{t: t, Host: "127.0.0.1", stderr: &syncBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(node, args...)
	a.cmd.Dir = dir
	a.cmd.Stderr = a.stderr
	// aedes stops when its stdin closes: a test binary that dies never
	// leaves it behind.
	stdin, err := a.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	a.stdin = stdin
	out, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("starting aedes: %v", err)
	}
	t.Cleanup(a.Stop)
	port := make(chan string, 1)
	go func() {
		defer close(a.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				select {
				case port <- p:
				default:
				}
			}
		}
		_ = a.cmd.Wait()
	}()
	select {
	case p := <-port:
		a.Port, err = strconv.Atoi(p)
		if err != nil {
			t.Fatalf("aedes printed port %q", p)
		}
	case <-a.done:
		t.Fatalf("aedes ended before listening: %s", a.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("aedes did not listen within 30s: %s", a.stderr.String())
	}
	a.URL = "mqtt://" + net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
	return a
}

// Stop ends the broker (closing its stdin; killing it if it lingers) and
// prints its stderr when the test failed.
func (a *Aedes) Stop() {
	a.once.Do(func() {
		_ = a.stdin.Close()
		select {
		case <-a.done:
		case <-time.After(5 * time.Second):
			_ = a.cmd.Process.Kill()
			<-a.done
		}
		if a.t.Failed() && a.stderr.String() != "" {
			a.t.Logf("aedes stderr:\n%s", a.stderr.String())
		}
	})
}

// syncBuffer is a bytes.Buffer a child process writes while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
