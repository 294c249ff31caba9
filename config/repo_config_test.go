package config

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func bp(b bool) *bool { return &b }

var ignoreUnexported = cmpopts.IgnoreUnexported(RepoConfig{}, ServerRepo{}, TeamAllowlist{})

func runStep(cmd string) Step {
	return Step{Kind: StepRun, Run: cmd, Output: "show", Shell: "sh", ShellArgs: []string{"-c"}}
}

func TestParseRepoConfigKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want *RepoConfig
	}{
		{"version only", "version: 3\n", &RepoConfig{Version: 3}},
		{"top-level bools", `version: 3
automerge: true
delete_source_branch_on_merge: false
parallel_plan: yes
parallel_apply: on
abort_on_execution_order_fail: true
`, &RepoConfig{Version: 3, Automerge: bp(true), DeleteSourceBranchOnMerge: bp(false), ParallelPlan: bp(true), ParallelApply: bp(true), AbortOnExecutionOrderFail: bp(true)}},
		{"autodiscover", `version: 3
autodiscover:
  mode: enabled
  ignore_paths: ["sandbox/**", "old/*"]
`, &RepoConfig{Version: 3, Autodiscover: &Autodiscover{Mode: "enabled", IgnorePaths: []string{"sandbox/**", "old/*"}}}},
		{"autodiscover mode defaults to auto", "version: 3\nautodiscover:\n  ignore_paths: [x]\n",
			&RepoConfig{Version: 3, Autodiscover: &Autodiscover{Mode: "auto", IgnorePaths: []string{"x"}}}},
		{"allowed_regexp_prefixes", "version: 3\nallowed_regexp_prefixes: [dev/, staging/]\n",
			&RepoConfig{Version: 3, AllowedRegexpPrefixes: []string{"dev/", "staging/"}}},
		{"empty projects and workflows", "version: 3\nprojects:\nworkflows:\n", &RepoConfig{Version: 3}},
		{"project with every key", `version: 3
projects:
- name: net
  branch: /main/
  dir: ./envs/prod/
  workspace: blue
  execution_order_group: 2
  depends_on: [base]
  delete_source_branch_on_merge: true
  repo_locks:
    mode: on_apply
  custom_policy_check: false
  policy_check: false
  autoplan:
    enabled: false
    when_modified: ["*.tf", "../modules/**/*.tf", "!skip.tf"]
  plan_requirements: [approved]
  apply_requirements: [approved, mergeable, undiverged, policies_passed]
  import_requirements: []
  terraform_version: v1.5.7
  terraform_distribution: opentofu
  workflow: custom
  silence_pr_comments: [plan, apply]
- name: base
  dir: base
`, &RepoConfig{Version: 3, Projects: []RepoProject{{
			Name: "net", Branch: "main", Dir: "envs/prod", Workspace: "blue", ExecutionOrderGroup: 2,
			DependsOn: []string{"base"}, DeleteSourceBranchOnMerge: bp(true), RepoLocking: "on_apply",
			CustomPolicyCheck: bp(false), PolicyCheck: bp(false), AutoplanEnabled: bp(false),
			WhenModified:       []string{"*.tf", "../modules/**/*.tf", "!skip.tf"},
			PlanRequirements:   []string{"approved"},
			ApplyRequirements:  []string{"approved", "mergeable", "undiverged", "policies_passed"},
			ImportRequirements: []string{}, TerraformVersion: "1.5.7", TerraformDistribution: "opentofu",
			Workflow: "custom", SilencePRComments: []string{"plan", "apply"},
		}, {Name: "base", Dir: "base", Workspace: "default"}}}},
		{"repo_locking booleans and modes", `version: 3
projects:
- {dir: a, repo_locking: true}
- {dir: b, repo_locking: false}
- {dir: c, repo_locking: on_apply}
- {dir: d, repo_locks: {}}
- {dir: e, repo_locking: false, repo_locks: {mode: on_apply}}
`, &RepoConfig{Version: 3, Projects: []RepoProject{
			{Dir: "a", Workspace: "default", RepoLocking: "on_plan"},
			{Dir: "b", Workspace: "default", RepoLocking: "disabled"},
			{Dir: "c", Workspace: "default", RepoLocking: "on_apply"},
			{Dir: "d", Workspace: "default", RepoLocking: "on_plan"},
			{Dir: "e", Workspace: "default", RepoLocking: "on_apply"},
		}}},
		{"root dir and numeric version", "version: 3\nprojects:\n- dir: .\n  terraform_version: 0.12\n",
			&RepoConfig{Version: 3, Projects: []RepoProject{{Dir: ".", Workspace: "default", TerraformVersion: "0.12.0"}}}},
		{"same dir and workspace with names", "version: 3\nprojects:\n- {name: a, dir: x}\n- {name: b, dir: x}\n",
			&RepoConfig{Version: 3, Projects: []RepoProject{{Name: "a", Dir: "x", Workspace: "default"}, {Name: "b", Dir: "x", Workspace: "default"}}}},
		{"anchors and merge keys", `version: 3
projects:
- &base
  dir: a
  terraform_version: &tf 1.5.7
  autoplan:
    when_modified: &files ["*.tf", "*.tfvars"]
- <<: *base
  dir: b
  workspace: staging
- dir: c
  terraform_version: *tf
  autoplan: {when_modified: *files}
`, &RepoConfig{Version: 3, Projects: []RepoProject{
			{Dir: "a", Workspace: "default", TerraformVersion: "1.5.7", WhenModified: []string{"*.tf", "*.tfvars"}},
			{Dir: "b", Workspace: "staging", TerraformVersion: "1.5.7", WhenModified: []string{"*.tf", "*.tfvars"}},
			{Dir: "c", Workspace: "default", TerraformVersion: "1.5.7", WhenModified: []string{"*.tf", "*.tfvars"}},
		}}},
		{"workflows with every step form", `version: 3
workflows:
  custom:
    plan:
      steps:
      - init
      - init:
          extra_args: ["-upgrade"]
      - run: echo hi
      - run:
          command: make plan
          output: strip_refreshing
          shell: bash
          shell_args: ["-e", "-c"]
      - run:
          command: ./secret.sh
          shell: bash
          shellArgs: -c
          output:
          - hide
          - filter_regex: "token=\\S+"
      - env:
          name: A
          value: "1"
      - env:
          name: B
          command: echo b
      - multienv: ./envs.sh
      - multienv:
          command: ./envs.sh
          output: hide
      - plan:
          extra_args: ["-lock=false"]
      - show
    apply:
      steps: [apply]
    import:
      steps:
      - init
      - import
    state_rm:
      steps: [init, state_rm]
    policy_check:
      steps: [show, policy_check]
  empty:
    plan:
  nothing:
`, &RepoConfig{Version: 3, Workflows: map[string]Workflow{
			"custom": {Name: "custom",
				Plan: []Step{
					{Kind: "init"},
					{Kind: "init", ExtraArgs: []string{"-upgrade"}},
					runStep("echo hi"),
					{Kind: "run", Run: "make plan", Output: "strip_refreshing", Shell: "bash", ShellArgs: []string{"-e", "-c"}},
					{Kind: "run", Run: "./secret.sh", Output: "hide", Shell: "bash", ShellArgs: []string{"-c"}, FilterRegex: []string{`token=\S+`}},
					{Kind: "env", EnvName: "A", EnvValue: "1"},
					{Kind: "env", EnvName: "B", Run: "echo b", Shell: "sh", ShellArgs: []string{"-c"}},
					{Kind: "multienv", Run: "./envs.sh", Output: "show", Shell: "sh", ShellArgs: []string{"-c"}},
					{Kind: "multienv", Run: "./envs.sh", Output: "hide", Shell: "sh", ShellArgs: []string{"-c"}},
					{Kind: "plan", ExtraArgs: []string{"-lock=false"}},
					{Kind: "show"},
				},
				Apply:       []Step{{Kind: "apply"}},
				Import:      []Step{{Kind: "init"}, {Kind: "import"}},
				StateRm:     []Step{{Kind: "init"}, {Kind: "state_rm"}},
				PolicyCheck: []Step{{Kind: "show"}, {Kind: "policy_check"}},
			},
			"empty":   {Name: "empty", Plan: []Step{}},
			"nothing": {Name: "nothing"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRepoConfig("atoll.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("ParseRepoConfig: %v", err)
			}
			tt.want.File = "atoll.yaml"
			if diff := cmp.Diff(tt.want, got, ignoreUnexported); diff != "" {
				t.Errorf("ParseRepoConfig mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRepoConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"empty file", "", "atoll.yaml:1:1: the file is empty; it needs at least `version: 3`"},
		{"syntax error", "version: 3\n  bad: indent\n", "atoll.yaml:2: invalid YAML: mapping values are not allowed in this context"},
		{"not a mapping", "- a\n", "atoll.yaml:1:1: must be a mapping of keys to values"},
		{"missing version", "automerge: true\n", "atoll.yaml:1:1: version: required key is missing: add `version: 3`"},
		{"version 2", "version: 2\n", "atoll.yaml:1:10: version: must be 3, got 2"},
		{"version string", "version: three\n", "atoll.yaml:1:10: version: must be an integer"},
		{"unknown top-level key", "version: 3\nautomege: true\n", `atoll.yaml:2:1: automege: unknown key (did you mean "automerge"?)`},
		{"unknown key without suggestion", "version: 3\nfoo: 1\n", "atoll.yaml:2:1: foo: unknown key"},
		{"duplicate key", "version: 3\nversion: 3\n", "atoll.yaml:2:1: version: key is set twice"},
		{"automerge not bool", "version: 3\nautomerge: maybe\n", "atoll.yaml:2:12: automerge: must be true or false"},
		{"delete_source_branch_on_merge not bool", "version: 3\ndelete_source_branch_on_merge: 1\n", "atoll.yaml:2:32: delete_source_branch_on_merge: must be true or false"},
		{"parallel_plan not bool", "version: 3\nparallel_plan: [true]\n", "atoll.yaml:2:16: parallel_plan: must be true or false"},
		{"parallel_apply not bool", "version: 3\nparallel_apply: x\n", "atoll.yaml:2:17: parallel_apply: must be true or false"},
		{"abort_on_execution_order_fail not bool", "version: 3\nabort_on_execution_order_fail: x\n", "atoll.yaml:2:32: abort_on_execution_order_fail: must be true or false"},
		{"autodiscover mode", "version: 3\nautodiscover:\n  mode: sometimes\n", `atoll.yaml:3:9: autodiscover.mode: "sometimes" is not one of "auto", "enabled", "disabled"`},
		{"autodiscover unknown key", "version: 3\nautodiscover:\n  ignore_path: [x]\n", `atoll.yaml:3:3: autodiscover.ignore_path: unknown key (did you mean "ignore_paths"?)`},
		{"autodiscover bad glob", "version: 3\nautodiscover:\n  ignore_paths: [\"a/[\"]\n", `atoll.yaml:3:18: autodiscover.ignore_paths[0]: invalid glob "a/["`},
		{"allowed_regexp_prefixes not list", "version: 3\nallowed_regexp_prefixes: dev/\n", "atoll.yaml:2:26: allowed_regexp_prefixes: must be a list of strings"},
		{"projects not a list", "version: 3\nprojects:\n  dir: a\n", "atoll.yaml:3:3: projects: must be a list of projects"},
		{"project not a mapping", "version: 3\nprojects:\n- a\n", "atoll.yaml:3:3: projects[0]: must be a mapping of keys to values"},
		{"project unknown key", "version: 3\nprojects:\n- dir: a\n  wrkspace: x\n", `atoll.yaml:4:3: projects[0].wrkspace: unknown key (did you mean "workspace"?)`},
		{"workspace not string", "version: 3\nprojects:\n- dir: a\n- dir: b\n  workspace: [x]\n", "atoll.yaml:5:14: projects[1].workspace: must be a string"},
		{"workspace empty", "version: 3\nprojects:\n- dir: a\n  workspace: \"\"\n", "atoll.yaml:4:14: projects[0].workspace: must be a workspace name without spaces"},
		{"name empty", "version: 3\nprojects:\n- dir: a\n  name: \"\"\n", "atoll.yaml:4:9: projects[0].name: must not be empty"},
		{"name with space", "version: 3\nprojects:\n- dir: a\n  name: my app\n", "atoll.yaml:4:9: projects[0].name: must not contain spaces (it is used as `-p my app`)"},
		{"name not string", "version: 3\nprojects:\n- dir: a\n  name: {a: b}\n", "atoll.yaml:4:9: projects[0].name: must be a string"},
		{"dir missing", "version: 3\nprojects:\n- name: a\n", "atoll.yaml:3:3: projects[0].dir: required key is missing"},
		{"dir empty", "version: 3\nprojects:\n- dir:\n", "atoll.yaml:3:7: projects[0].dir: must be a directory relative to the repo root, or . for the root"},
		{"dir with ..", "version: 3\nprojects:\n- dir: a/../../b\n", `atoll.yaml:3:8: projects[0].dir: "a/../../b" must stay inside the repo: it may not contain ..`},
		{"dir absolute", "version: 3\nprojects:\n- dir: /srv/tf\n", `atoll.yaml:3:8: projects[0].dir: "/srv/tf" must be relative to the repo root, not absolute`},
		{"dir backslash", "version: 3\nprojects:\n- dir: 'a\\b'\n", `atoll.yaml:3:8: projects[0].dir: "a\\b" must use / as the separator`},
		{"dir with a backtick", "version: 3\nprojects:\n- dir: 'a`b'\n", "atoll.yaml:3:8: projects[0].dir: \"a`b\" has a character Atoll does not accept in a directory (` < > or a control character)"},
		{"branch bad regex", "version: 3\nprojects:\n- dir: a\n  branch: /ma(in/\n", "atoll.yaml:4:11: projects[0].branch: invalid regular expression \"/ma(in/\": missing closing ): `ma(in`"},
		{"execution_order_group not int", "version: 3\nprojects:\n- dir: a\n  execution_order_group: first\n", "atoll.yaml:4:26: projects[0].execution_order_group: must be an integer"},
		{"depends_on not list", "version: 3\nprojects:\n- dir: a\n  depends_on: b\n", "atoll.yaml:4:15: projects[0].depends_on: must be a list of strings"},
		{"depends_on unknown", "version: 3\nprojects:\n- {name: a, dir: a}\n- dir: b\n  depends_on: [a, c]\n", `atoll.yaml:5:3: projects[1].depends_on[1]: no project is named "c" (projects: a)`},
		{"depends_on self", "version: 3\nprojects:\n- name: a\n  dir: a\n  depends_on: [a]\n", "atoll.yaml:5:3: projects[0].depends_on[0]: a project cannot depend on itself"},
		{"duplicate names", "version: 3\nprojects:\n- {name: a, dir: a}\n- {name: a, dir: b}\n", `atoll.yaml:4:4: projects[1].name: project name "a" is already used by projects[0]; names must be unique`},
		{"duplicate dir and workspace", "version: 3\nprojects:\n- dir: a\n- dir: ./a\n  name: second\n", `atoll.yaml:3:3: projects[0]: 2 projects have dir "a" and workspace "default"; each of them needs a name so they can be told apart`},
		{"project delete_source_branch_on_merge", "version: 3\nprojects:\n- dir: a\n  delete_source_branch_on_merge: sure\n", "atoll.yaml:4:34: projects[0].delete_source_branch_on_merge: must be true or false"},
		{"repo_locking bad", "version: 3\nprojects:\n- dir: a\n  repo_locking: [x]\n", `atoll.yaml:4:17: projects[0].repo_locking: must be true, false or one of "disabled", "on_plan", "on_apply"`},
		{"repo_locking string not a mode", "version: 3\nprojects:\n- dir: a\n  repo_locking: always\n", "atoll.yaml:4:17: projects[0].repo_locking: must be true or false"},
		{"repo_locks mode", "version: 3\nprojects:\n- dir: a\n  repo_locks:\n    mode: on_merge\n", `atoll.yaml:5:11: projects[0].repo_locks.mode: "on_merge" is not one of "disabled", "on_plan", "on_apply"`},
		{"custom_policy_check", "version: 3\nprojects:\n- dir: a\n  custom_policy_check: x\n", "atoll.yaml:4:24: projects[0].custom_policy_check: must be true or false"},
		{"autoplan not mapping", "version: 3\nprojects:\n- dir: a\n  autoplan: true\n", "atoll.yaml:4:13: projects[0].autoplan: must be a mapping of keys to values"},
		{"autoplan enabled", "version: 3\nprojects:\n- dir: a\n  autoplan:\n    enabled: 1\n", "atoll.yaml:5:14: projects[0].autoplan.enabled: must be true or false"},
		{"when_modified item", "version: 3\nprojects:\n- dir: a\n  autoplan:\n    when_modified: [\"*.tf\", 3, [x]]\n", "atoll.yaml:5:32: projects[0].autoplan.when_modified[2]: must be a string"},
		{"when_modified bad glob", "version: 3\nprojects:\n- dir: a\n  autoplan:\n    when_modified: [\"{a,b\"]\n", `atoll.yaml:5:21: projects[0].autoplan.when_modified[0]: invalid glob "{a,b"`},
		{"plan_requirements", "version: 3\nprojects:\n- dir: a\n  plan_requirements: [aproved]\n", `atoll.yaml:4:23: projects[0].plan_requirements[0]: "aproved" is not one of "approved", "mergeable", "undiverged", "policies_passed" (did you mean "approved"?)`},
		{"apply_requirements not list", "version: 3\nprojects:\n- dir: a\n  apply_requirements: approved\n", "atoll.yaml:4:23: projects[0].apply_requirements: must be a list of strings"},
		{"import_requirements", "version: 3\nprojects:\n- dir: a\n  import_requirements: [green]\n", `atoll.yaml:4:25: projects[0].import_requirements[0]: "green" is not one of "approved", "mergeable", "undiverged", "policies_passed"`},
		{"terraform_version", "version: 3\nprojects:\n- dir: a\n  terraform_version: latest\n", `atoll.yaml:4:22: projects[0].terraform_version: "latest" is not a version; use an exact version such as 1.5.7 (a constraint such as >= 1.5 goes in the project's required_version)`},
		{"terraform_version constraint", "version: 3\nprojects:\n- dir: a\n  terraform_version: \">= 1.5\"\n", `atoll.yaml:4:22: projects[0].terraform_version: ">= 1.5" is not a version; use an exact version such as 1.5.7 (a constraint such as >= 1.5 goes in the project's required_version)`},
		{"terraform_distribution", "version: 3\nprojects:\n- dir: a\n  terraform_distribution: tofu\n", `atoll.yaml:4:27: projects[0].terraform_distribution: "tofu" is not one of "terraform", "opentofu"`},
		{"workflow empty", "version: 3\nprojects:\n- dir: a\n  workflow: \"\"\n", "atoll.yaml:4:13: projects[0].workflow: must not be empty"},
		{"silence_pr_comments", "version: 3\nprojects:\n- dir: a\n  silence_pr_comments: [import]\n", `atoll.yaml:4:25: projects[0].silence_pr_comments[0]: "import" is not one of "plan", "apply"`},
		{"workflows not mapping", "version: 3\nworkflows: [a]\n", "atoll.yaml:2:12: workflows: must be a mapping of keys to values"},
		{"workflow unknown stage", "version: 3\nworkflows:\n  w:\n    plann: {}\n", `atoll.yaml:4:5: workflows.w.plann: unknown key (did you mean "plan"?)`},
		{"stage unknown key", "version: 3\nworkflows:\n  w:\n    plan:\n      step: [init]\n", `atoll.yaml:5:7: workflows.w.plan.step: unknown key (did you mean "steps"?)`},
		{"steps not list", "version: 3\nworkflows:\n  w:\n    plan:\n      steps: init\n", "atoll.yaml:5:14: workflows.w.plan.steps: must be a list of steps"},
		{"unknown step", "version: 3\nworkflows:\n  w:\n    plan:\n      steps: [innit]\n", `atoll.yaml:5:15: workflows.w.plan.steps[0]: unknown step "innit": use one of "init", "plan", "apply", "show", "policy_check", "import", "state_rm", or run, env, multienv (did you mean "init"?)`},
		{"bare run step", "version: 3\nworkflows:\n  w:\n    plan:\n      steps: [run]\n", "atoll.yaml:5:15: workflows.w.plan.steps[0]: step \"run\" needs a value, for example `- run: <command>`"},
		{"step with two keys", "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - run: a\n        init: {}\n", `atoll.yaml:7:9: workflows.w.plan.steps[0]: a step has exactly one key, found "run", "init"; start each step with its own -`},
		{"step unknown key", "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - rum: a\n", `atoll.yaml:6:9: workflows.w.plan.steps[0].rum: unknown key (did you mean "run"?)`},
		{"extra_args not list", "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - plan: {extra_args: -lock=false}\n", "atoll.yaml:6:28: workflows.w.plan.steps[0].plan.extra_args: must be a list of strings"},
		{"builtin step unknown key", "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - init: {args: [x]}\n", `atoll.yaml:6:16: workflows.w.plan.steps[0].init.args: unknown key`},
		{"run output", "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - run: {command: x, output: loud}\n", `atoll.yaml:6:35: workflows.w.plan.steps[0].run.output: "loud" is not one of "show", "hide", "strip_refreshing"`},
		{"run missing command", "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - run: {shell: bash}\n", "atoll.yaml:6:14: workflows.w.plan.steps[0].run.command: required key is missing"},
		{"run empty", "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - run:\n", "atoll.yaml:6:13: workflows.w.plan.steps[0].run: needs a command"},
		{"run shell_args without shell", "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - run: {command: x, shell_args: [-c]}\n", "atoll.yaml:6:27: workflows.w.plan.steps[0].run.shell_args: needs shell to be set as well"},
		{"run filter_regex", "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - run: {command: x, output: [filter_regex: \"(\"]}\n", "atoll.yaml:6:50: workflows.w.plan.steps[0].run.output[0].filter_regex: invalid regular expression \"(\": missing closing ): `(`"},
		{"env missing name", "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - env: {value: x}\n", "atoll.yaml:6:14: workflows.w.plan.steps[0].env.name: required key is missing"},
		{"env value and command", "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - env: {name: A, value: x, command: y}\n", "atoll.yaml:6:34: workflows.w.plan.steps[0].env.command: set either value or command, not both"},
		{"env neither", "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - env: {name: A}\n", "atoll.yaml:6:14: workflows.w.plan.steps[0].env: needs value or command"},
		{"env shell with value", "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - env: {name: A, value: x, shell: bash}\n", "atoll.yaml:6:34: workflows.w.plan.steps[0].env.shell: only applies with command, not value"},
		{"multienv output show", "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - multienv: {command: x, output: show}\n", `atoll.yaml:6:40: workflows.w.plan.steps[0].multienv.output: Atoll never shows a multienv step's output: it is the variables' values, often secrets. Remove output, or set it to hide`},
		{"multienv output", "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - multienv: {command: x, output: strip_refreshing}\n", `atoll.yaml:6:40: workflows.w.plan.steps[0].multienv.output: "strip_refreshing" is not one of "show", "hide"`},
		{"several errors sorted", "version: 3\nprojects:\n- dir: /a\n  workspace: [x]\nfoo: 1\n", "atoll.yaml:3:8: projects[0].dir: \"/a\" must be relative to the repo root, not absolute\natoll.yaml:4:14: projects[0].workspace: must be a string\natoll.yaml:5:1: foo: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc, err := ParseRepoConfig("atoll.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("ParseRepoConfig = %+v, want error %q", rc, tt.want)
			}
			if rc != nil {
				t.Errorf("ParseRepoConfig returned a config with an error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error mismatch\n got: %s\nwant: %s", got, tt.want)
			}
			if len(Errors(err)) == 0 {
				t.Errorf("Errors(%v) found no *Error", err)
			}
		})
	}
}

func TestErrorFormatAndList(t *testing.T) {
	t.Parallel()
	e := &Error{File: "atoll.yaml", Line: 12, Col: 5, Path: "projects[1].workspace", Msg: "must be a string"}
	if got, want := e.Error(), "atoll.yaml:12:5: projects[1].workspace: must be a string"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	noPos := &Error{File: "repos.yaml", Msg: "invalid YAML: x"}
	if got, want := noPos.Error(), "repos.yaml: invalid YAML: x"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, err := ParseRepoConfig("atoll.yaml", []byte("version: 3\nfoo: 1\nbar: 2\n"))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("want an ErrorList of 2, got %#v", err)
	}
	var one *Error
	if !errors.As(err, &one) || one.Path != "foo" {
		t.Errorf("errors.As(*Error) = %+v, want the first problem (foo)", one)
	}
	if diff := cmp.Diff([]*Error{
		{File: "atoll.yaml", Line: 2, Col: 1, Path: "foo", Msg: "unknown key"},
		{File: "atoll.yaml", Line: 3, Col: 1, Path: "bar", Msg: "unknown key"},
	}, Errors(err)); diff != "" {
		t.Errorf("Errors mismatch (-want +got):\n%s", diff)
	}
}
