package testenv

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// skipMethods are testing.TB's ways to skip: outside this package each
// goes through Missing (fails under CI) or NotApplicable (says why).
var skipMethods = map[string]bool{"Skip": true, "Skipf": true, "SkipNow": true}

// TestNoDirectSkips fails for every t.Skip, t.Skipf or t.SkipNow called on
// a *testing.T/B/F or testing.TB outside internal/testenv, whatever the
// variable is called. scripts/test.sh runs it in its vet phase.
func TestNoDirectSkips(t *testing.T) {
	root := ModuleRoot(t)
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			if name := d.Name(); name == "testdata" || name == "vendor" || (strings.HasPrefix(name, ".") && path != root) ||
				rel == filepath.Join("internal", "testenv") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, pos := range directSkips(f) {
			p := fset.Position(pos)
			rel, _ := filepath.Rel(root, p.Filename)
			t.Errorf("%s:%d: a direct skip: use testenv.Missing (a peer or prerequisite that CI must have) or testenv.NotApplicable (another OS, not root, no PTY)", rel, p.Line)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// directSkips returns where f calls a skip method on a variable declared
// as a parameter of type *testing.T, *testing.B, *testing.F or testing.TB
// (in the function itself or one enclosing it).
func directSkips(f *ast.File) []token.Pos {
	testing := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "testing" {
			testing = "testing"
			if imp.Name != nil {
				testing = imp.Name.Name
			}
		}
	}
	if testing == "" {
		return nil
	}
	isTB := func(e ast.Expr) bool {
		if s, ok := e.(*ast.StarExpr); ok {
			e = s.X
		}
		sel, ok := e.(*ast.SelectorExpr)
		if !ok {
			return false
		}
		x, ok := sel.X.(*ast.Ident)
		return ok && x.Name == testing && (sel.Sel.Name == "T" || sel.Sel.Name == "B" || sel.Sel.Name == "F" || sel.Sel.Name == "TB")
	}
	var found []token.Pos
	var walk func(n ast.Node, tbs map[string]bool)
	walk = func(n ast.Node, tbs map[string]bool) {
		ast.Inspect(n, func(n ast.Node) bool {
			var ft *ast.FuncType
			var body *ast.BlockStmt
			switch fn := n.(type) {
			case *ast.FuncDecl:
				ft, body = fn.Type, fn.Body
			case *ast.FuncLit:
				ft, body = fn.Type, fn.Body
			case *ast.CallExpr:
				sel, ok := fn.Fun.(*ast.SelectorExpr)
				if !ok || !skipMethods[sel.Sel.Name] {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); ok && tbs[x.Name] {
					found = append(found, fn.Pos())
				}
				return true
			default:
				return true
			}
			if body == nil {
				return false
			}
			inner := map[string]bool{}
			for k := range tbs {
				inner[k] = true
			}
			for _, field := range ft.Params.List {
				for _, name := range field.Names {
					inner[name.Name] = isTB(field.Type)
				}
			}
			walk(body, inner)
			return false
		})
	}
	walk(f, map[string]bool{})
	return found
}

// The check itself: a direct skip under any name is found, a report's
// Skip method and testenv's helpers are not.
func TestDirectSkipsAreFoundUnderAnyName(t *testing.T) {
	src := `package x

import (
	tt "testing"

	"github.com/ecdata/ectool/internal/testenv"
)

func TestA(t *tt.T) { t.Skip("x") }
func helper(tb tt.TB) {
	func() { tb.SkipNow() }()
}
func BenchmarkB(b *tt.B) { b.Skipf("%d", 1) }
func TestFine(t *tt.T) {
	var r report
	r.Skip("mqtt.connect", "CONNECT", "mqtt.tcp failed")
	testenv.NotApplicable(t, "windows")
	t.Run("shadowed", func(t *tt.T) {})
}
func other(t report) { t.Skip("a", "b", "c") }
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x_test.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, p := range directSkips(f) {
		lines = append(lines, fset.Position(p).Line)
	}
	if want := []int{9, 11, 13}; len(lines) != len(want) || lines[0] != want[0] || lines[1] != want[1] || lines[2] != want[2] {
		t.Errorf("direct skips found on lines %v, want %v", lines, want)
	}
}

// NotApplicable skips even under CI; Missing skips only outside it (under
// CI it fails, which a test cannot show from inside one process).
func TestSkipHelpersFollowCI(t *testing.T) {
	for _, tc := range []struct {
		name, ci string
		skip     func(t *testing.T)
	}{
		{"not applicable under CI", "true", func(t *testing.T) { NotApplicable(t, "another OS") }},
		{"missing outside CI", "", func(t *testing.T) { Missing(t, "peer %q is not installed", "x") }},
	} {
		t.Setenv("CI", tc.ci)
		var skipped bool
		t.Run(tc.name, func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			tc.skip(t)
		})
		if !skipped {
			t.Errorf("%s: the test was not skipped", tc.name)
		}
	}
}
