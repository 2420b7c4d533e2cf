package tour

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Command is one ectool command a step ran. Its fields are final once the
// command finished (Wait returned); ExitCode is -1 while it runs and when
// it could not start or was cut off at the step's timeout (Err says which).
type Command struct {
	// Args follow "ectool"; the last two are "-o json".
	Args       []string
	Background bool
	ExitCode   int
	Stdout     string
	Stderr     string
	Err        error

	cmd     *exec.Cmd
	outb    bytes.Buffer
	errb    bytes.Buffer
	mu      sync.Mutex // guards outb, errb while the process writes
	line    chan struct{}
	lineSet bool
	done    chan struct{}
}

// Line is the command as a person would paste it into a shell.
func (c *Command) Line() string { return CommandLine(c.Args) }

// Done is closed when the command has finished.
func (c *Command) Done() <-chan struct{} { return c.done }

// Wait waits for the command to finish.
func (c *Command) Wait() *Command {
	<-c.done
	return c
}

// FirstLine waits for the first whole line on the command's stdout (a
// long-running command's first document, such as the endpoints `ectool
// lab -o json` prints while it runs) and returns it.
func (c *Command) FirstLine(ctx context.Context) (string, error) {
	select {
	case <-c.line:
	case <-c.done:
	case <-ctx.Done():
		return "", fmt.Errorf("nothing on stdout before the step's timeout")
	}
	c.mu.Lock()
	out := c.outb.String()
	c.mu.Unlock()
	first, _, found := strings.Cut(out, "\n")
	if !found {
		return "", fmt.Errorf("it ended (exit %d) without a line on stdout", c.exitNow())
	}
	return first, nil
}

func (c *Command) exitNow() int {
	select {
	case <-c.done:
		return c.ExitCode
	default:
		return -1
	}
}

// Stop asks a background command to end as Ctrl-C would (SIGTERM; a kill
// where signals are not supported) and waits for it.
func (c *Command) Stop() *Command {
	select {
	case <-c.done:
		return c
	default:
	}
	if c.cmd != nil && c.cmd.Process != nil {
		if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			_ = c.cmd.Process.Kill()
		}
	}
	return c.Wait()
}

// stdoutWriter collects stdout and says when its first line is complete.
type stdoutWriter struct{ c *Command }

func (w stdoutWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	w.c.outb.Write(p)
	if !w.c.lineSet && bytes.IndexByte(p, '\n') >= 0 {
		w.c.lineSet = true
		close(w.c.line)
	}
	return len(p), nil
}

type stderrWriter struct{ c *Command }

func (w stderrWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.errb.Write(p)
}

// start runs exe with args (and -o json) until it ends or ctx does.
func start(ctx context.Context, exe string, args []string, timeout time.Duration, prepare func(*exec.Cmd)) *Command {
	args = append(append([]string{}, args...), "-o", "json")
	c := &Command{Args: args, ExitCode: -1, line: make(chan struct{}), done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = commandEnv()
	cmd.WaitDelay = 2 * time.Second
	cmd.Stdout, cmd.Stderr = stdoutWriter{c}, stderrWriter{c}
	if prepare != nil {
		prepare(cmd)
	}
	c.cmd = cmd
	finish := func(err error) {
		c.Err = err
		if cmd.ProcessState != nil {
			c.ExitCode = cmd.ProcessState.ExitCode()
		}
		if ctx.Err() != nil {
			c.ExitCode = -1
			c.Err = fmt.Errorf("cut off after %s (--timeout)", timeout)
		}
		var ee *exec.ExitError
		if errors.As(c.Err, &ee) {
			c.Err = nil // the exit code says it
		}
		c.mu.Lock()
		c.Stdout, c.Stderr = c.outb.String(), c.errb.String()
		c.mu.Unlock()
		close(c.done)
	}
	if err := cmd.Start(); err != nil {
		finish(err)
		return c
	}
	go func() { finish(cmd.Wait()) }()
	return c
}

// commandEnv is this process's environment without the variables that
// would change what the steps' commands do.
func commandEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ECTOOL_MQTT_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// CommandLine renders args as an ectool command a person can paste into a
// shell.
func CommandLine(args []string) string {
	parts := []string{"ectool"}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
