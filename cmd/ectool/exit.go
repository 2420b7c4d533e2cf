package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/ecdata/ectool/diag/exitcode"
	"github.com/ecdata/ectool/diag/report"
)

// Exit codes fixed by CONVENTIONS.md.
const (
	ExitOK        = exitcode.OK        // ran; nothing wrong found
	ExitProblem   = exitcode.Problem   // ran; a problem was found
	ExitUsage     = exitcode.Usage     // bad flag, argument or input file
	ExitCannotRun = exitcode.CannotRun // permission, port missing or busy, I/O, unsupported OS
)

// ExitError ends a command with an exit code and a message for the person.
// Message says what failed and why; Hint says what to do next. Commands
// build one with usageError, problem or cannotRun, or with exitAs from an
// error whose kind a package decided; exitErrorOf maps any other error.
type ExitError struct {
	Code    int
	Message string
	Hint    string
	Err     error
	// Reported is set when the result was already rendered (a report with a
	// failed check): only the exit code is left to apply.
	Reported bool
	// OnStdout is set when, under -o json, stdout already tells this error
	// (a report with the failed step, a stream's closing error line): the
	// words still go to stderr, but no second JSON document to stdout.
	OnStdout bool
}

func (e *ExitError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("exit %d", e.Code)
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError is exit 2: a bad flag, argument or input file.
func usageError(format string, args ...any) *ExitError {
	return &ExitError{Code: ExitUsage, Message: fmt.Sprintf(format, args...)}
}

// problem is exit 1: ectool ran and found something wrong.
func problem(hint, format string, args ...any) *ExitError {
	return &ExitError{Code: ExitProblem, Message: fmt.Sprintf(format, args...), Hint: hint}
}

// cannotRun is exit 3: permission, missing or busy port, I/O, unsupported OS.
func cannotRun(hint, format string, args ...any) *ExitError {
	return &ExitError{Code: ExitCannotRun, Message: fmt.Sprintf(format, args...), Hint: hint}
}

// reported is the exit code of a result already rendered on stdout.
func reported(code int) error {
	if code == 0 {
		return nil
	}
	return &ExitError{Code: code, Reported: true}
}

// exitErrorOf is the one mapping from an error to how ectool ends. An
// *ExitError ends as it says. An error whose kind a package decided
// (exitcode.KindOf: a capture without CAP_NET_RAW, a serial port another
// process holds, a broker that refused) ends with that kind's code, in its
// own words and hint. An interrupt is a problem (the run did not finish).
// Anything else comes from cobra (an unknown command, a wrong number of
// arguments): a usage error.
func exitErrorOf(err error) *ExitError {
	var ee *ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return ee
	}
	if k, ok := exitcode.KindOf(err); ok {
		return &ExitError{Code: k.Code(), Message: err.Error(), Hint: exitcode.HintOf(err), Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &ExitError{Code: ExitProblem, Message: "interrupted before the end", Err: err}
	}
	return &ExitError{Code: ExitUsage, Message: err.Error(), Hint: "run 'ectool --help' (or the command with --help) for usage", Err: err}
}

// exitAs ends a command with err in the command's own words: the code is
// the one err's kind says, or def's when no package classified err.
func exitAs(err error, def exitcode.Kind, message, hint string) *ExitError {
	k, ok := exitcode.KindOf(err)
	if !ok {
		k = def
	}
	return &ExitError{Code: k.Code(), Message: message, Hint: hint, Err: err}
}

// reportExit ends a command whose report is on stdout: with the code of
// err's kind when the run could not go on (err is what the package
// returned beside the report: a port that would not open is exit 3), else
// with the report's (1 when a check failed).
func reportExit(rep *report.Report, err error, strict bool) error {
	code := rep.ExitCode(strict)
	if k, ok := exitcode.KindOf(err); ok && k.Code() > code {
		code = k.Code()
	}
	return reported(code)
}

// inputFileError is the error of an input file named on the command line
// (CONVENTIONS: missing, a directory or unparsable is a usage error, exit
// 2; a permission problem or an I/O error means ectool could not run, exit
// 3; a package's typed error keeps its kind).
// flag names the flag that named it ("" for an argument).
func inputFileError(flag, path string, err error) *ExitError {
	name := path
	if flag != "" {
		name = flag + " " + path
	}
	var pe *fs.PathError
	why := err.Error()
	if errors.As(err, &pe) {
		why = pe.Err.Error()
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return usageError("%s: no such file", name)
	case errors.Is(err, syscall.EISDIR):
		return usageError("%s: is a directory, not a file", name)
	case errors.Is(err, fs.ErrPermission):
		return cannotRun(fmt.Sprintf("run ectool as a user that may read it, or fix its permissions (ls -l %s)", path), "%s: permission denied", name)
	}
	if k, ok := exitcode.KindOf(err); ok {
		return &ExitError{Code: k.Code(), Message: fmt.Sprintf("%s: %s", name, why), Hint: exitcode.HintOf(err), Err: err}
	}
	return cannotRun("check the disk and the file", "%s: %s", name, why)
}
