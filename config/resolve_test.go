package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func mustServer(t *testing.T, y string) *ServerConfig {
	t.Helper()
	sc, err := ParseServerConfig("repos.yaml", []byte(y))
	if err != nil {
		t.Fatalf("ParseServerConfig: %v", err)
	}
	return sc
}

func mustRepo(t *testing.T, y string) *RepoConfig {
	t.Helper()
	rc, err := ParseRepoConfig("atoll.yaml", []byte(y))
	if err != nil {
		t.Fatalf("ParseRepoConfig: %v", err)
	}
	return rc
}

// defaultProject is a resolved project under the default server config.
func defaultProject(dir string) Project {
	return Project{
		Dir: dir, Workspace: "default", Workflow: DefaultWorkflow(), AutoplanEnabled: true,
		WhenModified: DefaultWhenModified, PlanRequirements: []string{}, ApplyRequirements: []string{},
		ImportRequirements: []string{}, RepoLocking: "on_plan",
	}
}

var cmpResolved = []cmp.Option{ignoreUnexported, cmpopts.IgnoreUnexported(Resolved{}), cmpopts.EquateEmpty()}

func TestResolveWithoutRepoConfig(t *testing.T) {
	t.Parallel()
	got, err := DefaultServerConfig().Resolve("github.com/acme/infra", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Resolved{
		RepoID: "github.com/acme/infra", BaseBranch: "main", AutoplanModules: true, LockQueue: true,
		Autodiscover: Autodiscover{Mode: "auto"}, Defaults: defaultProject(""),
	}
	if diff := cmp.Diff(want, got, cmpResolved...); diff != "" {
		t.Errorf("Resolve mismatch (-want +got):\n%s", diff)
	}
}

func TestResolveLaterEntriesOverride(t *testing.T) {
	t.Parallel()
	// The example from Atlantis's server-side docs: the second entry clears
	// apply_requirements; allow_custom_workflows from the first stays.
	sc := mustServer(t, `repos:
- id: /.*/
  allow_custom_workflows: true
  apply_requirements: [approved]
  repo_locks: {mode: on_apply}
  pre_workflow_hooks: [{run: first}]
  team_allowlist: "*:plan"
- id: github.com/owner/repo
  apply_requirements: []
  repo_config_file: deploy/atoll.yaml
  post_workflow_hooks: [{run: last}]
- id: /other/
  apply_requirements: [mergeable]
- id: /.*/
  branch: /^release/
  plan_requirements: [undiverged]
`)
	got, err := sc.Resolve("github.com/owner/repo", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantDefaults := defaultProject("")
	wantDefaults.RepoLocking = "on_apply"
	want := &Resolved{
		RepoID: "github.com/owner/repo", BaseBranch: "main", RepoConfigFile: "deploy/atoll.yaml",
		AutoplanModules: true, LockQueue: true, Autodiscover: Autodiscover{Mode: "auto"},
		PreWorkflowHooks:  []Hook{{Run: "first", Shell: "sh", ShellArgs: []string{"-c"}}},
		PostWorkflowHooks: []Hook{{Run: "last", Shell: "sh", ShellArgs: []string{"-c"}}},
		TeamAllowlist:     mustAllowlist(t, "*:plan"),
		Defaults:          wantDefaults,
	}
	opts := append(cmpResolved, cmp.Comparer(func(a, b *TeamAllowlist) bool { return a.String() == b.String() }))
	if diff := cmp.Diff(want, got, opts...); diff != "" {
		t.Errorf("Resolve mismatch (-want +got):\n%s", diff)
	}
	if got := sc.RepoConfigFile("github.com/owner/repo", "main"); got != "deploy/atoll.yaml" {
		t.Errorf("RepoConfigFile = %q", got)
	}
	rel, err := sc.Resolve("github.com/owner/repo", "release-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"undiverged"}, rel.Defaults.PlanRequirements); diff != "" {
		t.Errorf("branch entry: plan requirements (-want +got):\n%s", diff)
	}
}

func TestResolveProjects(t *testing.T) {
	t.Parallel()
	sc := mustServer(t, `repos:
- id: /.*/
  apply_requirements: [approved]
  allowed_overrides: [workflow, apply_requirements, repo_locks, silence_pr_comments, delete_source_branch_on_merge, policy_check, custom_policy_check, plan_requirements, import_requirements]
  allow_custom_workflows: true
  policy_check: true
workflows:
  server:
    apply:
      steps: [{run: echo server}, apply]
`)
	rc := mustRepo(t, `version: 3
automerge: true
parallel_plan: true
parallel_apply: true
abort_on_execution_order_fail: true
delete_source_branch_on_merge: true
allowed_regexp_prefixes: [dev/]
autodiscover: {mode: enabled, ignore_paths: [tmp/**]}
projects:
- name: a
  dir: a
  workflow: mine
  apply_requirements: []
  repo_locks: {mode: disabled}
  silence_pr_comments: [plan]
  autoplan: {enabled: false, when_modified: ["*.tf"]}
  terraform_version: 1.5.7
  execution_order_group: 1
- name: b
  dir: b
  workflow: server
  depends_on: [a]
  policy_check: false
  custom_policy_check: false
  delete_source_branch_on_merge: false
- dir: c
  branch: /^release$/
workflows:
  mine:
    plan:
      steps: [{run: echo mine}]
`)
	got, err := sc.Resolve("github.com/acme/infra", "main", rc)
	if err != nil {
		t.Fatal(err)
	}
	base := defaultProject("")
	base.ApplyRequirements = []string{"approved"}
	base.PolicyCheck = true
	base.DeleteSourceBranchOnMerge = true
	def := DefaultWorkflow()
	a := base
	a.Name, a.Dir, a.Configured = "a", "a", true
	a.Workflow = Workflow{Name: "mine", Plan: []Step{runStep("echo mine")}, Apply: def.Apply, Import: def.Import, PolicyCheck: def.PolicyCheck, StateRm: def.StateRm}
	a.ApplyRequirements = []string{}
	a.RepoLocking = "disabled"
	a.SilencePRComments = []string{"plan"}
	a.AutoplanEnabled = false
	a.WhenModified = []string{"*.tf"}
	a.TerraformVersion = "1.5.7"
	a.ExecutionOrderGroup = 1
	b := base
	b.Name, b.Dir, b.Configured = "b", "b", true
	b.Workflow = Workflow{Name: "server", Plan: def.Plan, Apply: []Step{runStep("echo server"), {Kind: "apply"}}, Import: def.Import, PolicyCheck: def.PolicyCheck, StateRm: def.StateRm}
	b.DependsOn = []string{"a"}
	b.PolicyCheck = false
	b.DeleteSourceBranchOnMerge = false
	want := &Resolved{
		RepoID: "github.com/acme/infra", BaseBranch: "main", ConfigFile: "atoll.yaml",
		Automerge: true, ParallelPlan: true, ParallelApply: true, AbortOnExecutionOrderFail: true,
		DeleteSourceBranchOnMerge: true, AllowedRegexpPrefixes: []string{"dev/"},
		Autodiscover:    Autodiscover{Mode: "enabled", IgnorePaths: []string{"tmp/**"}},
		AutoplanModules: true, LockQueue: true, Defaults: base,
		ConfiguredProjects: []Project{a, b},
	}
	if diff := cmp.Diff(want, got, cmpResolved...); diff != "" {
		t.Errorf("Resolve mismatch (-want +got):\n%s", diff)
	}
	// On a release branch project c (branch: /^release$/) is included.
	rel, err := sc.Resolve("github.com/acme/infra", "release", rc)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rel.ConfiguredProjects); n != 3 || rel.ConfiguredProjects[2].Dir != "c" {
		t.Errorf("release branch: got %d projects, want a, b and c", n)
	}
}

func TestResolveServerAutodiscoverWins(t *testing.T) {
	t.Parallel()
	sc := mustServer(t, "repos:\n- id: /.*/\n  autodiscover: {mode: disabled}\n")
	rc := mustRepo(t, "version: 3\nautodiscover: {mode: enabled}\n")
	got, err := sc.Resolve("github.com/a/b", "main", rc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Autodiscover.Mode != "disabled" {
		t.Errorf("Autodiscover.Mode = %q, want the server's disabled", got.Autodiscover.Mode)
	}
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		server string
		repo   string
		want   string
	}{
		{"apply_requirements not allowed", "", "version: 3\nprojects:\n- dir: a\n  apply_requirements: []\n",
			"atoll.yaml:4:3: projects[0].apply_requirements: the server does not allow repos to override apply_requirements (an admin can add it to allowed_overrides in repos.yaml)"},
		{"plan_requirements not allowed", "", "version: 3\nprojects:\n- dir: a\n  plan_requirements: [approved]\n",
			"atoll.yaml:4:3: projects[0].plan_requirements: the server does not allow repos to override plan_requirements (an admin can add it to allowed_overrides in repos.yaml)"},
		{"import_requirements not allowed", "", "version: 3\nprojects:\n- dir: a\n  import_requirements: [approved]\n",
			"atoll.yaml:4:3: projects[0].import_requirements: the server does not allow repos to override import_requirements (an admin can add it to allowed_overrides in repos.yaml)"},
		{"workflow not allowed", "", "version: 3\nprojects:\n- dir: a\n  workflow: default\n",
			"atoll.yaml:4:3: projects[0].workflow: the server does not allow repos to override workflow (an admin can add it to allowed_overrides in repos.yaml)"},
		{"repo_locking not allowed", "", "version: 3\nprojects:\n- dir: a\n  repo_locking: false\n",
			"atoll.yaml:4:3: projects[0].repo_locking: the server does not allow repos to override repo_locking (an admin can add it to allowed_overrides in repos.yaml)"},
		{"repo_locks not allowed", "", "version: 3\nprojects:\n- dir: a\n  repo_locks: {mode: on_apply}\n",
			"atoll.yaml:4:3: projects[0].repo_locks: the server does not allow repos to override repo_locks (an admin can add it to allowed_overrides in repos.yaml)"},
		{"delete_source_branch_on_merge not allowed", "", "version: 3\nprojects:\n- dir: a\n  delete_source_branch_on_merge: true\n",
			"atoll.yaml:4:3: projects[0].delete_source_branch_on_merge: the server does not allow repos to override delete_source_branch_on_merge (an admin can add it to allowed_overrides in repos.yaml)"},
		{"policy_check not allowed", "", "version: 3\nprojects:\n- dir: a\n  policy_check: true\n",
			"atoll.yaml:4:3: projects[0].policy_check: the server does not allow repos to override policy_check (an admin can add it to allowed_overrides in repos.yaml)"},
		{"custom_policy_check not allowed", "", "version: 3\nprojects:\n- dir: a\n  custom_policy_check: false\n",
			"atoll.yaml:4:3: projects[0].custom_policy_check: the server does not allow repos to override custom_policy_check (an admin can add it to allowed_overrides in repos.yaml)"},
		{"silence_pr_comments not allowed", "", "version: 3\nprojects:\n- dir: a\n  silence_pr_comments: [plan]\n",
			"atoll.yaml:4:3: projects[0].silence_pr_comments: the server does not allow repos to override silence_pr_comments (an admin can add it to allowed_overrides in repos.yaml)"},
		{"custom workflows not allowed", "repos:\n- id: /.*/\n  allowed_overrides: [workflow]\n", "version: 3\nprojects:\n- dir: a\n  workflow: mine\nworkflows:\n  mine: {}\n",
			"atoll.yaml:5:1: workflows: the server does not allow this repo to define its own workflows (an admin can set allow_custom_workflows: true for it in repos.yaml)"},
		{"workflow undefined", "repos:\n- id: /.*/\n  allowed_overrides: [workflow]\nworkflows:\n  server: {}\n", "version: 3\nprojects:\n- dir: a\n  workflow: mystery\n",
			`atoll.yaml:4:3: projects[0].workflow: workflow "mystery" is not defined (defined: default, server)`},
		{"workflow not in allowed_workflows", "repos:\n- id: /.*/\n  allowed_overrides: [workflow]\n  allowed_workflows: [a]\nworkflows:\n  a: {}\n  b: {}\n", "version: 3\nprojects:\n- dir: a\n  workflow: b\n",
			`atoll.yaml:4:3: projects[0].workflow: the server does not allow workflow "b" for this repo (allowed: a; an admin can add it to allowed_workflows in repos.yaml)`},
		{"only matching entries grant", "repos:\n- id: github.com/other/repo\n  allowed_overrides: [apply_requirements]\n", "version: 3\nprojects:\n- dir: a\n  apply_requirements: []\n",
			"atoll.yaml:4:3: projects[0].apply_requirements: the server does not allow repos to override apply_requirements (an admin can add it to allowed_overrides in repos.yaml)"},
		{"all problems reported", "", "version: 3\nprojects:\n- dir: a\n  workflow: x\n- dir: b\n  apply_requirements: []\n",
			"atoll.yaml:4:3: projects[0].workflow: the server does not allow repos to override workflow (an admin can add it to allowed_overrides in repos.yaml)\natoll.yaml:6:3: projects[1].apply_requirements: the server does not allow repos to override apply_requirements (an admin can add it to allowed_overrides in repos.yaml)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sc := DefaultServerConfig()
			if tt.server != "" {
				sc = mustServer(t, tt.server)
			}
			r, err := sc.Resolve("github.com/acme/infra", "main", mustRepo(t, tt.repo))
			if err == nil {
				t.Fatalf("Resolve = %+v, want error", r)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error mismatch\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestResolveAllowedRepoLockingSynonyms(t *testing.T) {
	t.Parallel()
	sc := mustServer(t, "repos:\n- id: /.*/\n  allowed_overrides: [repo_locking]\n")
	r, err := sc.Resolve("github.com/a/b", "", mustRepo(t, "version: 3\nprojects:\n- dir: a\n  repo_locks: {mode: on_apply}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.ConfiguredProjects[0].RepoLocking; got != "on_apply" {
		t.Errorf("RepoLocking = %q, want on_apply", got)
	}
}
