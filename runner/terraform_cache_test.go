package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollhq/atoll/internal/testenv"
)

// TestTerraformHandleCache: a second run in the same project reuses the
// terraform-exec handle, so terraform is not started again just to print its
// version; the plans themselves are unaffected.
func TestTerraformHandleCache(t *testing.T) {
	t.Parallel()
	r, g, dir := projectCheckout(t, map[string]string{"main.tf": webTF})
	calls := filepath.Join(t.TempDir(), "calls")
	wrapper := filepath.Join(t.TempDir(), "terraform")
	script := "#!/bin/sh\necho \"$1\" >> " + calls + "\nexec " + testenv.Terraform(t) + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	job := Job{Dir: dir, ProjectDir: ".", Workspace: "default", Steps: planSteps(), Terraform: wrapper,
		PlanFile: r.PlanPath(g.repo(), 1, ".", "default")}
	for i := 0; i < 2; i++ {
		res, err := r.Run(context.Background(), job)
		if err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		if res.Plan == nil || res.Plan.Add != 1 {
			t.Fatalf("run %d: plan = %+v", i+1, res.Plan)
		}
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(b))
	if n := strings.Count(string(b), "version"); n != 1 {
		t.Errorf("terraform version ran %d times over two runs, want 1; calls: %v", n, got)
	}
	if n := strings.Count(string(b), "plan"); n != 2 {
		t.Errorf("terraform plan ran %d times, want 2; calls: %v", n, got)
	}
}
