package tour

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ecdata/ectool/lab"
)

// Tour is what a step works with: the lab and a way to run ectool
// against it.
type Tour struct {
	// Site is the running lab; EP its endpoints.
	Site *lab.Site
	EP   *lab.Endpoints
	// Scratch is a directory for files the steps write (the lab's).
	Scratch string

	o          Options
	mu         sync.Mutex
	commands   []*Command
	background []*Command
}

// commandEvidence is one command a step ran, as the report shows it.
type commandEvidence struct {
	Command  string `json:"command"`
	ExitCode int    `json:"exit_code"`
}

func (tr *Tour) evidence() []commandEvidence {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make([]commandEvidence, 0, len(tr.commands))
	for _, c := range tr.commands {
		code := -1
		select {
		case <-c.done:
			code = c.ExitCode
		default:
		}
		out = append(out, commandEvidence{Command: c.Line(), ExitCode: code})
	}
	return out
}

func (tr *Tour) start(ctx context.Context, background bool, args []string) *Command {
	c := start(ctx, tr.o.Executable, args, tr.o.Timeout, tr.o.prepare)
	c.Background = background
	tr.mu.Lock()
	tr.commands = append(tr.commands, c)
	if background {
		tr.background = append(tr.background, c)
	}
	tr.mu.Unlock()
	tr.o.Narrator.Command(c)
	return c
}

// Run runs ectool with args and -o json, shows the command line and its
// output, and returns it finished.
func (tr *Tour) Run(ctx context.Context, args ...string) *Command {
	c := tr.start(ctx, false, args).Wait()
	tr.o.Narrator.Output(c)
	return c
}

// Start starts ectool with args and -o json while the step goes on (a
// shell's "&"). Show it once it is done; the tour stops what a step left
// running when the step ends.
func (tr *Tour) Start(ctx context.Context, args ...string) *Command {
	return tr.start(ctx, true, args)
}

// Show waits for a background command and shows its output.
func (tr *Tour) Show(c *Command) *Command {
	c.Wait()
	tr.o.Narrator.Output(c)
	return c
}

// Note tells the walk-through what the tour itself does.
func (tr *Tour) Note(text string) { tr.o.Narrator.Note(text) }

// Login is the flags that log in to the lab broker as user with its
// password file.
func (tr *Tour) Login(user string) []string {
	u := tr.EP.Broker.User(user)
	return []string{"-u", u.Name, "--password-file", u.PasswordFile}
}

// WriteScratch writes a file for a step into the lab directory (mode 0600).
func (tr *Tour) WriteScratch(name, content string) (string, error) {
	p := filepath.Join(tr.Scratch, name)
	_ = os.Remove(p)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		return "", err
	}
	return p, nil
}

// WaitSubscribed waits until the lab broker has a subscriber for topic
// (the subscribing command c ending first is an error).
func (tr *Tour) WaitSubscribed(ctx context.Context, topic string, c *Command) error {
	return waitFor(ctx, c, func() bool { return tr.Site.Broker.Subscribers(topic) > 0 },
		"the subscriber did not subscribe in time", "the subscriber ended before subscribing")
}

// waitFor polls cond until it holds, ctx ends or c (when not nil) ends.
func waitFor(ctx context.Context, c *Command, cond func() bool, timedOut, ended string) error {
	var done <-chan struct{}
	if c != nil {
		done = c.done
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return errors.New(timedOut)
		case <-done:
			if cond() {
				return nil
			}
			return errors.New(ended)
		case <-tick.C:
		}
	}
	return nil
}
