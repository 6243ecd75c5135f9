package gen

import (
	"fmt"
	"go/ast"
	"strconv"
	"strings"
	"unicode"

	"github.com/pybuf-go/pybuf/pybuf/internal/pyname"
)

// Zero glue: with -module, every exported top-level function of the package
// is registered, as a hand-written pymod.Func would register it. Its doc
// comment is the docstring; lines of the form //pybuf:directive args (which
// go doc hides) set what a registration would:
//
//	//pybuf:writes x y   the function writes slice parameters x and y (Writes)
//	//pybuf:name mean2   the Python name (default: the Go name in snake_case)
//	//pybuf:skip         not exported to Python

// moduleFunc is one generated registration.
type moduleFunc struct {
	goName       string
	registration string // pymod.Func(...)...
}

// moduleFuncs are the registrations of the exported functions named in
// order, and notes on those left out.
func moduleFuncs(order []string, decls map[string]funcDecl) ([]moduleFunc, []string) {
	var funcs []moduleFunc
	var notes []string
	seen := map[string]string{}
	for _, n := range order {
		fd := decls[n]
		d, err := directivesOf(fd.decl)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: not exported: %v", n, err))
			continue
		}
		if d.skip {
			continue
		}
		if fd.pymod == "" {
			// The file does not import pymod: its types are read as if it did.
			fd.pymod = "pymod"
		}
		if _, why := invoker(fd.decl, fd.pymod); why != "" && !callbackOnly(fd.decl, fd.pymod) {
			notes = append(notes, fmt.Sprintf("%s: not exported: %s; register it by hand with pymod.Func, "+
				"or mark it //pybuf:skip", n, why))
			continue
		}
		params, err := paramNames(fd.decl)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: not exported: %v", n, err))
			continue
		}
		pyName := d.name
		if pyName == "" {
			pyName = snakeCase(n)
		}
		if other, dup := seen[pyName]; dup {
			notes = append(notes, fmt.Sprintf("%s: not exported: its Python name %q is %s's too (set one with //pybuf:name)",
				n, pyName, other))
			continue
		}
		seen[pyName] = n
		for _, w := range d.writes {
			if !contains(params, w) {
				notes = append(notes, fmt.Sprintf("%s: //pybuf:writes %s: no such parameter", n, w))
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "pymod.Func(%q, %s", pyName, n)
		for _, p := range params {
			fmt.Fprintf(&b, ", %q", p)
		}
		b.WriteString(")")
		if doc := strings.TrimSpace(fd.decl.Doc.Text()); doc != "" {
			fmt.Fprintf(&b, ".Doc(%s)", strconv.Quote(doc))
		}
		if len(d.writes) > 0 {
			b.WriteString(".Writes(")
			for i, w := range d.writes {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(strconv.Quote(w))
			}
			b.WriteString(")")
		}
		funcs = append(funcs, moduleFunc{goName: n, registration: b.String()})
	}
	return funcs, notes
}

// callbackOnly reports whether every parameter of fd is one the generator
// spells or a func of numbers and slices of numbers (a Python callable,
// which reflection serves), and every result one it spells.
func callbackOnly(fd *ast.FuncDecl, local string) bool {
	for i, t := range expand(fd.Type.Params) {
		if ft, ok := t.(*ast.FuncType); ok {
			if !callbackType(ft) {
				return false
			}
		} else if _, ok := argExpr(t, i, local); !ok {
			return false
		}
	}
	results := expand(fd.Type.Results)
	if len(results) > 0 && isError(results[len(results)-1]) {
		results = results[:len(results)-1]
	}
	for j, t := range results {
		if _, ok := setStmt(t, j, "r", local); !ok {
			return false
		}
	}
	return true
}

func callbackType(ft *ast.FuncType) bool {
	for _, t := range expand(ft.Params) {
		switch t := t.(type) {
		case *ast.Ident:
			if !isNumber(t.Name) || complexs[t.Name] {
				return false
			}
		case *ast.ArrayType:
			if id, ok := t.Elt.(*ast.Ident); !ok || t.Len != nil || !isNumber(id.Name) {
				return false
			}
		default:
			return false
		}
	}
	results := expand(ft.Results)
	for j, t := range results {
		id, ok := t.(*ast.Ident)
		if !ok || !(isNumber(id.Name) && !complexs[id.Name] || id.Name == "error" && j == len(results)-1) {
			return false
		}
	}
	return true
}

type directives struct {
	writes []string
	name   string
	skip   bool
}

func directivesOf(fd *ast.FuncDecl) (directives, error) {
	var d directives
	if fd.Doc == nil {
		return d, nil
	}
	for _, c := range fd.Doc.List {
		text, ok := strings.CutPrefix(c.Text, "//pybuf:")
		if !ok {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) == 0 {
			return d, fmt.Errorf("an empty //pybuf: directive")
		}
		switch args := fields[1:]; fields[0] {
		case "writes":
			if len(args) == 0 {
				return d, fmt.Errorf("//pybuf:writes names no parameter")
			}
			d.writes = append(d.writes, args...)
		case "name":
			if len(args) != 1 || !isPythonIdentifier(args[0]) {
				return d, fmt.Errorf("//pybuf:name takes one Python identifier, not %q", strings.Join(args, " "))
			}
			d.name = args[0]
		case "skip":
			d.skip = true
		default:
			return d, fmt.Errorf("unknown directive //pybuf:%s (writes, name and skip are known)", fields[0])
		}
	}
	return d, nil
}

// paramNames are fd's parameter names, which must be Python identifiers.
func paramNames(fd *ast.FuncDecl) ([]string, error) {
	var names []string
	for i, f := range fd.Type.Params.List {
		if len(f.Names) == 0 {
			return nil, fmt.Errorf("parameter %d has no name (Python needs one)", i+1)
		}
		for _, id := range f.Names {
			if id.Name == "_" || !isPythonIdentifier(id.Name) {
				return nil, fmt.Errorf("parameter name %q is not a Python identifier: rename it", id.Name)
			}
			names = append(names, id.Name)
		}
	}
	return names, nil
}

// packageDoc is the package's doc comment, the module's docstring.
func packageDoc(files []*ast.File) string {
	for _, f := range files {
		if f.Doc != nil {
			return strings.TrimSpace(f.Doc.Text())
		}
	}
	return ""
}

// snakeCase is Python's spelling of a Go name: SleepMs -> sleep_ms,
// LivePins -> live_pins, MatMulABC -> mat_mul_abc, FFT2 -> fft2.
func snakeCase(name string) string {
	rs := []rune(name)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) {
			prevLower := i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]))
			nextLower := i > 0 && i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isPythonIdentifier: a name pymodgen may write; dunder names are Python's own.
func isPythonIdentifier(s string) bool {
	return !strings.HasPrefix(s, "__") && pyname.IsIdentifier(s)
}

func lastPart(module string) string {
	for _, p := range strings.Split(module, ".") {
		if !isPythonIdentifier(p) {
			return ""
		}
	}
	return module[strings.LastIndex(module, ".")+1:]
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
