package runner

import (
	"os"
	"testing"
)

// TestMain lets the test binary act as the TF_VAR_ shim, as the atoll binary does.
func TestMain(m *testing.M) {
	if IsShim(os.Environ()) {
		os.Exit(ShimMain(os.Args, os.Environ(), os.Stderr))
	}
	os.Exit(m.Run())
}
