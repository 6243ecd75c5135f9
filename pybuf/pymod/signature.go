package pymod

import (
	"fmt"
	"reflect"

	"github.com/pybuf-go/pybuf/pybuf/gomem"
	"github.com/pybuf-go/pybuf/pybuf/internal/pyname"
	"github.com/pybuf-go/pybuf/pybuf/layout"
)

// Kinds of parameters and results: the values of enum pybuf_go_kind in
// pybuf_core.h (the tests check that they agree).
const (
	kindBool    = 1
	kindInt     = 2
	kindUint    = 3
	kindFloat   = 4
	kindComplex = 5
	kindString  = 6
	kindBytes   = 7
	kindArray   = 8
	kindFunc    = 9
)

// slot is one parameter or result, as reflection saw it at registration.
type slot struct {
	name     string
	t        reflect.Type
	kind     int32
	bits     int32
	writable bool
	// kindArray:
	elem     reflect.Type  // the element type
	nd       bool          // an Array[T] rather than a []T
	format   string        // PEP 3118 format of one element
	parsed   layout.Format // format, parsed once
	elemName string        // for messages and stubs ("float64")
	records  bool          // elem is a struct: NumPy records
	// kindFunc:
	fsig *funcSig
}

var errorType = reflect.TypeFor[error]()

func scalarSlot(t reflect.Type) (slot, bool) {
	s := slot{t: t}
	switch k := t.Kind(); k {
	case reflect.Bool:
		s.kind = kindBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s.kind, s.bits = kindInt, int32(t.Bits())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		s.kind, s.bits = kindUint, int32(t.Bits())
	case reflect.Float32, reflect.Float64:
		s.kind = kindFloat
	case reflect.Complex64, reflect.Complex128:
		s.kind = kindComplex
	case reflect.String:
		s.kind = kindString
	default:
		return s, false
	}
	return s, true
}

// arraySlot describes a slice or Array[T] of elem.
func arraySlot(t, elem reflect.Type, nd bool) (slot, error) {
	s := slot{t: t, kind: kindArray, elem: elem, nd: nd, records: elem.Kind() == reflect.Struct}
	f, err := gomem.ElementFormat(elem)
	if err != nil {
		return s, err
	}
	s.format = f
	if s.parsed, err = layout.ParseFormat(f); err != nil {
		return s, err
	}
	s.elemName = elem.String()
	if _, scalar := scalarSlot(elem); scalar && elem.Kind() != reflect.String {
		s.elemName = elem.Kind().String() // a named type reads as what NumPy sees
	}
	return s, nil
}

func paramSlot(t reflect.Type) (slot, error) {
	if s, ok := scalarSlot(t); ok {
		return s, nil
	}
	if t.Implements(arrayValueType) {
		elem := reflect.Zero(t).Interface().(arrayValue).pymodElem()
		if _, ok := scalarSlot(elem); !ok || elem.Kind() == reflect.String {
			return slot{}, fmt.Errorf("type %v: an Array parameter must hold a NumPy scalar type (bool, ints, floats, complex)", t)
		}
		return arraySlot(t, elem, true)
	}
	if t.Kind() == reflect.Slice {
		elem := t.Elem()
		if _, ok := scalarSlot(elem); !ok || elem.Kind() == reflect.String {
			return slot{}, fmt.Errorf("type %v: a slice parameter must hold a NumPy scalar type (bool, ints, floats, complex)", t)
		}
		return arraySlot(t, elem, false)
	}
	if t.Kind() == reflect.Func {
		return funcSlot(t)
	}
	return slot{}, fmt.Errorf("type %v cannot be a parameter (bool, integers, floats, complex, string, "+
		"and slices or pymod.Array of those numbers can)", t)
}

func resultSlot(t reflect.Type) (slot, error) {
	if s, ok := scalarSlot(t); ok {
		return s, nil
	}
	if t.Implements(arrayValueType) {
		return arraySlot(t, reflect.Zero(t).Interface().(arrayValue).pymodElem(), true)
	}
	if t.Kind() == reflect.Slice {
		if t.Elem().Kind() == reflect.Uint8 {
			return slot{t: t, kind: kindBytes}, nil
		}
		s, err := arraySlot(t, t.Elem(), false)
		if err != nil {
			return s, fmt.Errorf("type %v cannot be a result: %w", t, err)
		}
		return s, nil
	}
	return slot{}, fmt.Errorf("type %v cannot be a result (bool, integers, floats, complex, string, "+
		"[]byte, slices of numbers or structs, and pymod.Array can)", t)
}

// signature is what registration learns about a function.
type signature struct {
	params    []slot
	results   []slot
	hasErr    bool // the last Go result is an error
	borrows   bool // array parameters and array results: results are checked against arguments
	hasArrays bool // array parameters: checked mode guards them
	hasFuncs  bool // func parameters: Python callables, through reflection only
}

func signatureOf(fn reflect.Value, names []string) (signature, error) {
	var sig signature
	t := fn.Type()
	if t.IsVariadic() {
		return sig, fmt.Errorf("variadic functions cannot be registered")
	}
	if t.NumIn() != len(names) {
		return sig, fmt.Errorf("%d parameter names given for %d parameters", len(names), t.NumIn())
	}
	seen := map[string]bool{}
	for i := range t.NumIn() {
		if !isIdentifier(names[i]) {
			return sig, fmt.Errorf("parameter name %q is not a Python identifier", names[i])
		}
		if seen[names[i]] {
			return sig, fmt.Errorf("parameter name %q is given twice", names[i])
		}
		seen[names[i]] = true
		s, err := paramSlot(t.In(i))
		if err != nil {
			return sig, fmt.Errorf("parameter %s: %w", names[i], err)
		}
		s.name = names[i]
		sig.params = append(sig.params, s)
	}
	n := t.NumOut()
	if n > 0 && t.Out(n-1) == errorType {
		sig.hasErr = true
		n--
	}
	for i := range n {
		s, err := resultSlot(t.Out(i))
		if err != nil {
			return sig, fmt.Errorf("result %d: %w", i+1, err)
		}
		sig.results = append(sig.results, s)
	}
	sig.hasArrays = hasKind(sig.params, kindArray)
	sig.hasFuncs = hasKind(sig.params, kindFunc)
	sig.borrows = sig.hasArrays && hasKind(sig.results, kindArray)
	if len(sig.params) > maxArgs || len(sig.results) > maxArgs {
		return sig, fmt.Errorf("at most %d parameters and %d results", maxArgs, maxArgs)
	}
	return sig, nil
}

func isIdentifier(s string) bool { return pyname.IsIdentifier(s) }

func hasKind(slots []slot, kind int32) bool {
	for i := range slots {
		if slots[i].kind == kind {
			return true
		}
	}
	return false
}
