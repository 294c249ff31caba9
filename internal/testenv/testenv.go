// Package testenv finds the real tools Atoll's tests run against (terraform, git,
// redis-server) and fails the test with install instructions when one is missing.
// Tests never skip for a missing tool: a skipped test would count as passing.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// ModuleRoot returns the repository root (the directory holding go.mod).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot locate source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Terraform returns the path of the terraform binary tests use: $ATOLL_TEST_TERRAFORM,
// else bin/terraform in the module root (installed by `make tools`, v1.5.7).
func Terraform(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ATOLL_TEST_TERRAFORM"); p != "" {
		return p
	}
	p := filepath.Join(ModuleRoot(t), "bin", "terraform")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("terraform not found at %s: run `make tools` (go install github.com/hashicorp/terraform@v1.5.7 into bin/) or set ATOLL_TEST_TERRAFORM", p)
	}
	return p
}

// Tofu returns the path of the OpenTofu binary tests use: $ATOLL_TEST_TOFU,
// else bin/tofu in the module root (installed by `make tools`, v1.6.3).
func Tofu(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ATOLL_TEST_TOFU"); p != "" {
		return p
	}
	p := filepath.Join(ModuleRoot(t), "bin", "tofu")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("tofu not found at %s: run `make tools` (go install github.com/opentofu/opentofu/cmd/tofu@v1.6.3 into bin/) or set ATOLL_TEST_TOFU", p)
	}
	return p
}

// TerraformEnv returns the environment terraform should run with in tests: this
// process's environment plus a CLI config file of its own (the machine's
// TF_CLI_CONFIG_FILE may point at a missing file) and no checkpoint calls.
func TerraformEnv(t testing.TB) []string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "terraformrc")
	if err := os.WriteFile(cfg, []byte("# atoll tests\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := os.Environ()
	env = append(env, "TF_CLI_CONFIG_FILE="+cfg, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
	return env
}

// Git returns the path of git, failing the test if it is missing.
func Git(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git not found on PATH: install it with `apt-get install -y git`")
	}
	return p
}
