package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var checkIDCell = regexp.MustCompile("^\\|\\s*`([a-z0-9_<>N.]+)`\\s*\\|")

// DocumentedChecks reads the check IDs listed in docs/checks.md and returns
// a matcher for them (IDs written with <N> match any number there).
func DocumentedChecks(t testing.TB) func(id string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ModuleRoot(t), "docs", "checks.md"))
	if err != nil {
		t.Fatalf("reading docs/checks.md: %v", err)
	}
	exact := map[string]bool{}
	var patterns []*regexp.Regexp
	for _, line := range strings.Split(string(b), "\n") {
		m := checkIDCell.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		id := m[1]
		if strings.Contains(id, "<N>") {
			patterns = append(patterns, regexp.MustCompile("^"+strings.ReplaceAll(regexp.QuoteMeta(id), "<N>", "[0-9]+")+"$"))
			continue
		}
		exact[id] = true
	}
	return func(id string) bool {
		if exact[id] {
			return true
		}
		for _, p := range patterns {
			if p.MatchString(id) {
				return true
			}
		}
		return false
	}
}

// AssertChecksDocumented fails the test for every check ID in a JSON report
// (the output of a command run with -o json) that docs/checks.md does not
// list, and when the report is not valid against docs/report.schema.json.
func AssertChecksDocumented(t testing.TB, reportJSON []byte) {
	t.Helper()
	AssertSchema(t, "report", reportJSON)
	var r struct {
		Checks []struct {
			ID string `json:"id"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(reportJSON, &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, reportJSON)
	}
	documented := DocumentedChecks(t)
	for _, c := range r.Checks {
		if !documented(c.ID) {
			t.Errorf("check ID %q is emitted but not listed in docs/checks.md", c.ID)
		}
	}
}
