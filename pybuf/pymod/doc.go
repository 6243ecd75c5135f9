// Package pymod turns ordinary Go functions into a Python module.
//
// A Go package registers its functions once, in an init function:
//
//	func init() {
//		pymod.Module("gostats", "Statistics in Go.",
//			pymod.Func("add", Add, "a", "b"),
//			pymod.Func("histogram", Histogram, "x", "bins", "lo", "hi"),
//			pymod.Func("scale", Scale, "x", "k").Writes("x"),
//		)
//	}
//
// and a c-shared library that links it with pybuf's core (pybuf.gobuild
// writes and builds that library; see docs/GO_EXTENSIONS.md) becomes
// `import gostats` in Python. Reflection runs once, here: each function
// gets a compact signature (a kind per parameter and result) that the C
// shim uses to convert Python arguments without calling Go, then one call
// into Go runs the function with the GIL released.
//
// Parameters: bool, signed and unsigned integers, floats, complex numbers,
// string, and slices of NumPy scalar types ([]float64, []byte, ...), which
// borrow the memory of any buffer exporter (a NumPy array, bytes,
// bytearray, memoryview) for the duration of the call: no copy, the element
// type and contiguity checked, and the argument refused unless writable when
// the function declares that it writes it (Writes). A borrowed slice is valid
// only until the function returns; copy what must outlive the call. An
// Array[T] parameter borrows any N-D, strided view the same way.
//
// Results: the same scalars and string; []byte as bytes (a copy); other
// slices ([]T of NumPy scalars or of structs, exported as NumPy records) and
// Array values (N-D, strided) as NumPy arrays over Go's memory, pinned until
// the last Python view is gone (package gomem). Several results become a
// tuple. A last result of type error raises a Python exception with its
// message: RuntimeError, or the class chosen with ValueError.New and its
// siblings, or Class. A panic is recovered and raised as RuntimeError.
//
// A parameter of a func type takes a Python callable (see callback.go):
// each call takes the GIL, and an exception it raises is raised by the Go
// call. Errors name their class by qualified name with Class
// ("numpy.linalg.LinAlgError"); every message starts with "module.function: ".
// Results made with Fresh or Empty live in memory pybuf owns, not Go's
// heap: exported without a pin. PYBUF_GO_CHECKED=1 turns a borrowed slice
// used after its call into a panic naming it (checked.go).
//
// Calls go through reflection, or through typed invokers: built in for the
// common scalar signatures, and written for every registered function by
// the pymodgen command (go generate; see Frame and Typed). pymodgen -module
// also writes the registration of every exported function of a package.
//
// Mistakes in a registration (an unsupported type, a wrong number of names)
// never crash the process: importing the module raises ImportError saying
// what is wrong.
package pymod
