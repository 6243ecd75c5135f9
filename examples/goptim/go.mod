module example.com/goptim

go 1.26

require (
	github.com/pybuf-go/pybuf v0.0.0
	github.com/stretchr/testify v1.11.1
	gonum.org/v1/gonum v0.17.0
)

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	golang.org/x/tools v0.30.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

// This example lives in pybuf's repository; a project of your own requires
// a released version of github.com/pybuf-go/pybuf instead.
replace github.com/pybuf-go/pybuf => ../..
