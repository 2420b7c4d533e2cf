package tour

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ecdata/ectool/diag/report"
)

// Doc is a command's -o json report (schema ectool.report/v1) as the tour
// reads it: the checks, and the details left raw for each step to decode
// into the types it knows.
type Doc struct {
	Schema       string               `json:"schema"`
	Command      string               `json:"command"`
	Target       string               `json:"target"`
	Checks       []report.Check       `json:"checks"`
	FirstFailure *report.FirstFailure `json:"first_failure"`
	Details      json.RawMessage      `json:"details"`
}

// Check returns the check called id, or nil.
func (d *Doc) Check(id string) *report.Check {
	for i := range d.Checks {
		if d.Checks[i].ID == id {
			return &d.Checks[i]
		}
	}
	return nil
}

// DetailsInto decodes the report's details into v.
func (d *Doc) DetailsInto(v any) error {
	if len(d.Details) == 0 {
		return errors.New("the report has no details")
	}
	if err := json.Unmarshal(d.Details, v); err != nil {
		return fmt.Errorf("the report's details: %v", err)
	}
	return nil
}

// ErrorDoc is the document a command prints under -o json when it failed
// without a report of its own, and the line a JSON Lines stream ends with
// when it stopped on an error.
type ErrorDoc struct {
	Message  string `json:"message"`
	Hint     string `json:"hint"`
	ExitCode int    `json:"exit_code"`
}

// Report reads the command's stdout as one report document. A stream's
// closing report (the last line) counts too.
func (c *Command) Report() (*Doc, error) {
	recs := c.Records()
	if len(recs) == 0 {
		return nil, errors.New("no JSON report on stdout")
	}
	var d Doc
	if err := json.Unmarshal(recs[len(recs)-1], &d); err != nil || d.Schema != report.Schema {
		if e := errorDoc(recs[len(recs)-1]); e != nil {
			return nil, fmt.Errorf("no report on stdout, an error instead: %s", e.Message)
		}
		return nil, fmt.Errorf("stdout is not an %s report", report.Schema)
	}
	return &d, nil
}

// Records splits stdout into its JSON documents (JSON Lines), skipping
// the lines that are not JSON.
func (c *Command) Records() []json.RawMessage {
	var out []json.RawMessage
	rest := c.Stdout
	for strings.TrimSpace(rest) != "" {
		dec := json.NewDecoder(strings.NewReader(rest))
		var m json.RawMessage
		if err := dec.Decode(&m); err != nil {
			// Not JSON: go on after the line it stopped in.
			at := int(dec.InputOffset())
			nl := strings.IndexByte(rest[at:], '\n')
			if nl < 0 {
				break
			}
			rest = rest[at+nl+1:]
			continue
		}
		if t := bytes.TrimSpace(m); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			out = append(out, m)
		}
		rest = rest[dec.InputOffset():]
	}
	return out
}

// Error is the {"error": ...} document or closing line on stdout, or nil.
func (c *Command) Error() *ErrorDoc {
	recs := c.Records()
	if len(recs) == 0 {
		return nil
	}
	return errorDoc(recs[len(recs)-1])
}

func errorDoc(raw json.RawMessage) *ErrorDoc {
	var e struct {
		Error *ErrorDoc `json:"error"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return nil
	}
	return e.Error
}
