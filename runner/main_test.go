package runner

import (
	"os"
	"testing"
)

// TestMain lets the test binary act as the TF_VAR_ shim, as the atoll binary
// does, and as a stand-in server for tests that kill one (see runHelper).
func TestMain(m *testing.M) {
	if IsShim(os.Environ()) {
		os.Exit(runShim())
	}
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}
