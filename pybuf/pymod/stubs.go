package pymod

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// Stub returns the typed stub (.pyi) of a registered module, or the error
// importing it would raise.
func Stub(name string) (string, error) {
	m, err := lookup(name)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", pyDocstring(m.doc, ""))
	b.WriteString("from typing import Any, Callable\n\nimport numpy as np\nimport numpy.typing as npt\n")
	for _, f := range m.funcs {
		params := make([]string, len(f.sig.params))
		for i, p := range f.sig.params {
			params[i] = p.name + ": " + p.pyParamType()
		}
		fmt.Fprintf(&b, "\n\ndef %s(%s) -> %s:\n", f.name, strings.Join(params, ", "), resultsType(f.sig.results))
		fmt.Fprintf(&b, "    %s\n", pyDocstring(f.doc, "    "))
	}
	return b.String(), nil
}

// WriteStubs writes dir/<module>/__init__.pyi for each module, as pip
// installs a Go module's package (pybuf.gobuild runs it at build time, so a
// registration mistake fails the build, not the import).
func WriteStubs(dir string, modules ...string) error {
	for _, name := range modules {
		stub, err := Stub(name)
		if err != nil {
			return err
		}
		pkg := filepath.Join(append([]string{dir}, strings.Split(name, ".")...)...)
		if err := os.MkdirAll(pkg, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(pkg, "__init__.pyi"), []byte(stub), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func pyDocstring(doc, indent string) string {
	doc = strings.TrimSpace(doc)
	if doc == "" {
		return `"""(no documentation)"""`
	}
	doc = strings.ReplaceAll(doc, `\`, `\\`)
	doc = strings.ReplaceAll(doc, `"""`, `\"\"\"`)
	lines := strings.Split(doc, "\n")
	for i := 1; i < len(lines); i++ {
		if lines[i] != "" {
			lines[i] = indent + lines[i]
		}
	}
	if len(lines) == 1 {
		return `"""` + doc + `"""`
	}
	return `"""` + strings.Join(lines, "\n") + "\n" + indent + `"""`
}

// numpyScalar names the NumPy scalar type of a Go element kind.
var numpyScalar = map[reflect.Kind]string{
	reflect.Bool: "np.bool_", reflect.Int8: "np.int8", reflect.Int16: "np.int16", reflect.Int32: "np.int32",
	reflect.Int64: "np.int64", reflect.Uint8: "np.uint8", reflect.Uint16: "np.uint16", reflect.Uint32: "np.uint32",
	reflect.Uint64: "np.uint64", reflect.Float32: "np.float32", reflect.Float64: "np.float64",
	reflect.Complex64: "np.complex64", reflect.Complex128: "np.complex128",
}

func (s *slot) arrayType() string {
	if s.records {
		return "npt.NDArray[np.void]"
	}
	k := s.elem.Kind()
	switch k {
	case reflect.Int, reflect.Uint, reflect.Uintptr:
		signed := k == reflect.Int
		k = map[bool]map[int]reflect.Kind{true: {32: reflect.Int32, 64: reflect.Int64},
			false: {32: reflect.Uint32, 64: reflect.Uint64}}[signed][s.elem.Bits()]
	case reflect.Array:
		return "npt.NDArray[Any]"
	}
	return "npt.NDArray[" + numpyScalar[k] + "]"
}

var scalarTypes = map[int32]string{
	kindBool: "bool", kindInt: "int", kindUint: "int", kindFloat: "float", kindComplex: "complex",
	kindString: "str", kindBytes: "bytes",
}

func (s *slot) pyParamType() string {
	if s.kind == kindFunc {
		return s.callableType()
	}
	if s.kind != kindArray {
		return scalarTypes[s.kind]
	}
	if s.elem.Kind() == reflect.Uint8 && !s.writable {
		return "bytes | bytearray | memoryview | " + s.arrayType()
	}
	if s.elem.Kind() == reflect.Uint8 {
		return "bytearray | memoryview | " + s.arrayType()
	}
	return s.arrayType()
}

// callableType is a func parameter's Callable[[...], ...].
func (s *slot) callableType() string {
	in := make([]string, len(s.fsig.in))
	for i, v := range s.fsig.in {
		in[i] = scalarTypes[v.kind]
		if v.kind == kindArray {
			in[i] = "npt.NDArray[Any]"
		}
	}
	out := "None"
	switch len(s.fsig.out) {
	case 0:
	case 1:
		out = scalarTypes[s.fsig.out[0].kind]
	default:
		outs := make([]string, len(s.fsig.out))
		for j, v := range s.fsig.out {
			outs[j] = scalarTypes[v.kind]
		}
		out = "tuple[" + strings.Join(outs, ", ") + "]"
	}
	return "Callable[[" + strings.Join(in, ", ") + "], " + out + "]"
}

func (s *slot) pyResultType() string {
	if s.kind != kindArray {
		return scalarTypes[s.kind]
	}
	return s.arrayType()
}

func resultsType(rs []slot) string {
	switch len(rs) {
	case 0:
		return "None"
	case 1:
		return rs[0].pyResultType()
	}
	ts := make([]string, len(rs))
	for i := range rs {
		ts[i] = rs[i].pyResultType()
	}
	return "tuple[" + strings.Join(ts, ", ") + "]"
}
