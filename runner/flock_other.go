//go:build !unix

package runner

import "os"

// tryFlock takes no lock where flock does not exist: inits that share a
// plugin cache are then not serialised between processes.
func tryFlock(*os.File) (held bool, err error) { return true, nil }
