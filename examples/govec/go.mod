module example.com/govec

go 1.26

require github.com/pybuf-go/pybuf v0.0.0

replace github.com/pybuf-go/pybuf => ../..
