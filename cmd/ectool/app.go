package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// Streams are the process's standard streams, injected so tests can read
// what a person would see.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutTTY and ErrTTY say whether stdout / stderr are terminals; InTTY
	// whether stdin is one (a person who can answer a question).
	OutTTY bool
	ErrTTY bool
	InTTY  bool
}

// DefaultStreams are os.Stdin/Stdout/Stderr.
func DefaultStreams() *Streams {
	return &Streams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		OutTTY: isatty.IsTerminal(os.Stdout.Fd()),
		ErrTTY: isatty.IsTerminal(os.Stderr.Fd()),
		InTTY:  isatty.IsTerminal(os.Stdin.Fd()),
	}
}

// App carries what every command shares: streams, global flags and the clock.
type App struct {
	IO      *Streams
	Output  string // "text" or "json"
	NoColor bool
	Verbose bool
	Now     func() time.Time
	Getenv  func(string) string

	stylesOnce sync.Once
	out, err   *styles // the styles of IO.Out and IO.ErrOut
}

// JSON reports whether -o json was asked for.
func (a *App) JSON() bool { return a.Output == "json" }

// Color reports whether styled output may be used on stdout.
func (a *App) Color() bool {
	return a.IO.OutTTY && !a.NoColor && a.Getenv("NO_COLOR") == ""
}

// errColor reports whether styled output may be used on stderr.
func (a *App) errColor() bool {
	return a.IO.ErrTTY && !a.NoColor && a.Getenv("NO_COLOR") == ""
}

// Infof talks to the person on stderr.
func (a *App) Infof(format string, args ...any) {
	a.say("", format, args...)
}

// Warnf prints a warning on stderr ("! " glyph on a TTY, "warning: " when piped).
func (a *App) Warnf(format string, args ...any) {
	if a.errColor() {
		a.say(a.errStyles().warn.Render("!")+" ", format, args...)
		return
	}
	a.say("warning: ", format, args...)
}

// Debugf prints only with -v.
func (a *App) Debugf(format string, args ...any) {
	if a.Verbose {
		a.say("debug: ", format, args...)
	}
}

func (a *App) say(prefix, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	fmt.Fprint(a.IO.ErrOut, prefix+msg)
}
