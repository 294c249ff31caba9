package server

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/templates"
)

func TestApplySteps(t *testing.T) {
	t.Parallel()
	initUp := config.Step{Kind: config.StepInit, ExtraArgs: []string{"-backend-config=prod.hcl"}}
	env := config.Step{Kind: config.StepEnv, EnvName: "REGION", EnvValue: "eu"}
	run := config.Step{Kind: config.StepRun, Run: "echo checking"}
	plan := config.Step{Kind: config.StepPlan}
	apply := config.Step{Kind: config.StepApply}
	for _, tc := range []struct {
		name string
		wf   config.Workflow
		want []config.Step
	}{
		{"default workflow re-inits", config.DefaultWorkflow(), []config.Step{{Kind: config.StepInit}, apply}},
		{"plan's env and init, not its run steps", config.Workflow{Plan: []config.Step{env, run, initUp, plan}, Apply: []config.Step{apply}},
			[]config.Step{env, initUp, apply}},
		{"steps after plan are not replayed", config.Workflow{Plan: []config.Step{initUp, plan, env}, Apply: []config.Step{apply}},
			[]config.Step{initUp, apply}},
		{"apply stage with its own init", config.Workflow{Plan: []config.Step{initUp, plan}, Apply: []config.Step{{Kind: config.StepInit}, apply}},
			[]config.Step{{Kind: config.StepInit}, apply}},
		{"plan stage without init (terragrunt)", config.Workflow{Plan: []config.Step{env, {Kind: config.StepRun, Run: "terragrunt plan"}}, Apply: []config.Step{{Kind: config.StepRun, Run: "terragrunt apply"}}},
			[]config.Step{{Kind: config.StepRun, Run: "terragrunt apply"}}},
		{"empty apply stage runs nothing", config.Workflow{Plan: []config.Step{initUp, plan}, Apply: []config.Step{}}, []config.Step{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, applySteps(tc.wf)); diff != "" {
				t.Errorf("applySteps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequirementsFix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		checks []templates.Requirement
		want   string
	}{
		{"approved", []templates.Requirement{{Name: config.ReqApproved}}, "Ask a reviewer other than the author to approve the pull request."},
		{"met ones are skipped", []templates.Requirement{{Name: config.ReqApproved, Met: true}, {Name: config.ReqUndiverged}},
			"Merge or rebase the latest `main` into the branch; Atoll plans again on the push."},
		{"all met", []templates.Requirement{{Name: config.ReqMergeable, Met: true}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := requirementsFix(tc.checks, "main"); got != tc.want {
				t.Errorf("requirementsFix = %q, want %q", got, tc.want)
			}
		})
	}
}
