package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// Helm returns the path of the helm binary tests use: $ATOLL_TEST_HELM, else
// bin/helm in the module root (installed by `make tools`, v3.19.0).
func Helm(t testing.TB) string {
	t.Helper()
	p := os.Getenv("ATOLL_TEST_HELM")
	if p == "" {
		p = filepath.Join(ModuleRoot(t), "bin", "helm")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("helm not found at %s: run `make tools` (go install helm.sh/helm/v3/cmd/helm@v3.19.0 into bin/) or set ATOLL_TEST_HELM", p)
	}
	return p
}
