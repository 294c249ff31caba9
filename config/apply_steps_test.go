package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestApplySteps(t *testing.T) {
	t.Parallel()
	initUp := Step{Kind: StepInit, ExtraArgs: []string{"-backend-config=prod.hcl"}}
	env := Step{Kind: StepEnv, EnvName: "REGION", EnvValue: "eu"}
	run := Step{Kind: StepRun, Run: "echo checking"}
	plan := Step{Kind: StepPlan}
	apply := Step{Kind: StepApply}
	for _, tc := range []struct {
		name string
		wf   Workflow
		want []Step
	}{
		{"default workflow re-inits", DefaultWorkflow(), []Step{{Kind: StepInit}, apply}},
		{"plan's env and init, not its run steps", Workflow{Plan: []Step{env, run, initUp, plan}, Apply: []Step{apply}},
			[]Step{env, initUp, apply}},
		{"steps after plan are not replayed", Workflow{Plan: []Step{initUp, plan, env}, Apply: []Step{apply}},
			[]Step{initUp, apply}},
		{"apply stage with its own init", Workflow{Plan: []Step{initUp, plan}, Apply: []Step{{Kind: StepInit}, apply}},
			[]Step{{Kind: StepInit}, apply}},
		{"plan stage without init (terragrunt)", Workflow{Plan: []Step{env, {Kind: StepRun, Run: "terragrunt plan"}}, Apply: []Step{{Kind: StepRun, Run: "terragrunt apply"}}},
			[]Step{{Kind: StepRun, Run: "terragrunt apply"}}},
		{"empty apply stage runs nothing", Workflow{Plan: []Step{initUp, plan}, Apply: []Step{}}, []Step{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.wf.ApplySteps()); diff != "" {
				t.Errorf("applySteps (-want +got):\n%s", diff)
			}
		})
	}
}
