module example.com/gotext

go 1.26

require github.com/pybuf-go/pybuf v0.0.0

// This example lives in pybuf's repository: pybuf's Go module is the checkout
// two directories up. A project of your own points at a checkout or an
// unpacked sdist, or, once the module is published, requires a released version
// with no replace (docs/GO_EXTENSIONS.md, step 1).
replace github.com/pybuf-go/pybuf => ../..
