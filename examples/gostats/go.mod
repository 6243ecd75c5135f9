module example.com/gostats

go 1.26

require github.com/pybuf-go/pybuf v0.0.0

require golang.org/x/sys v0.38.0 // indirect

// This example lives in pybuf's repository; a project of your own requires
// a released version of github.com/pybuf-go/pybuf instead.
replace github.com/pybuf-go/pybuf => ../..
