package runner

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/atollhq/atoll/config"
)

// TestRunStateRm: state rm forgets applied resources (the next plan creates
// them again) and removes the stale plan file; an address terraform does
// not know, an address that looks like a flag, and flags it does not take
// fail the step.
func TestRunStateRm(t *testing.T) {
	t.Parallel()
	r, g, dir := projectCheckout(t, map[string]string{"network/main.tf": webTF + "\nresource \"terraform_data\" \"db\" {\n  input = \"x\"\n}\n"})
	planFile := r.PlanPath(g.repo(), 1, "network", "default")
	ctx := context.Background()
	job := Job{Dir: dir, ProjectDir: "network", Steps: planSteps(), PlanFile: planFile}
	if _, err := r.Run(ctx, job); err != nil {
		t.Fatalf("plan: %v", err)
	}
	job.Steps = applySteps()
	if _, err := r.Run(ctx, job); err != nil {
		t.Fatalf("apply: %v", err)
	}
	job.Steps = planSteps()
	if _, err := r.Run(ctx, job); err != nil {
		t.Fatalf("plan after apply: %v", err)
	}

	rm := Job{Dir: dir, ProjectDir: "network", Steps: config.DefaultWorkflow().StateRm, PlanFile: planFile,
		StateRmAddresses: []string{"terraform_data.web", "terraform_data.db"}, ExtraArgs: []string{"-lock-timeout=10s"}}
	res, err := r.Run(ctx, rm)
	if err != nil {
		t.Fatalf("state rm: %v", err)
	}
	if !strings.Contains(res.Output, "Removed terraform_data.web") || !strings.Contains(res.Output, "Removed terraform_data.db") {
		t.Errorf("state rm output:\n%s", res.Output)
	}
	if _, err := os.Stat(planFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale plan file is still there: %v", err)
	}
	job.Steps = planSteps()
	plan, err := r.Run(ctx, job)
	if err != nil || plan.Plan == nil || plan.Plan.Add != 2 {
		t.Fatalf("plan after state rm = %+v, %v; want 2 to add", plan.Plan, err)
	}

	for _, tc := range []struct {
		name string
		job  func(j *Job)
		want string
	}{
		{"unknown address", func(j *Job) { j.StateRmAddresses = []string{"terraform_data.nope"} }, "Invalid target address"},
		{"flag address", func(j *Job) { j.StateRmAddresses = []string{"-state=/tmp/x"} }, "is not a resource address"},
		{"no address", func(j *Job) { j.StateRmAddresses = nil }, "at least one resource address"},
		{"flag refused", func(j *Job) { j.ExtraArgs = []string{"-var=a=b"} }, `does not take "-var=a=b"`},
	} {
		j := rm
		j.StateRmAddresses = []string{"terraform_data.web"}
		tc.job(&j)
		_, err := r.Run(ctx, j)
		var se *StepError
		if !errors.As(err, &se) || se.Step != config.StepStateRm || !strings.Contains(se.Output+se.Err.Error(), tc.want) {
			t.Errorf("%s: err = %v; want a state_rm StepError containing %q", tc.name, err, tc.want)
		}
	}
}
