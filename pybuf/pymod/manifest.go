package pymod

// #include "pybuf_core.h"
import "C"

import (
	"encoding/json"

	"github.com/pybuf-go/pybuf/pybuf/version"
)

// CoreABI is the C ABI (PYBUF_CORE_ABI) of the pybuf core linked with this
// package: a library built from it works only with a pybuf shim of the same.
const CoreABI = int(C.PYBUF_CORE_ABI)

// Manifest is what pybuf.gobuild writes next to a Go module's library
// (_pybuf_go.json): Python reads it without loading the library, so a
// library built for another core ABI is never loaded as pybuf's core.
func Manifest(modules ...string) ([]byte, error) {
	for _, m := range modules {
		if _, err := lookup(m); err != nil {
			return nil, err
		}
	}
	return json.Marshal(struct {
		ABI         int      `json:"abi"`
		CoreVersion string   `json:"core_version"`
		Modules     []string `json:"modules"`
	}{CoreABI, version.Version, modules})
}
