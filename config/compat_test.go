package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The files under testdata/ are written from Atlantis's public documentation of
// each key; these tests check that Atoll reads them unchanged with the meaning the
// documentation gives.

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func compatWorkflows() (myworkflow, terragrunt Workflow) {
	myworkflow = Workflow{Name: "myworkflow",
		Plan: []Step{
			runStep("my-custom-command arg1 arg2"),
			{Kind: "init"},
			{Kind: "plan", ExtraArgs: []string{"-lock", "false"}},
			runStep("my-custom-command arg1 arg2"),
		},
		Apply: []Step{runStep("echo hi"), {Kind: "apply"}},
	}
	terragrunt = Workflow{Name: "terragrunt",
		Plan: []Step{
			{Kind: "env", EnvName: "TERRAGRUNT_TFPATH", Run: `echo "terraform${ATLANTIS_TERRAFORM_VERSION}"`, Shell: "sh", ShellArgs: []string{"-c"}},
			{Kind: "env", EnvName: "TF_IN_AUTOMATION", EnvValue: "true"},
			{Kind: "run", Run: "terragrunt plan -input=false -out=$PLANFILE", Output: "strip_refreshing", Shell: "sh", ShellArgs: []string{"-c"}},
			runStep("terragrunt show -json $PLANFILE > $SHOWFILE"),
			{Kind: "run", Run: "conftest test $SHOWFILE *.json", Output: "strip_refreshing", Shell: "bash", ShellArgs: []string{"--verbose", "-c"}, FilterRegex: []string{`((?i)secret:\s")[^"]*`}},
			{Kind: "multienv", Run: "./envs.sh", Output: "hide", Shell: "bash", ShellArgs: []string{"-c"}},
		},
		Apply:       []Step{runStep("terragrunt apply -input=false $PLANFILE")},
		Import:      []Step{runStep(`terragrunt import -input=false $(printf '%s' $COMMENT_ARGS | sed 's/,/ /' | tr -d '\\')`)},
		StateRm:     []Step{runStep(`terragrunt state rm $(printf '%s' $COMMENT_ARGS | sed 's/,/ /' | tr -d '\\')`)},
		PolicyCheck: []Step{{Kind: "show"}, {Kind: "policy_check"}},
	}
	return myworkflow, terragrunt
}

func TestCompatAtlantisYAML(t *testing.T) {
	t.Parallel()
	got, err := ParseRepoConfig("atlantis.yaml", readTestdata(t, "atlantis.yaml"))
	if err != nil {
		t.Fatalf("ParseRepoConfig: %v", err)
	}
	my, tg := compatWorkflows()
	want := &RepoConfig{
		File: "atlantis.yaml", Version: 3, Automerge: bp(true), DeleteSourceBranchOnMerge: bp(true),
		ParallelPlan: bp(true), ParallelApply: bp(true), AbortOnExecutionOrderFail: bp(true),
		Autodiscover: &Autodiscover{Mode: "auto", IgnorePaths: []string{"some/path"}},
		Projects: []RepoProject{
			{Name: "my-project-name", Branch: "main", Dir: ".", Workspace: "default", TerraformVersion: "0.11.0",
				DeleteSourceBranchOnMerge: bp(true), RepoLocking: "on_plan", AutoplanEnabled: bp(true),
				WhenModified: []string{"*.tf", "../modules/**/*.tf"}, ApplyRequirements: []string{"mergeable", "approved"}, Workflow: "myworkflow"},
			{Name: "project1-staging", Dir: "project1", Workspace: "staging", ExecutionOrderGroup: 2, RepoLocking: "on_apply",
				PlanRequirements: []string{"undiverged"}, ImportRequirements: []string{"approved"}, SilencePRComments: []string{"apply"},
				CustomPolicyCheck: bp(false), DependsOn: []string{"project2"}},
			{Name: "project1-production", Dir: "project1", Workspace: "production", ExecutionOrderGroup: 2,
				AutoplanEnabled: bp(false), TerraformDistribution: "opentofu"},
			{Name: "project2", Dir: "project2", Workspace: "default", ExecutionOrderGroup: 1, Workflow: "terragrunt"},
		},
		Workflows:             map[string]Workflow{"myworkflow": my, "terragrunt": tg},
		AllowedRegexpPrefixes: []string{"dev/", "staging/"},
	}
	if diff := cmp.Diff(want, got, ignoreUnexported); diff != "" {
		t.Errorf("atlantis.yaml mismatch (-want +got):\n%s", diff)
	}
}

func compatCustomWorkflow() Workflow {
	return Workflow{Name: "custom",
		Plan: []Step{
			runStep("my-custom-command arg1 arg2"),
			{Kind: "init"},
			{Kind: "plan", ExtraArgs: []string{"-lock", "false"}},
			runStep("my-custom-command arg1 arg2"),
		},
		Apply: []Step{runStep("echo hi"), {Kind: "apply"}},
	}
}

func TestCompatReposYAML(t *testing.T) {
	t.Parallel()
	got, err := ParseServerConfig("repos.yaml", readTestdata(t, "repos.yaml"))
	if err != nil {
		t.Fatalf("ParseServerConfig: %v", err)
	}
	all := []string{"approved", "mergeable", "undiverged"}
	want := &ServerConfig{
		File: "repos.yaml",
		Repos: []ServerRepo{{
			ID: "/.*/", Branch: ".*", RepoConfigFile: "path/to/atlantis.yaml",
			PlanRequirements: all, ApplyRequirements: all, ImportRequirements: all, Workflow: "custom",
			AllowedOverrides: []string{"apply_requirements", "workflow", "delete_source_branch_on_merge", "repo_locking", "repo_locks", "custom_policy_check"},
			AllowedWorkflows: []string{"custom"}, AllowCustomWorkflows: bp(true), DeleteSourceBranchOnMerge: bp(true),
			RepoLocking: "on_plan", CustomPolicyCheck: bp(false), PolicyCheck: bp(false),
			PreWorkflowHooks:  []Hook{{Run: "my-pre-workflow-hook-command arg1", Shell: "sh", ShellArgs: []string{"-c"}}},
			PostWorkflowHooks: []Hook{{Run: "my-post-workflow-hook-command arg1", Shell: "sh", ShellArgs: []string{"-c"}}},
			Autodiscover:      &Autodiscover{Mode: "auto", IgnorePaths: []string{"foo/*"}},
			SilencePRComments: []string{"apply"},
		}, {
			ID: "github.com/myorg/specific-repo",
		}, {
			ID: "github.com/myorg/myrepo", RepoConfigFile: "atlantis.yaml",
			AllowedOverrides: []string{"plan_requirements", "apply_requirements", "import_requirements", "workflow", "repo_locks", "repo_locking", "delete_source_branch_on_merge", "custom_policy_check", "silence_pr_comments", "policy_check"},
			PreWorkflowHooks: []Hook{{Run: "./repo-config-generator.sh", Description: "Generating configs", Shell: "bash", ShellArgs: []string{"-cv"}, Commands: []string{"plan", "apply"}}},
		}},
		Workflows: map[string]Workflow{"custom": compatCustomWorkflow()},
		Policies: &Policies{ConftestVersion: "v0.25.0", Owners: PolicyOwners{Users: []string{"example-dev"}}, ApproveCount: 1,
			PolicySets: []PolicySet{{Name: "example-conf-tests", Path: "/home/atlantis/policy/example.rego", Source: "local", ApproveCount: 1}}},
		Warnings: []*Error{{File: "repos.yaml", Line: 53, Col: 3, Path: "policies.conftest_version",
			Msg: "has no effect: Atoll checks policies in-process with OPA, not with a conftest binary"}},
	}
	if diff := cmp.Diff(want, got, ignoreUnexported); diff != "" {
		t.Errorf("repos.yaml mismatch (-want +got):\n%s", diff)
	}
}

func TestCompatResolve(t *testing.T) {
	t.Parallel()
	sc, err := ParseServerConfig("repos.yaml", readTestdata(t, "repos.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ParseRepoConfig("atlantis.yaml", readTestdata(t, "atlantis.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := sc.Resolve("github.com/myorg/myrepo", "main", rc)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	all := []string{"approved", "mergeable", "undiverged"}
	my, tg := compatWorkflows()
	base := Project{
		Workspace: "default", Workflow: fillStages(compatCustomWorkflow()), AutoplanEnabled: true,
		WhenModified: DefaultWhenModified, PlanRequirements: all, ApplyRequirements: all, ImportRequirements: all,
		RepoLocking: "on_plan", SilencePRComments: []string{"apply"}, DeleteSourceBranchOnMerge: true,
	}
	p0 := base
	p0.Name, p0.Dir, p0.Branch, p0.Configured = "my-project-name", ".", "main", true
	p0.TerraformVersion = "0.11.0"
	p0.WhenModified = []string{"*.tf", "../modules/**/*.tf"}
	p0.ApplyRequirements = []string{"mergeable", "approved"}
	p0.Workflow = fillStages(my)
	p1 := base
	p1.Name, p1.Dir, p1.Workspace, p1.Configured = "project1-staging", "project1", "staging", true
	p1.ExecutionOrderGroup = 2
	p1.RepoLocking = "on_apply"
	p1.PlanRequirements = []string{"undiverged"}
	p1.ImportRequirements = []string{"approved"}
	p1.DependsOn = []string{"project2"}
	p2 := base
	p2.Name, p2.Dir, p2.Workspace, p2.Configured = "project1-production", "project1", "production", true
	p2.ExecutionOrderGroup = 2
	p2.AutoplanEnabled = false
	p2.TerraformDistribution = "opentofu"
	p3 := base
	p3.Name, p3.Dir, p3.Configured = "project2", "project2", true
	p3.ExecutionOrderGroup = 1
	p3.Workflow = fillStages(tg)
	want := &Resolved{
		RepoID: "github.com/myorg/myrepo", BaseBranch: "main", RepoConfigFile: "atlantis.yaml", ConfigFile: "atlantis.yaml",
		Automerge: true, DeleteSourceBranchOnMerge: true, ParallelPlan: true, ParallelApply: true, AbortOnExecutionOrderFail: true,
		// The server's autodiscover overrides the repo's whole setting.
		Autodiscover:          Autodiscover{Mode: "auto", IgnorePaths: []string{"foo/*"}},
		AutoplanModules:       true,
		LockQueue:             true,
		PreWorkflowHooks:      []Hook{{Run: "./repo-config-generator.sh", Description: "Generating configs", Shell: "bash", ShellArgs: []string{"-cv"}, Commands: []string{"plan", "apply"}}},
		PostWorkflowHooks:     []Hook{{Run: "my-post-workflow-hook-command arg1", Shell: "sh", ShellArgs: []string{"-c"}}},
		AllowedRegexpPrefixes: []string{"dev/", "staging/"},
		Policies:              sc.Policies,
		ConfiguredProjects:    []Project{p0, p1, p2, p3},
		Defaults:              base,
	}
	if diff := cmp.Diff(want, got, cmpResolved...); diff != "" {
		t.Errorf("Resolve mismatch (-want +got):\n%s", diff)
	}

	// On another branch the project with branch: /main/ drops out.
	dev, err := sc.Resolve("github.com/myorg/myrepo", "develop", rc)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(dev.ConfiguredProjects); n != 3 {
		t.Errorf("develop: %d projects, want 3", n)
	}

	// For a repo that only gets the first entry, the keys it does not allow are refused.
	_, err = sc.Resolve("github.com/myorg/specific-repo", "main", rc)
	want2 := "atlantis.yaml:35:3: projects[1].plan_requirements: the server does not allow repos to override plan_requirements (an admin can add it to allowed_overrides in repos.yaml)\n" +
		"atlantis.yaml:36:3: projects[1].import_requirements: the server does not allow repos to override import_requirements (an admin can add it to allowed_overrides in repos.yaml)\n" +
		"atlantis.yaml:37:3: projects[1].silence_pr_comments: the server does not allow repos to override silence_pr_comments (an admin can add it to allowed_overrides in repos.yaml)"
	if err == nil || err.Error() != want2 {
		t.Errorf("specific-repo: error = %v\nwant %s", err, want2)
	}
}

// TestCompatRefused: what Atlantis's documentation shows but Atoll does not
// do is refused where it is written, with what to do instead, never ignored.
func TestCompatRefused(t *testing.T) {
	t.Parallel()
	_, err := ParseRepoConfig("atlantis.yaml", []byte(`version: 3
projects:
- dir: project1
  custom_policy_check: true
workflows:
  custom:
    policy_check:
      steps:
      - show
      - run: cnspec scan terraform plan $SHOWFILE --policy-bundle example-cnspec-policies.mql.yaml
      - policy_check:
          extra_args: ["-p /home/atlantis/conftest_policies/", "--all-namespaces"]
`))
	var got []string
	for _, e := range Errors(err) {
		got = append(got, fmt.Sprintf("%d:%d %s", e.Line, e.Col, e.Path))
	}
	want := []string{"4:24 projects[0].custom_policy_check", "10:9 workflows.custom.policy_check.steps[1]", "11:9 workflows.custom.policy_check.steps[2]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("refusals (-want +got):\n%s\nerror: %v", diff, err)
	}
	for _, sub := range []string{"true is not supported yet", "may have only the show and policy_check steps", "policy_check takes no extra_args"} {
		if err == nil || !strings.Contains(err.Error(), sub) {
			t.Errorf("error lacks %q: %v", sub, err)
		}
	}
}
