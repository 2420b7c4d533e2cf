package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ecdata/ectool/internal/testenv"
)

// runMain runs ectool in-process with fake streams and returns exit code,
// stdout and stderr.
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, &Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

func TestUsageErrorsExitTwoWithOneLine(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"version", "--no-such-flag"},
		{"-o", "yaml", "version"},
		{"version", "extra-arg"},
		{"mqtt", "publish"},
		{"completion", "tcsh"},
		{"lab", "bogus"},
		{"scan", "sniff", "a", "b"},
	} {
		code, out, errOut := runMain(t, args...)
		if code != ExitUsage {
			t.Errorf("ectool %v: exit %d, want 2 (stderr %q)", args, code, errOut)
		}
		if out != "" {
			t.Errorf("ectool %v: usage error wrote to stdout: %q", args, out)
		}
		if !strings.HasPrefix(errOut, "error: ") {
			t.Errorf("ectool %v: stderr %q does not start with 'error: '", args, errOut)
		}
	}
}

func TestVersionJSONHasStableFields(t *testing.T) {
	code, out, _ := runMain(t, "version", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, out)
	}
	for _, k := range []string{"version", "commit", "date", "go_version", "os", "arch"} {
		if _, ok := v[k]; !ok {
			t.Errorf("version JSON lacks %q: %s", k, out)
		}
	}
}

func TestCompletionForEveryShell(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, errOut := runMain(t, "completion", sh)
		if code != 0 || len(out) < 100 {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", sh, code, len(out), errOut)
		}
	}
}

// groupFlags are the flags the group constructors added anywhere in the
// tree (addGroup marks each with its group), by name: the first seen of
// each is the one every other flag of that name must read like.
func groupFlags(root *cobra.Command) map[string]*pflag.Flag {
	m := map[string]*pflag.Flag{}
	walkCommands(root, func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if _, ok := f.Annotations[flagGroup]; ok && m[f.Name] == nil {
				m[f.Name] = f
			}
		})
	})
	return m
}

func walkCommands(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walkCommands(sub, fn)
	}
}

func TestFlagsMeanOneThing(t *testing.T) {
	root := NewRootCmd(&App{IO: &Streams{}, Output: "text", Getenv: os.Getenv})
	shared := groupFlags(root)
	if len(shared) < 20 {
		t.Fatalf("only %d flags come from group constructors: addGroup no longer marks them?", len(shared))
	}
	type seen struct {
		shorthand, typ, usage, where string
		// value is the flag's Go type: a group flag's must be its
		// constructor's (--ports is a portList on capture and capture
		// inspect alike).
		value reflect.Type
	}
	byName := map[string]seen{}
	byShort := map[string]string{}
	global := map[string]bool{}
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) { global[f.Name] = true })

	walkCommands(root, func(c *cobra.Command) {
		where := c.CommandPath()
		if c != root && c.PersistentFlags().HasFlags() {
			c.PersistentFlags().VisitAll(func(f *pflag.Flag) {
				t.Errorf("%s: --%s is persistent; only -o, --no-color and -v may be", where, f.Name)
			})
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if c != root && global[f.Name] {
				t.Errorf("%s: --%s shadows the global flag", where, f.Name)
			}
			s := seen{f.Shorthand, f.Value.Type(), f.Usage, where, reflect.TypeOf(f.Value)}
			if prev, ok := byName[f.Name]; ok {
				if prev.shorthand != s.shorthand {
					t.Errorf("--%s has shorthand %q in %s but %q in %s", f.Name, prev.shorthand, prev.where, s.shorthand, where)
				}
				if prev.typ != s.typ {
					t.Errorf("--%s is a %s in %s but a %s in %s", f.Name, prev.typ, prev.where, s.typ, where)
				}
			} else {
				byName[f.Name] = s
			}
			if g, ok := shared[f.Name]; ok {
				if problem := groupFlagProblem(where, g, f); problem != "" {
					t.Error(problem)
				}
			}
			if f.Shorthand != "" {
				if other, ok := byShort[f.Shorthand]; ok && other != f.Name {
					t.Errorf("-%s means --%s somewhere and --%s in %s", f.Shorthand, other, f.Name, where)
				}
				byShort[f.Shorthand] = f.Name
			}
		})
	})

	// The capture commands share their window and port flags: each from
	// its one constructor (flags_window.go, flags_ports.go).
	for path, names := range map[string][]string{
		"capture":         {"ports"},
		"capture export":  {"since", "until"},
		"capture inspect": {"since", "until", "ports"},
	} {
		c, _, err := root.Find(strings.Fields(path))
		if err != nil || c.CommandPath() != "ectool "+path {
			t.Errorf("no command ectool %s: %v", path, err)
			continue
		}
		for _, name := range names {
			f := c.LocalFlags().Lookup(name)
			switch {
			case f == nil:
				t.Errorf("ectool %s has no --%s", path, name)
			case name == "ports" && f.Value.Type() != "ports":
				t.Errorf("ectool %s: --ports is a %s, not addPortsFlag's port list", path, f.Value.Type())
			}
		}
	}
}

// groupFlagProblem holds f to the group flag g of the same name: added by
// the same constructor, with its help text and default unless the group
// leaves those to each command. It returns what is wrong, or "".
func groupFlagProblem(where string, g, f *pflag.Flag) string {
	group := g.Annotations[flagGroup][0]
	if got := f.Annotations[flagGroup]; len(got) == 0 || got[0] != group {
		return fmt.Sprintf("%s: --%s is the %s group's flag but was added by hand; add it with its group constructor", where, f.Name, group)
	}
	if reflect.TypeOf(g.Value) != reflect.TypeOf(f.Value) {
		return fmt.Sprintf("%s: --%s is a %T, not what the %s group's constructor adds (%T)", where, f.Name, f.Value, group, g.Value)
	}
	_, ownUsage := g.Annotations[perCommandUsage]
	_, ownDefault := g.Annotations[perCommandDefault]
	if !ownUsage && g.Usage != f.Usage || !ownDefault && g.DefValue != f.DefValue {
		return fmt.Sprintf("%s: --%s is a %s group flag but reads differently (%q, default %q); add it with its group constructor", where, f.Name, group, f.Usage, f.DefValue)
	}
	return ""
}

// A group constructor's flags are marked, so TestFlagsMeanOneThing finds
// a new group without a list; a flag added by hand under a group's name
// is caught.
func TestHandMadeGroupFlagIsCaught(t *testing.T) {
	root := &cobra.Command{Use: "x"}
	a := &cobra.Command{Use: "a", Run: func(*cobra.Command, []string) {}}
	b := &cobra.Command{Use: "b", Run: func(*cobra.Command, []string) {}}
	root.AddCommand(a, b)
	var d time.Duration
	addTimeoutFlag(a, &d, time.Second, "per request")
	b.Flags().DurationVar(&d, "timeout", time.Second, "per request")
	shared := groupFlags(root)
	if shared["timeout"] == nil || shared["timeout"].Annotations[flagGroup][0] != "timeout" {
		t.Fatalf("addTimeoutFlag's flag is not marked: %v", shared["timeout"])
	}
	if groupFlagProblem("x b", shared["timeout"], b.Flags().Lookup("timeout")) == "" {
		t.Fatal("a --timeout added by hand passed as the timeout group's")
	}
	if p := groupFlagProblem("x a", shared["timeout"], a.Flags().Lookup("timeout")); p != "" {
		t.Fatalf("the constructor's own flag: %s", p)
	}
}

func TestEveryCommandTakesJSONOutput(t *testing.T) {
	root := NewRootCmd(&App{IO: &Streams{}, Output: "text", Getenv: os.Getenv})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && c.InheritedFlags().Lookup("output") == nil && c != root {
			t.Errorf("%s does not take -o", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)

}

func TestDocsCLIIsFresh(t *testing.T) {
	dir := t.TempDir()
	code, _, errOut := runMain(t, "docs", "--dir", dir)
	if code != 0 {
		t.Fatalf("ectool docs: exit %d: %s", code, errOut)
	}
	committed := filepath.Join(testenv.ModuleRoot(t), "docs", "cli")
	want := readTree(t, dir)
	got := readTree(t, committed)
	for name, body := range want {
		if got[name] != body {
			t.Errorf("docs/cli/%s is stale: run 'go run ./cmd/ectool docs --dir docs/cli' and commit", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("docs/cli/%s is no longer generated: delete it", name)
		}
	}
	// Reproducible: a second run writes the same bytes.
	dir2 := t.TempDir()
	if code, _, _ := runMain(t, "docs", "--dir", dir2); code != 0 {
		t.Fatal("second docs run failed")
	}
	again := readTree(t, dir2)
	for name, body := range want {
		if again[name] != body {
			t.Errorf("docs/cli/%s differs between two runs", name)
		}
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		m[rel] = string(b)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return m
}

func TestBadFlagValuesAreOneLineNamingTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mqtt", "pub", "-q", "x"}, `-q/--qos: "x" is not valid: give a whole number`},
		{[]string{"mqtt", "sub", "--timeout", "abc"}, `--timeout: "abc" is not valid: give a duration`},
	} {
		code, out, errOut := runMain(t, tc.args...)
		lines := testenv.Lines(errOut)
		if code != ExitUsage || out != "" || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
			t.Errorf("ectool %v: exit %d, stderr %q; want exit 2 and one line containing %q", tc.args, code, errOut, tc.want)
		}
	}
}
