// Command checksize holds ectool's code to its size limits (issue 7's
// measures): no file in cmd/ectool over 400 lines, no function in
// cmd/ectool over 80 lines and none elsewhere over 120. Tests are not
// measured. A function's
// lines are counted from its signature to its closing brace, less the lines
// inside table literals (a multi-line slice, array or map literal: rows of
// data, not code) and inside multi-line string literals (help texts).
//
//	go run ./scripts/checksize        # from the module root; exit 1 on a finding
//	go run ./scripts/checksize -all   # every function, longest first
//
// scripts/test.sh runs it in the vet phase. known.txt lists what was over
// its limit when the check came in, each with the work that removes it: a
// listed finding is reported but does not fail, a new one fails, and an
// entry that no longer matches is reported so it can be deleted.
package main

import (
	_ "embed"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Limits of CONTRIBUTING.md.
const (
	cmdFileLines = 400
	cmdFuncLines = 80
	funcLines    = 120
	cmdDir       = "cmd/ectool"
)

// finding is one file or function over its limit.
type finding struct {
	Pos   string
	What  string
	Lines int
	Limit int
}

func main() {
	all := flag.Bool("all", false, "list every function with its size, longest first")
	flag.Parse()
	root := "."
	if flag.NArg() > 0 {
		root = flag.Arg(0)
	}
	found, sizes, err := measure(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "checksize:", err)
		os.Exit(3)
	}
	if *all {
		sort.Slice(sizes, func(i, j int) bool { return sizes[i].Lines > sizes[j].Lines })
		for _, s := range sizes {
			fmt.Printf("%4d  %s %s\n", s.Lines, s.Pos, s.What)
		}
		return
	}
	known := parseKnown(knownText)
	failed := 0
	for _, f := range found {
		if why, ok := known[f.key()]; ok {
			fmt.Printf("%s: %s is %d lines (limit %d); known: %s\n", f.Pos, f.What, f.Lines, f.Limit, why)
			delete(known, f.key())
			continue
		}
		fmt.Printf("%s: %s is %d lines (limit %d)\n", f.Pos, f.What, f.Lines, f.Limit)
		failed++
	}
	for k := range known {
		fmt.Printf("known.txt: %q is no longer over its limit: delete the entry\n", k)
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "checksize: %d over their limits: split them (a function into steps named for what they do, a file by what it holds)\n", failed)
		os.Exit(1)
	}
}

// knownText lists the findings present when the check came in, each with
// the work that removes it.
//
//go:embed known.txt
var knownText string

// parseKnown reads "path<TAB>what<TAB>why" lines; # starts a comment.
func parseKnown(text string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) == 3 {
			m[parts[0]+"\t"+parts[1]] = parts[2]
		}
	}
	return m
}

// key names a finding without its line number, which moves with edits.
func (f finding) key() string {
	path, _, _ := strings.Cut(f.Pos, ":")
	return path + "\t" + f.What
}

// measure walks the Go files under root (tests, testdata and vendored code
// aside) and returns what is over its limit, and every function's size.
func measure(root string) ([]finding, []finding, error) {
	var found, sizes []finding
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "testdata", "vendor", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		inCmd := strings.HasPrefix(rel, cmdDir+"/")
		f, s, err := measureFile(path, rel, inCmd)
		found = append(found, f...)
		sizes = append(sizes, s...)
		return err
	})
	return found, sizes, err
}

func measureFile(path, rel string, inCmd bool) ([]finding, []finding, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, nil, err
	}
	var found, sizes []finding
	if n := fset.File(file.Pos()).LineCount(); inCmd && n > cmdFileLines {
		found = append(found, finding{Pos: rel, What: "the file", Lines: n, Limit: cmdFileLines})
	}
	limit := funcLines
	if inCmd {
		limit = cmdFuncLines
	}
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		n := codeLines(fset, fn)
		name := fn.Name.Name
		if fn.Recv != nil && len(fn.Recv.List) > 0 {
			name = "(" + typeName(fn.Recv.List[0].Type) + ")." + name
		}
		pos := fmt.Sprintf("%s:%d", rel, fset.Position(fn.Pos()).Line)
		f := finding{Pos: pos, What: "func " + name, Lines: n, Limit: limit}
		sizes = append(sizes, f)
		if n > limit {
			found = append(found, f)
		}
	}
	return found, sizes, nil
}

// codeLines counts a function's lines, less those inside its table
// literals and multi-line strings (their first line counts).
func codeLines(fset *token.FileSet, fn *ast.FuncDecl) int {
	first, last := fset.Position(fn.Pos()).Line, fset.Position(fn.End()).Line
	data := map[int]bool{}
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.CompositeLit:
			if !isTable(x) {
				return true
			}
		case *ast.BasicLit:
			if x.Kind != token.STRING {
				return true
			}
		default:
			return true
		}
		from, to := fset.Position(n.Pos()).Line, fset.Position(n.End()).Line
		for l := from + 1; l <= to; l++ {
			data[l] = true
		}
		return false
	})
	return last - first + 1 - len(data)
}

// isTable reports whether a literal is a slice, array or map: rows of data.
func isTable(c *ast.CompositeLit) bool {
	switch c.Type.(type) {
	case *ast.ArrayType, *ast.MapType:
		return true
	}
	return false
}

func typeName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return "*" + typeName(t.X)
	case *ast.Ident:
		return t.Name
	case *ast.IndexExpr:
		return typeName(t.X)
	case *ast.IndexListExpr:
		return typeName(t.X)
	}
	return "?"
}
