package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/internal/testenv"
)

// A command a hint names must exist: a technician types it next. The test
// reads every string the module's code can produce (literals, and
// concatenations of literals folded; what is computed stands as a hole)
// and resolves each `ectool <words>` found there in the command tree.
//
// An occurrence counts as a command when it reads like one: quoted ('…',
// `…`, "…"), after "$ " or "| ", or at the start of an indented line (help
// examples, the lab's printed commands). Prose that starts a sentence with
// "ectool" ("ectool does not reconnect") is none of these.
func TestEveryCommandAHintNamesExists(t *testing.T) {
	root := NewRootCmd(&App{IO: &Streams{}, Output: "text"})
	var bad []string
	n := 0
	for _, s := range moduleStrings(t) {
		for _, words := range namedCommands(s.text) {
			n++
			if why := resolveCommand(root, words); why != "" {
				bad = append(bad, fmt.Sprintf("%s: 'ectool %s': %s", s.pos, strings.Join(words, " "), why))
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
	if n < 20 {
		t.Fatalf("only %d commands found in the code's strings: the scan is broken", n)
	}
}

// A hole stands for a computed part of a string: a command ends there.
const hole = "\x00"

type moduleString struct {
	pos  string // file:line
	text string
}

// moduleStrings returns the strings of every non-test Go file of the module.
func moduleStrings(t *testing.T) []moduleString {
	t.Helper()
	root := testenv.ModuleRoot(t)
	fset := token.NewFileSet()
	var out []moduleString
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || name == "vendor" || (strings.HasPrefix(name, ".") && path != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		ast.Inspect(f, func(n ast.Node) bool {
			switch e := n.(type) {
			case *ast.BinaryExpr:
				if e.Op != token.ADD {
					return true
				}
				s, lits := fold(e)
				if lits == 0 {
					return true
				}
				out = append(out, moduleString{fmt.Sprintf("%s:%d", rel, fset.Position(e.Pos()).Line), s})
				return false
			case *ast.BasicLit:
				if e.Kind != token.STRING {
					return true
				}
				s, _ := strconv.Unquote(e.Value)
				out = append(out, moduleString{fmt.Sprintf("%s:%d", rel, fset.Position(e.Pos()).Line), s})
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fold concatenates a + b + ...: literals as they are, anything else as a
// hole. lits counts the string literals in it.
func fold(e ast.Expr) (string, int) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind == token.STRING {
			s, _ := strconv.Unquote(x.Value)
			return s, 1
		}
	case *ast.ParenExpr:
		return fold(x.X)
	case *ast.BinaryExpr:
		if x.Op == token.ADD {
			l, nl := fold(x.X)
			r, nr := fold(x.Y)
			return l + r, nl + nr
		}
	}
	return hole, 0
}

// commandMention finds "ectool " where a command is named (see the test's
// comment). Group 1 is the quote that opened it, if any.
var commandMention = regexp.MustCompile("(?m)(?:(['`\"])|\\$ |\\| |^[ \\t]+)ectool ")

// namedCommands returns the words after each command mention, up to the
// first flag, argument, hole or closing quote.
func namedCommands(s string) [][]string {
	var out [][]string
	for _, m := range commandMention.FindAllStringSubmatchIndex(s, -1) {
		rest := s[m[1]:]
		if m[2] >= 0 { // quoted: the command ends at the closing quote
			if i := strings.Index(rest, s[m[2]:m[3]]); i >= 0 {
				rest = rest[:i]
			}
		}
		if i := strings.IndexAny(rest, "\n"+hole); i >= 0 {
			rest = rest[:i]
		}
		var words []string
		for _, w := range strings.Fields(rest) {
			w = strings.TrimRight(w, ".,;:)")
			if !commandWord.MatchString(w) {
				break
			}
			words = append(words, w)
		}
		if len(words) > 0 {
			out = append(out, words)
		}
	}
	return out
}

// commandWord is what a (sub)command name looks like; anything else (a
// flag, a target URL, a path, a %s) ends the command.
var commandWord = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// resolveCommand walks words down the tree and says what is wrong ("" when
// they name a command, possibly followed by its arguments). A word that is
// not a subcommand is an argument only where the command takes arguments
// and has no subcommands to mistype.
func resolveCommand(root *cobra.Command, words []string) string {
	c := root
	for _, w := range words {
		var next *cobra.Command
		for _, sub := range c.Commands() {
			if sub.Name() == w || sub.HasAlias(w) {
				next = sub
			}
		}
		if next != nil {
			c = next
			continue
		}
		if c.HasSubCommands() || !c.Runnable() {
			return fmt.Sprintf("%q has no command %q", c.CommandPath(), w)
		}
		return "" // the rest are arguments of a leaf command
	}
	return ""
}

// The scanner itself, on strings of the kinds the code holds.
func TestHintCommandScannerReadsCommandsNotProse(t *testing.T) {
	root := NewRootCmd(&App{IO: &Streams{}, Output: "text"})
	for _, tc := range []struct {
		s    string
		want string // commands found, ";"-separated, each "ok" or "bad"
	}{
		{"check that the gateway is reachable ('ectool probe wifi')", "probe wifi:bad"},
		{"check the path ('ectool probe net 10.0.0.7:502')", "probe net:ok"},
		{"remove it with 'ectool mqtt clear-retained -t " + hole + "'", "mqtt clear-retained:ok"},
		{"  ectool scan /dev/ttyUSB0\n  ectool scan sniff rtu:///dev/ttyUSB1 --baud 19200", "scan:ok;scan sniff:ok"},
		{"    ectool scan " + hole + " --baud 9600", "scan:ok"},
		{"ectool does not reconnect; ectool names the rung", ""},
		{"tail -f x | ectool mqtt pub -t a", "mqtt pub:ok"},
		{"$ ectool mqtt sub", "mqtt sub:ok"},
		{"'ectool lab tour' starts a simulated site", "lab tour:ok"},
		{"see `ectool mqtt chek`", "mqtt chek:bad"},
	} {
		var got []string
		for _, words := range namedCommands(tc.s) {
			verdict := "ok"
			if resolveCommand(root, words) != "" {
				verdict = "bad"
			}
			got = append(got, strings.Join(words, " ")+":"+verdict)
		}
		if g := strings.Join(got, ";"); g != tc.want {
			t.Errorf("%q: found %q, want %q", tc.s, g, tc.want)
		}
	}
}
