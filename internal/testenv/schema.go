package testenv

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaURL is the $id of docs/report.schema.json.
const schemaURL = "https://github.com/ecdata/ectool/docs/report.schema.json"

var (
	schemaOnce sync.Once
	schemaErr  error
	schemas    = map[string]*jsonschema.Schema{}
)

// compileSchemas compiles the root of docs/report.schema.json and each of
// its $defs once per test binary.
func compileSchemas(t testing.TB) {
	t.Helper()
	schemaOnce.Do(func() {
		b, err := os.ReadFile(filepath.Join(ModuleRoot(t), "docs", "report.schema.json"))
		if err != nil {
			schemaErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			schemaErr = err
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertContent()
		if schemaErr = c.AddResource(schemaURL, doc); schemaErr != nil {
			return
		}
		defs, _ := doc.(map[string]any)["$defs"].(map[string]any)
		names := []string{""}
		for name := range defs {
			names = append(names, name)
		}
		for _, name := range names {
			loc := schemaURL
			if name != "" {
				loc += "#/$defs/" + name
			}
			if schemas[name], schemaErr = c.Compile(loc); schemaErr != nil {
				return
			}
		}
	})
	if schemaErr != nil {
		t.Fatalf("docs/report.schema.json: %v", schemaErr)
	}
}

// AssertSchema fails the test unless doc, one JSON document a command
// wrote with -o json, is valid against docs/report.schema.json: its root
// (a report) for def "", else the $defs entry def names ("errorDocument",
// "version", "lab", ...).
func AssertSchema(t testing.TB, def string, doc []byte) {
	t.Helper()
	compileSchemas(t)
	sch := schemas[def]
	if sch == nil {
		t.Fatalf("docs/report.schema.json has no $defs/%s", def)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, doc)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("not a valid %s (docs/report.schema.json): %v\n%s", schemaName(def), err, doc)
	}
	if def == "" || def == "report" {
		assertFirstFailure(t, doc)
	}
}

// AssertStream fails the test unless every line of a JSON Lines stream is
// a #/$defs/streamLine, and only its last line is a report or an error (a
// summary may come just before the error). It returns the lines.
func AssertStream(t testing.TB, out []byte) [][]byte {
	t.Helper()
	var lines [][]byte
	for _, l := range bytes.Split(bytes.TrimRight(out, "\n"), []byte("\n")) {
		if len(l) > 0 {
			lines = append(lines, l)
		}
	}
	for i, l := range lines {
		AssertSchema(t, "streamLine", l)
		var keys map[string]json.RawMessage
		_ = json.Unmarshal(l, &keys)
		_, isReport := keys["schema"]
		_, isReportLine := keys["report"]
		_, isError := keys["error"]
		_, isSummary := keys["summary"]
		last := i == len(lines)-1
		switch {
		case (isReport || isReportLine || isError) && !last:
			t.Errorf("line %d of %d ends the stream but is not its last: %s", i+1, len(lines), l)
		case isSummary && !last && i != len(lines)-2:
			t.Errorf("line %d of %d is a summary in the middle of the stream: %s", i+1, len(lines), l)
		}
	}
	return lines
}

// assertFirstFailure checks what the schema cannot: first_failure names
// the first failed check (or is null when none failed).
func assertFirstFailure(t testing.TB, doc []byte) {
	t.Helper()
	var r struct {
		Checks []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"checks"`
		FirstFailure *struct {
			ID string `json:"id"`
		} `json:"first_failure"`
	}
	if json.Unmarshal(doc, &r) != nil {
		return
	}
	want := ""
	for _, c := range r.Checks {
		if c.Status == "failed" {
			want = c.ID
			break
		}
	}
	got := ""
	if r.FirstFailure != nil {
		got = r.FirstFailure.ID
	}
	if got != want {
		t.Errorf("first_failure is %q, but the first failed check is %q", got, want)
	}
}

func schemaName(def string) string {
	if def == "" {
		return "report"
	}
	return strings.TrimSpace(def)
}
