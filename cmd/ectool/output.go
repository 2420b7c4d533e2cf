package main

import (
	"bufio"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// The one JSON writer. A command writes one JSON document (printJSON: a
// report, the version, the lab's endpoints) or, when it reports as it
// goes, a stream (newStream): JSON Lines, each line a record, the last one
// the run's report, summary or error. Under -o json every failure leaves
// JSON on stdout: a report with the failed check, a stream's closing
// {"error":...} line, or else one {"error":...} document (handleError).

// encodeJSON writes v and a newline, without escaping <, > and & (payloads
// and hints are read by people too).
func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printJSON writes v to stdout as one JSON document.
func (a *App) printJSON(v any) error { return encodeJSON(a.IO.Out, v) }

// errorDocument is a failure on stdout under -o json: {"error": {...}}. A
// stream that ends in failure names the step that failed and how many
// records came before it.
type errorDocument struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Step     string `json:"step,omitempty"`
	Message  string `json:"message"`
	Hint     string `json:"hint"`
	ExitCode int    `json:"exit_code"`
	Received *int   `json:"received,omitempty"`
}

// writeErrorJSON writes e as one error document to w.
func writeErrorJSON(w io.Writer, e *ExitError) {
	_ = encodeJSON(w, errorDocument{Error: errorBody{Message: e.Error(), Hint: e.Hint, ExitCode: e.Code}})
}

// flushDelay is how late a line of a stream may reach a pipe: batching the
// writes keeps a subscriber ahead of a fast publisher.
const flushDelay = 20 * time.Millisecond

// stream is a command's output written as it comes: JSON Lines records
// with -o json, text lines otherwise. On a terminal every line shows at
// once; into a pipe lines go out in batches, at most flushDelay late. It
// is safe for concurrent use.
type stream struct {
	app *App
	mu  sync.Mutex
	w   *bufio.Writer
	enc *json.Encoder
	tty bool
	// timer flushes a batch flushDelay after its first line.
	timer *time.Timer
	armed bool
	err   error // the first write error; later writes are dropped
}

// newStream starts stdout's stream.
func (a *App) newStream() *stream {
	s := &stream{app: a, w: bufio.NewWriterSize(a.IO.Out, 64<<10), tty: a.IO.OutTTY}
	s.enc = json.NewEncoder(s.w)
	s.enc.SetEscapeHTML(false)
	s.timer = time.AfterFunc(time.Hour, s.timedFlush)
	s.timer.Stop()
	return s
}

// Record writes v as one JSON Lines record.
func (s *stream) Record(v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = s.enc.Encode(v)
	}
	return s.wrote()
}

// Line writes one line of text (the newline is added).
func (s *stream) Line(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		if _, err := s.w.WriteString(text); err != nil {
			s.err = err
		} else {
			s.err = s.w.WriteByte('\n')
		}
	}
	return s.wrote()
}

// wrote flushes at once on a terminal, or arms the batch's flush.
func (s *stream) wrote() error {
	switch {
	case s.err != nil:
	case s.tty:
		s.err = s.w.Flush()
	case !s.armed:
		s.armed = true
		s.timer.Reset(flushDelay)
	}
	return s.err
}

func (s *stream) timedFlush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = false
	if s.err == nil {
		s.err = s.w.Flush()
	}
}

// Err is the first error writing the stream.
func (s *stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close flushes what is left; the stream may not be written after.
func (s *stream) Close() error {
	s.timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = false
	if s.err == nil {
		s.err = s.w.Flush()
	}
	return s.err
}

// Fail ends a JSON stream with one {"error":...} line naming step, so a
// pipeline reading stdout learns why it ended and, with received, how
// many records came; e's words still go to stderr. Without -o json it
// leaves stdout alone. It returns e.
func (s *stream) Fail(e *ExitError, step string, received *int) *ExitError {
	if !s.app.JSON() {
		return e
	}
	_ = s.Record(errorDocument{Error: errorBody{Step: step, Message: e.Error(), Hint: e.Hint, ExitCode: e.Code, Received: received}})
	e.OnStdout = true
	return e
}

// writeErr is the exit-3 error of a stream stdout would not take.
func writeErr(err error) *ExitError { return cannotRun("", "writing output: %v", err) }
