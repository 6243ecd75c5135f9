package pymod

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Function is one Go function on its way into a module: see Func.
type Function struct {
	name   string
	fn     any
	params []string
	doc    string
	writes []string
}

// Func registers fn, any Go function, as the Python function name. params
// are the Python names of its parameters, in order (Go's reflection does not
// know them); they name the parameter in every error message and may be
// passed as keywords.
func Func(name string, fn any, params ...string) *Function {
	return &Function{name: name, fn: fn, params: params}
}

// Doc sets the function's Python docstring.
func (f *Function) Doc(doc string) *Function {
	f.doc = doc
	return f
}

// Writes declares the slice parameters the function writes into: Python
// must pass them writable (a read-only array raises BufferError). Every
// other slice parameter is borrowed read-only and must not be written.
func (f *Function) Writes(params ...string) *Function {
	f.writes = append(f.writes, params...)
	return f
}

// function is a registered function, ready to be called.
type function struct {
	id      uint64
	qual    string // "module.name", for messages
	name    string
	doc     string
	fn      reflect.Value
	sig     signature
	invoke  invoker // a typed call without reflection, or nil
	builtin bool    // invoke is one of fast.go's, kept over pymodgen's
}

// module is a registered module. err, when set, is what importing it raises.
type module struct {
	name, doc string
	funcs     []*function
	err       error
	cdesc     any // its C description, made at the first import (describe.go)
}

var registry = struct {
	sync.Mutex
	modules map[string]*module
}{modules: map[string]*module{}}

// byID holds every registered function at index id-1. Calls read it without
// a lock: registration appends under registry's lock and publishes a new
// slice.
var byID atomic.Pointer[[]*function]

// Module registers a Python module of these functions; call it from an init
// function. Nothing here can fail the program: a mistake (an unsupported
// type, missing parameter names, a name used twice) is kept and raised as
// ImportError when Python imports the module.
func Module(name, doc string, funcs ...*Function) {
	registry.Lock()
	defer registry.Unlock()
	m := &module{name: name, doc: doc}
	if old, dup := registry.modules[name]; dup {
		old.err = fmt.Errorf("pymod: module %q is registered twice (by two Go packages, or twice by one)", name)
		return
	}
	registry.modules[name] = m
	if !isModuleName(name) {
		m.err = fmt.Errorf("pymod: %q is not a Python module name", name)
		return
	}
	var errs []string
	seen := map[string]bool{}
	ids := *loadFuncs()
	for _, f := range funcs {
		fn, err := compile(name, f, uint64(len(ids)+1))
		if err == nil && seen[f.name] {
			err = fmt.Errorf("the name is registered twice")
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s.%s: %v", name, f.name, err))
			continue
		}
		seen[f.name] = true
		ids = append(ids, fn)
		m.funcs = append(m.funcs, fn)
	}
	if len(errs) > 0 {
		m.err = fmt.Errorf("pymod: module %s: %s", name, strings.Join(errs, "; "))
	}
	byID.Store(&ids)
}

func loadFuncs() *[]*function {
	if p := byID.Load(); p != nil {
		cp := append([]*function(nil), (*p)...)
		return &cp
	}
	return &[]*function{}
}

func compile(mod string, f *Function, id uint64) (*function, error) {
	if f == nil {
		return nil, fmt.Errorf("nil *Function")
	}
	if !isIdentifier(f.name) {
		return nil, fmt.Errorf("%q is not a Python identifier", f.name)
	}
	if strings.HasPrefix(f.name, "__") {
		return nil, fmt.Errorf("names starting with __ belong to Python (__doc__, __all__, ...)")
	}
	v := reflect.ValueOf(f.fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return nil, fmt.Errorf("%T is not a function", f.fn)
	}
	sig, err := signatureOf(v, f.params)
	if err != nil {
		return nil, err
	}
	for _, w := range f.writes {
		found := false
		for i := range sig.params {
			if sig.params[i].name == w {
				if sig.params[i].kind != kindArray {
					return nil, fmt.Errorf("Writes(%q): only slice parameters can be written", w)
				}
				sig.params[i].writable = true
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("Writes(%q): no such parameter", w)
		}
	}
	fn := &function{id: id, qual: mod + "." + f.name, name: f.name, doc: f.doc, fn: v, sig: sig}
	// A built-in typed path allocates nothing; pymodgen's (a Frame per call)
	// serves every other signature it can spell; reflection the rest.
	if sig.hasFuncs {
		return fn, nil // callbacks: reflection builds them
	}
	if fn.invoke = fastInvoker(f.fn); fn.invoke != nil {
		fn.builtin = true
	} else {
		fn.invoke = typedInvoker(v)
	}
	return fn, nil
}

func isModuleName(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if !isIdentifier(part) {
			return false
		}
	}
	return true
}

func funcByID(id uint64) *function {
	p := byID.Load()
	if p == nil || id == 0 || id > uint64(len(*p)) {
		return nil
	}
	return (*p)[id-1]
}

// lookup returns a registered module.
func lookup(name string) (*module, error) {
	registry.Lock()
	defer registry.Unlock()
	m, ok := registry.modules[name]
	if !ok {
		names := make([]string, 0, len(registry.modules))
		for n := range registry.modules {
			names = append(names, n)
		}
		have := "none"
		if len(names) > 0 {
			slices.Sort(names)
			have = strings.Join(names, ", ")
		}
		return nil, fmt.Errorf("this Go library has no module %q (it has: %s)", name, have)
	}
	if m.err != nil {
		return nil, m.err
	}
	return m, nil
}
