package gen

import (
	"fmt"
	"go/ast"
	"go/token"
)

// A slice or Array parameter borrows Python's memory for the call only.
// borrowNotes reads a registered function's body for the common ways of
// keeping it longer: storing it (or a re-slice of it, or a local alias) in
// a package variable, sending it on a channel, or handing it to a
// goroutine. It reads syntax, not types: it warns, it cannot prove.

// packageVars are the names of the package's top-level variables.
func packageVars(files []*ast.File) map[string]bool {
	vars := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, s := range gd.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					vars[n.Name] = true
				}
			}
		}
	}
	return vars
}

// borrowedParams maps fd's slice and Array parameters to themselves.
func borrowedParams(fd *ast.FuncDecl) map[string]string {
	out := map[string]string{}
	for _, f := range fd.Type.Params.List {
		switch t := f.Type.(type) {
		case *ast.ArrayType:
			if t.Len != nil {
				continue
			}
		case *ast.IndexExpr:
			if sel, ok := t.X.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Array" {
				continue
			}
		default:
			continue
		}
		for _, n := range f.Names {
			out[n.Name] = n.Name
		}
	}
	return out
}

func borrowNotes(fd *ast.FuncDecl, globals map[string]bool) []string {
	tainted := borrowedParams(fd) // local name -> the parameter it borrows from
	if len(tainted) == 0 || fd.Body == nil {
		return nil
	}
	locals := map[string]bool{}
	for _, f := range fd.Type.Params.List {
		for _, n := range f.Names {
			locals[n.Name] = true
		}
	}
	var notes []string
	warn := func(format string, a ...any) {
		notes = append(notes, fmt.Sprintf("%s: ", fd.Name.Name)+fmt.Sprintf(format, a...)+
			": a slice parameter is Python's memory only during the call; copy what must outlive it (slices.Clone)")
	}
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		switch s := n.(type) {
		case *ast.AssignStmt:
			for i, lhs := range s.Lhs {
				if i >= len(s.Rhs) && len(s.Rhs) != 1 {
					break
				}
				rhs := s.Rhs[min(i, len(s.Rhs)-1)]
				p := carried(rhs, tainted)
				root := rootIdent(lhs)
				if s.Tok == token.DEFINE {
					if id, ok := lhs.(*ast.Ident); ok {
						locals[id.Name] = true
						if p != "" {
							tainted[id.Name] = p
						}
					}
					continue
				}
				if p == "" || root == nil {
					continue
				}
				if globals[root.Name] && !locals[root.Name] {
					warn("parameter %s is stored in package variable %s", p, root.Name)
				} else if _, ok := lhs.(*ast.Ident); ok {
					tainted[root.Name] = p
				}
			}
		case *ast.DeclStmt:
			if gd, ok := s.Decl.(*ast.GenDecl); ok {
				for _, sp := range gd.Specs {
					if vs, ok := sp.(*ast.ValueSpec); ok {
						for i, n := range vs.Names {
							locals[n.Name] = true
							if i < len(vs.Values) {
								if p := carried(vs.Values[i], tainted); p != "" {
									tainted[n.Name] = p
								}
							}
						}
					}
				}
			}
		case *ast.SendStmt:
			if p := carried(s.Value, tainted); p != "" {
				warn("parameter %s is sent on a channel", p)
			}
		case *ast.GoStmt:
			if p := mentions(s.Call, tainted); p != "" {
				warn("parameter %s is handed to a goroutine (safe only if the function waits for it before returning)", p)
			}
			return false
		}
		return true
	})
	return notes
}

// carried is the parameter whose memory the value of e shares (e is it, a
// re-slice, its address, a composite or append holding it), or "".
func carried(e ast.Expr, tainted map[string]string) string {
	switch e := e.(type) {
	case *ast.Ident:
		return tainted[e.Name]
	case *ast.ParenExpr:
		return carried(e.X, tainted)
	case *ast.SliceExpr:
		return carried(e.X, tainted)
	case *ast.SelectorExpr: // an Array's Data
		return carried(e.X, tainted)
	case *ast.UnaryExpr:
		if e.Op == token.AND {
			return carried(e.X, tainted)
		}
	case *ast.CompositeLit:
		for _, el := range e.Elts {
			if kv, ok := el.(*ast.KeyValueExpr); ok {
				el = kv.Value
			}
			if p := carried(el, tainted); p != "" {
				return p
			}
		}
	case *ast.CallExpr:
		if id, ok := e.Fun.(*ast.Ident); ok && id.Name == "append" {
			for _, a := range e.Args {
				if p := carried(a, tainted); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

// mentions is a parameter any identifier in n refers to, or "".
func mentions(n ast.Node, tainted map[string]string) string {
	found := ""
	ast.Inspect(n, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && found == "" {
			found = tainted[id.Name]
		}
		return found == ""
	})
	return found
}

// rootIdent is the variable an assignment target writes into: x in x,
// x.f, x[i], *x.
func rootIdent(e ast.Expr) *ast.Ident {
	for {
		switch t := e.(type) {
		case *ast.Ident:
			return t
		case *ast.SelectorExpr:
			e = t.X
		case *ast.IndexExpr:
			e = t.X
		case *ast.StarExpr:
			e = t.X
		case *ast.ParenExpr:
			e = t.X
		default:
			return nil
		}
	}
}
