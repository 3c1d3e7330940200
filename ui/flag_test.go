package ui

import "flag"

// The golden files live in the renderer packages; accept their flag so that
// `go test ./ui/... -update` runs here too.
var _ = flag.Bool("update", false, "rewrite golden files (none in this package)")
