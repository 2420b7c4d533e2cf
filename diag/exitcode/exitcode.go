// Package exitcode says how an ectool run ends. The conventions fix four
// exit codes: 0 nothing wrong found, 1 a problem found, 2 a usage error, 3
// could not run. A failure carries its Kind, so the package that meets it
// (a capture that may not open a packet socket, a serial port another
// process holds) decides what it means, and cmd/ectool turns every error
// into an exit code in one place.
//
// It is a leaf: it imports nothing of ectool, so every package can return
// its errors. An error says its kind by being an *Error or by having an
// ExitKind method; KindOf finds it anywhere in a wrapped chain. An error may
// carry the technician's next step the same way (NextStep; HintOf).
package exitcode

import (
	"errors"
	"fmt"
)

// The exit codes of CONVENTIONS.md.
const (
	OK        = 0 // ran; nothing wrong found
	Problem   = 1 // ran; a problem found
	Usage     = 2 // bad flag, argument or input file
	CannotRun = 3 // permission, port missing or busy, I/O, unsupported OS
)

// Kind is what a failure means for the run.
type Kind uint8

// The kinds of failure. KindUnsupported ends a run like KindCannotRun (exit
// 3) but says the OS lacks the feature, so nothing on this machine helps.
const (
	KindProblem     Kind = iota + 1 // ran and found something wrong: exit 1
	KindUsage                       // a bad flag, argument or input file: exit 2
	KindCannotRun                   // permission, a missing or busy port, I/O: exit 3
	KindUnsupported                 // not supported on this OS: exit 3
)

// Code is the process exit code of the kind.
func (k Kind) Code() int {
	switch k {
	case KindProblem:
		return Problem
	case KindUsage:
		return Usage
	case KindCannotRun, KindUnsupported:
		return CannotRun
	}
	return Problem
}

func (k Kind) String() string {
	switch k {
	case KindProblem:
		return "problem"
	case KindUsage:
		return "usage"
	case KindCannotRun:
		return "cannot_run"
	case KindUnsupported:
		return "unsupported"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Error is a failure that knows its kind: what failed (Message, or Err's
// words when Message is empty), the next step (Hint) and the cause.
type Error struct {
	Kind    Kind
	Message string
	Hint    string
	Err     error
}

func (e *Error) Error() string {
	switch {
	case e.Message != "":
		return e.Message
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Kind.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ExitKind is the kind of the failure.
func (e *Error) ExitKind() Kind { return e.Kind }

// NextStep is the hint.
func (e *Error) NextStep() string { return e.Hint }

// New is an *Error of kind with a message and no cause, for a sentinel
// tested with errors.Is.
func New(kind Kind, message, hint string) *Error {
	return &Error{Kind: kind, Message: message, Hint: hint}
}

// Wrap gives err a kind (nil stays nil); its words stay err's.
func Wrap(kind Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Err: err}
}

// Unsupported is the failure of a feature this OS lacks: "live capture is
// not supported on windows".
func Unsupported(feature, goos, hint string) *Error {
	return &Error{Kind: KindUnsupported, Message: feature + " is not supported on " + goos, Hint: hint}
}

// kinded is an error that knows what it means for the run.
type kinded interface {
	error
	ExitKind() Kind
}

// hinted is an error that carries the technician's next step.
type hinted interface {
	error
	NextStep() string
}

// KindOf finds the kind of the first error in err's chain that knows one.
// ok is false for nil and for errors no package classified.
func KindOf(err error) (k Kind, ok bool) {
	var e kinded
	if errors.As(err, &e) {
		return e.ExitKind(), true
	}
	return 0, false
}

// Is reports whether err's kind is k.
func Is(err error, k Kind) bool {
	got, ok := KindOf(err)
	return ok && got == k
}

// HintOf is the next step of the first error in err's tree (as errors.As
// walks it) that carries a non-empty one; "" when none does.
func HintOf(err error) string {
	if err == nil {
		return ""
	}
	if h, ok := err.(hinted); ok && h.NextStep() != "" {
		return h.NextStep()
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return HintOf(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if h := HintOf(e); h != "" {
				return h
			}
		}
	}
	return ""
}
