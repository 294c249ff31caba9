package runner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A BeforeApply error (a lost lease's fence) fails the apply step without
// starting terraform: the plan file is still there and no state was written.
// A nil BeforeApply lets the apply run.
func TestRunBeforeApply(t *testing.T) {
	t.Parallel()
	r, g, dir := projectCheckout(t, map[string]string{"network/main.tf": webTF})
	planFile := r.PlanPath(g.repo(), 1, "network", "default")
	var log bytes.Buffer
	job := Job{Dir: dir, ProjectDir: "network", Steps: planSteps(), PlanFile: planFile, Log: &log}
	if _, err := r.Run(context.Background(), job); err != nil {
		t.Fatalf("plan: %v", err)
	}
	lost := errors.New("lease lost: another replica took over")
	calls := 0
	job.Steps = applySteps()
	job.BeforeApply = func(ctx context.Context) error { calls++; return lost }
	_, err := r.Run(context.Background(), job)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "apply" || !errors.Is(err, lost) || !strings.Contains(se.Output, "apply not started: lease lost") {
		t.Fatalf("apply with BeforeApply failing: %v, want a StepError for apply wrapping its error", err)
	}
	if calls != 1 {
		t.Errorf("BeforeApply called %d times, want 1", calls)
	}
	if _, err := os.Stat(filepath.Join(dir, "network", "terraform.tfstate")); err == nil {
		t.Error("terraform wrote state although BeforeApply refused the apply")
	}
	if _, err := os.Stat(planFile); err != nil {
		t.Errorf("plan file gone although the apply did not run: %v", err)
	}
	if !strings.Contains(log.String(), "apply not started: lease lost") {
		t.Errorf("live log does not say the apply did not start:\n%s", log.String())
	}

	job.BeforeApply = func(ctx context.Context) error { calls++; return nil }
	res, err := r.Run(context.Background(), job)
	if err != nil || !strings.Contains(res.Output, "Apply complete!") {
		t.Fatalf("apply with BeforeApply passing: %v\n%s", err, res.Output)
	}
}
