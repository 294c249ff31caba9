package policy

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/atollhq/atoll/internal/testenv"
)

// planJSON runs the real terraform (init, plan -out, show -json) on config in a
// temporary directory and returns the plan JSON terraform prints.
func planJSON(tb testing.TB, config string) []byte {
	tb.Helper()
	tf := testenv.Terraform(tb)
	env := testenv.TerraformEnv(tb)
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config), 0o644); err != nil {
		tb.Fatal(err)
	}
	run := func(args ...string) []byte {
		tb.Helper()
		cmd := exec.Command(tf, args...)
		cmd.Dir = dir
		cmd.Env = env
		var stderr []byte
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		if err != nil {
			tb.Fatalf("terraform %v: %v\n%s", args, err, stderr)
		}
		return out
	}
	run("init", "-input=false", "-no-color")
	run("plan", "-input=false", "-no-color", "-out=p")
	return run("show", "-json", "p")
}

// writeFiles writes files (path relative to dir → content) under dir and
// returns dir.
func writeFiles(tb testing.TB, dir string, files map[string]string) string {
	tb.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}
