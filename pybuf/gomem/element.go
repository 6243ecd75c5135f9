package gomem

import (
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/pybuf-go/pybuf/pybuf/layout"
)

// Element is every Go type that is one NumPy scalar, so a []T is a NumPy
// array as it lies in memory.
type Element interface {
	~bool | ~int8 | ~int16 | ~int32 | ~int64 | ~int |
		~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uint | ~uintptr |
		~float32 | ~float64 | ~complex64 | ~complex128
}

// elemLayout is how a Go element type is exported: a format for the
// innermost element and the dimensions of array element types, which become
// trailing dimensions of the shape as NumPy itself would make them.
type elemLayout struct {
	format   string
	itemsize int64 // of the format, checked against Go's size of the innermost element
	dims     []int
	size     uintptr // of the whole Go element, arrays included
}

// layouts caches elemLayout by type: exports must cost microseconds and
// reflection over a struct does not.
var layouts sync.Map // reflect.Type -> elemLayout or error

func layoutOf(t reflect.Type) (elemLayout, error) {
	if v, ok := layouts.Load(t); ok {
		if err, bad := v.(error); bad {
			return elemLayout{}, err
		}
		return v.(elemLayout), nil
	}
	l, err := newLayout(t)
	if err != nil {
		layouts.Store(t, err)
		return elemLayout{}, err
	}
	layouts.Store(t, l)
	return l, nil
}

func newLayout(t reflect.Type) (elemLayout, error) {
	l := elemLayout{size: t.Size()}
	inner := t
	for inner.Kind() == reflect.Array {
		l.dims = append(l.dims, inner.Len())
		inner = inner.Elem()
	}
	var err error
	if inner.Kind() == reflect.Struct {
		l.format, err = recordFormat(inner)
	} else {
		l.format, err = scalarFormat(inner)
	}
	if err != nil {
		return l, err
	}
	if inner.Size() == 0 {
		return l, fmt.Errorf("gomem: element type %v has size 0, which NumPy cannot represent", t)
	}
	f, err := layout.ParseFormat(l.format)
	if err != nil {
		return l, fmt.Errorf("gomem: element type %v: %w", t, err)
	}
	if l.itemsize = f.Itemsize; uintptr(f.Itemsize) != inner.Size() {
		return l, fmt.Errorf("gomem: element type %v is %d bytes but its format %q is %d",
			t, inner.Size(), l.format, f.Itemsize)
	}
	return l, nil
}

// scalarCodes are struct-module codes. Top-level scalars use them as native
// codes ("d"), which NumPy and DLPack read as native types; records start
// with "=" (native order, standard sizes, no implicit alignment) because their
// format spells out Go's own padding.
var scalarCodes = map[reflect.Kind]string{
	reflect.Bool: "?", reflect.Int8: "b", reflect.Int16: "h", reflect.Int32: "i", reflect.Int64: "q",
	reflect.Uint8: "B", reflect.Uint16: "H", reflect.Uint32: "I", reflect.Uint64: "Q",
	reflect.Float32: "f", reflect.Float64: "d", reflect.Complex64: "Zf", reflect.Complex128: "Zd",
}

func scalarFormat(t reflect.Type) (string, error) {
	k := t.Kind()
	if k == reflect.Int || k == reflect.Uint || k == reflect.Uintptr {
		// Sized by the platform: name them by their fixed-size twins.
		k = map[bool]map[uintptr]reflect.Kind{
			true:  {4: reflect.Int32, 8: reflect.Int64},
			false: {4: reflect.Uint32, 8: reflect.Uint64},
		}[k == reflect.Int][t.Size()]
	}
	code, ok := scalarCodes[k]
	if !ok {
		return "", fmt.Errorf("gomem: element type %v is not a NumPy type (pointers, strings, slices, maps, "+
			"channels, funcs and interfaces cannot be exported: Python would see raw Go pointers)", t)
	}
	return code, nil
}

// recordFormat spells a struct as a PEP 3118 record with explicit padding,
// e.g. struct{A int32; B float64} is "T{=i:A:4xd:B:}", which NumPy reads
// as the same offsets and itemsize Go uses.
func recordFormat(t reflect.Type) (string, error) {
	var b strings.Builder
	b.WriteString("T{=")
	var off uintptr
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Offset > off {
			fmt.Fprintf(&b, "%dx", f.Offset-off)
		}
		off = f.Offset + f.Type.Size()
		if f.Name == "_" {
			fmt.Fprintf(&b, "%dx", f.Type.Size()) // blank fields are padding to Python too
			continue
		}
		code, err := fieldFormat(f.Type)
		if err != nil {
			return "", fmt.Errorf("%w (field %s of %v)", err, f.Name, t)
		}
		fmt.Fprintf(&b, "%s:%s:", code, fieldName(f))
	}
	if t.Size() > off {
		fmt.Fprintf(&b, "%dx", t.Size()-off)
	}
	b.WriteString("}")
	return b.String(), nil
}

// fieldName is the field's name in Python: its `pybuf:"name"` tag, or its
// Go name.
func fieldName(f reflect.StructField) string {
	if name := f.Tag.Get("pybuf"); name != "" && !strings.ContainsAny(name, ":{}() \t\n") {
		return name
	}
	return f.Name
}

func fieldFormat(t reflect.Type) (string, error) {
	var dims []string
	for t.Kind() == reflect.Array {
		dims = append(dims, fmt.Sprint(t.Len()))
		t = t.Elem()
	}
	var code string
	var err error
	if t.Kind() == reflect.Struct {
		code, err = recordFormat(t)
	} else {
		code, err = scalarFormat(t)
	}
	if err != nil || len(dims) == 0 {
		return code, err
	}
	return "(" + strings.Join(dims, ",") + ")" + code, nil
}
