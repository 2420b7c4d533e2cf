package main

import (
	"io"
	"os"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// styles are the lipgloss styles of one output stream, on a renderer bound
// to that stream: the colour profile is the stream's own, not the one
// lipgloss's default renderer reads from the process's stdout (which is
// wrong for stderr when only one of them is a terminal, and for the fake
// streams of a test).
type styles struct {
	ok, warn, fail, skip, title, dim lipgloss.Style
}

// newStyles makes the styles of w. They are only used when the App says
// colour is wanted on w (Color, errColor); a stream a test declares a
// terminal gets ANSI colours.
func newStyles(w io.Writer) *styles {
	var r *lipgloss.Renderer
	if f, ok := w.(*os.File); ok {
		r = lipgloss.NewRenderer(f)
	} else {
		r = lipgloss.NewRenderer(w, termenv.WithProfile(termenv.ANSI))
	}
	return &styles{
		ok:    r.NewStyle().Foreground(lipgloss.Color("2")).Bold(true),
		warn:  r.NewStyle().Foreground(lipgloss.Color("3")).Bold(true),
		fail:  r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		skip:  r.NewStyle().Foreground(lipgloss.Color("8")),
		title: r.NewStyle().Bold(true),
		dim:   r.NewStyle().Foreground(lipgloss.Color("8")),
	}
}

// outStyles are stdout's styles.
func (a *App) outStyles() *styles {
	a.stylesOnce.Do(a.makeStyles)
	return a.out
}

// errStyles are stderr's styles.
func (a *App) errStyles() *styles {
	a.stylesOnce.Do(a.makeStyles)
	return a.err
}

func (a *App) makeStyles() {
	a.out, a.err = newStyles(a.IO.Out), newStyles(a.IO.ErrOut)
}
