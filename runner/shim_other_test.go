//go:build !linux

package runner

import "os"

// runShim runs ShimMain.
func runShim() int {
	return ShimMain(os.Args, os.Environ(), os.Stderr)
}
