// Package modemtest helps tests of the modem probe: a stub mmcli that
// answers from the synthetic JSON in probe/modem/testdata/mmcli.
package modemtest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// StubMMCLI writes an mmcli shell script into a new directory and returns
// the directory (put it first on PATH) and a function listing the argument
// lines it was called with. It answers "-m any -J", "-i <SIM path> -J" and
// "-b <bearer path> -J" from probe/modem/testdata/mmcli/<scenario>, and as
// mmcli does when ModemManager knows no modem when the scenario has no
// modem.json. Any other arguments fail the call (exit 2), so a test sees a
// probe that asked mmcli for something else.
func StubMMCLI(t testing.TB, scenario string) (dir string, calls func() []string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Fatalf("the stub mmcli is a shell script")
	}
	_, self, _, _ := runtime.Caller(0)
	data := filepath.Join(filepath.Dir(self), "..", "testdata", "mmcli", scenario)
	if _, err := os.Stat(data); err != nil {
		t.Fatalf("no mmcli scenario %q: %v", scenario, err)
	}
	dir = t.TempDir()
	log := filepath.Join(dir, "calls.log")
	script := `#!/bin/sh
# stub mmcli for ectool's tests: answers from ` + data + `
echo "$*" >> '` + log + `'
d='` + data + `'
case "$*" in
"-m any -J") f=modem.json ;;
"-i /org/freedesktop/ModemManager1/SIM/"*" -J") f=sim.json ;;
"-b /org/freedesktop/ModemManager1/Bearer/"*" -J") f=bearer.json ;;
*) echo "error: the stub mmcli does not answer '$*'" >&2; exit 2 ;;
esac
if [ ! -f "$d/modem.json" ]; then echo "error: couldn't find modem" >&2; exit 1; fi
if [ ! -f "$d/$f" ]; then echo "error: couldn't find object" >&2; exit 1; fi
cat "$d/$f"
`
	if err := os.WriteFile(filepath.Join(dir, "mmcli"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, func() []string {
		b, _ := os.ReadFile(log)
		if len(b) == 0 {
			return nil
		}
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
}
