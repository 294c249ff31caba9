package config

import (
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustAllowlist(t *testing.T, s string) *TeamAllowlist {
	t.Helper()
	a, err := ParseTeamAllowlist(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseServerConfigKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want func(t *testing.T) *ServerConfig
	}{
		{"empty file is the default", "", func(*testing.T) *ServerConfig { return &ServerConfig{} }},
		{"repo with every key", `repos:
- id: /.*/
  branch: /main/
  repo_config_file: infra/atlantis.yaml
  plan_requirements: [approved]
  apply_requirements: [approved, mergeable, undiverged]
  import_requirements: []
  workflow: custom
  allowed_overrides: [apply_requirements, workflow, delete_source_branch_on_merge, repo_locking, repo_locks, custom_policy_check, plan_requirements, import_requirements, policy_check, silence_pr_comments]
  allowed_workflows: [custom]
  allow_custom_workflows: true
  delete_source_branch_on_merge: true
  repo_locks:
    mode: on_apply
  policy_check: true
  custom_policy_check: false
  autodiscover:
    mode: disabled
    ignore_paths: [sandbox/**]
  silence_pr_comments: [apply]
  pre_workflow_hooks:
  - run: ./gen.sh
    description: Generate config
    shell: bash
    shellArgs: -cv
    commands: plan, apply
  post_workflow_hooks:
  - run: echo done
  team_allowlist: "platform:*, *:plan, @alice:apply"
  autoplan_modules: false
- id: github.com/acme/infra
  repo_locking: false
workflows:
  custom:
    plan:
      steps: [init, plan]
`, func(t *testing.T) *ServerConfig {
			return &ServerConfig{
				Repos: []ServerRepo{{
					ID: "/.*/", Branch: "main", RepoConfigFile: "infra/atlantis.yaml",
					PlanRequirements: []string{"approved"}, ApplyRequirements: []string{"approved", "mergeable", "undiverged"},
					ImportRequirements: []string{}, Workflow: "custom",
					AllowedOverrides: []string{"apply_requirements", "workflow", "delete_source_branch_on_merge", "repo_locking", "repo_locks", "custom_policy_check", "plan_requirements", "import_requirements", "policy_check", "silence_pr_comments"},
					AllowedWorkflows: []string{"custom"}, AllowCustomWorkflows: bp(true), DeleteSourceBranchOnMerge: bp(true),
					RepoLocking: "on_apply", PolicyCheck: bp(true), CustomPolicyCheck: bp(false),
					Autodiscover:      &Autodiscover{Mode: "disabled", IgnorePaths: []string{"sandbox/**"}},
					SilencePRComments: []string{"apply"},
					PreWorkflowHooks:  []Hook{{Run: "./gen.sh", Description: "Generate config", Shell: "bash", ShellArgs: []string{"-cv"}, Commands: []string{"plan", "apply"}}},
					PostWorkflowHooks: []Hook{{Run: "echo done", Shell: "sh", ShellArgs: []string{"-c"}}},
					TeamAllowlist:     mustAllowlist(t, "platform:*,*:plan,@alice:apply"),
					AutoplanModules:   bp(false),
				}, {ID: "github.com/acme/infra", RepoLocking: "disabled"}},
				Workflows: map[string]Workflow{"custom": {Name: "custom", Plan: []Step{{Kind: "init"}, {Kind: "plan"}}}},
			}
		}},
		{"team_allowlist as a list", "repos:\n- id: /.*/\n  team_allowlist: [\"platform:apply\", \"*:plan\"]\n", func(t *testing.T) *ServerConfig {
			return &ServerConfig{Repos: []ServerRepo{{ID: "/.*/", TeamAllowlist: mustAllowlist(t, "platform:apply,*:plan")}}}
		}},
		{"hook commands as a list", "repos:\n- id: /.*/\n  pre_workflow_hooks:\n  - {run: x, commands: [plan]}\n", func(*testing.T) *ServerConfig {
			return &ServerConfig{Repos: []ServerRepo{{ID: "/.*/", PreWorkflowHooks: []Hook{{Run: "x", Shell: "sh", ShellArgs: []string{"-c"}, Commands: []string{"plan"}}}}}}
		}},
		{"policies, metrics and team_authz", `policies:
  conftest_version: v0.46.0
  owners:
    users: [alice]
    teams: [security]
  approve_count: 2
  sticky_policy_approvals: true
  policy_item_regex: '(?m)^\S+'
  policy_sets:
  - name: base
    path: /policies/base
    source: local
  - name: strict
    path: /policies/strict
    source: local
    approve_count: 3
    prevent_self_approve: true
    sticky_policy_approvals: false
    owners: {teams: [sre]}
  - name: items
    path: /policies/items
    source: local
    policy_item_regex: /resource \S+/
metrics:
  prometheus: {endpoint: /metrics}
`, func(*testing.T) *ServerConfig {
			return &ServerConfig{
				Policies: &Policies{ConftestVersion: "v0.46.0", Owners: PolicyOwners{Users: []string{"alice"}, Teams: []string{"security"}}, ApproveCount: 2,
					StickyPolicyApprovals: true, PolicyItemRegex: `(?m)^\S+`,
					PolicySets: []PolicySet{
						{Name: "base", Path: "/policies/base", Source: "local", ApproveCount: 2, StickyPolicyApprovals: true, PolicyItemRegex: `(?m)^\S+`},
						{Name: "strict", Path: "/policies/strict", Source: "local", ApproveCount: 3, PreventSelfApprove: true, Owners: PolicyOwners{Teams: []string{"sre"}},
							PolicyItemRegex: `(?m)^\S+`},
						{Name: "items", Path: "/policies/items", Source: "local", ApproveCount: 2, StickyPolicyApprovals: true, PolicyItemRegex: `resource \S+`},
					}},
				Metrics: &Metrics{PrometheusEndpoint: "/metrics"},
				Warnings: []*Error{{File: "repos.yaml", Line: 2, Col: 3, Path: "policies.conftest_version",
					Msg: "has no effect: Atoll checks policies in-process with OPA, not with a conftest binary"}},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseServerConfig("repos.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("ParseServerConfig: %v", err)
			}
			want := tt.want(t)
			want.File = "repos.yaml"
			if diff := cmp.Diff(want, got, ignoreUnexported, cmp.Comparer(func(a, b *TeamAllowlist) bool { return a.String() == b.String() })); diff != "" {
				t.Errorf("ParseServerConfig mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseServerConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"syntax", "repos: [\n", "repos.yaml:1: invalid YAML: did not find expected node content"},
		{"unknown top-level key", "repo:\n- id: x\n", `repos.yaml:1:1: repo: unknown key (did you mean "repos"?)`},
		{"repos not list", "repos: {id: x}\n", "repos.yaml:1:8: repos: must be a list of repos"},
		{"id missing", "repos:\n- branch: main\n", "repos.yaml:2:3: repos[0].id: required key is missing: use an exact ID such as github.com/acme/infra or a /regex/"},
		{"id bad regex", "repos:\n- id: /acme/(.*/\n", "repos.yaml:2:7: repos[0].id: invalid regular expression \"/acme/(.*/\": missing closing ): `acme/(.*`"},
		{"id half regex", "repos:\n- id: /acme/infra\n", `repos.yaml:2:7: repos[0].id: "/acme/infra": a regex must start and end with /, an exact ID has neither`},
		{"branch bad regex", "repos:\n- id: /.*/\n  branch: /[/\n", "repos.yaml:3:11: repos[0].branch: invalid regular expression \"/[/\": missing closing ]: `[`"},
		{"repo unknown key", "repos:\n- id: /.*/\n  allowed_override: [workflow]\n", `repos.yaml:3:3: repos[0].allowed_override: unknown key (did you mean "allowed_overrides"?)`},
		{"repo_config_file outside", "repos:\n- id: /.*/\n  repo_config_file: ../x.yaml\n", `repos.yaml:3:21: repos[0].repo_config_file: "../x.yaml" must stay inside the repo: it may not contain ..`},
		{"apply_requirements", "repos:\n- id: /.*/\n  apply_requirements: [approved, reviewed]\n", `repos.yaml:3:34: repos[0].apply_requirements[1]: "reviewed" is not one of "approved", "mergeable", "undiverged", "policies_passed"`},
		{"plan_requirements", "repos:\n- id: /.*/\n  plan_requirements: approved\n", "repos.yaml:3:22: repos[0].plan_requirements: must be a list of strings"},
		{"import_requirements", "repos:\n- id: /.*/\n  import_requirements: [undivergd]\n", `repos.yaml:3:25: repos[0].import_requirements[0]: "undivergd" is not one of "approved", "mergeable", "undiverged", "policies_passed" (did you mean "undiverged"?)`},
		{"allowed_overrides", "repos:\n- id: /.*/\n  allowed_overrides: [workflows]\n", `repos.yaml:3:23: repos[0].allowed_overrides[0]: "workflows" is not one of "plan_requirements", "apply_requirements", "import_requirements", "workflow", "delete_source_branch_on_merge", "repo_locking", "repo_locks", "policy_check", "custom_policy_check", "silence_pr_comments", "apply_on_merge" (did you mean "workflow"?)`},
		{"workflow undefined", "repos:\n- id: /.*/\n  workflow: custom\n", `repos.yaml:3:13: repos[0].workflow: workflow "custom" is not defined in workflows (defined: default)`},
		{"allowed_workflows undefined", "repos:\n- id: /.*/\n  allowed_workflows: [a, b]\nworkflows:\n  a: {}\n", `repos.yaml:3:26: repos[0].allowed_workflows[1]: workflow "b" is not defined in workflows (defined: default, a)`},
		{"allow_custom_workflows", "repos:\n- id: /.*/\n  allow_custom_workflows: please\n", "repos.yaml:3:27: repos[0].allow_custom_workflows: must be true or false"},
		{"delete_source_branch_on_merge", "repos:\n- id: /.*/\n  delete_source_branch_on_merge: []\n", "repos.yaml:3:34: repos[0].delete_source_branch_on_merge: must be true or false"},
		{"repo_locking", "repos:\n- id: /.*/\n  repo_locks: {mode: never}\n", `repos.yaml:3:22: repos[0].repo_locks.mode: "never" is not one of "disabled", "on_plan", "on_apply"`},
		{"policy_check", "repos:\n- id: /.*/\n  policy_check: 2\n", "repos.yaml:3:17: repos[0].policy_check: must be true or false"},
		{"autodiscover", "repos:\n- id: /.*/\n  autodiscover: {mode: always}\n", `repos.yaml:3:24: repos[0].autodiscover.mode: "always" is not one of "auto", "enabled", "disabled"`},
		{"silence_pr_comments", "repos:\n- id: /.*/\n  silence_pr_comments: [plans]\n", `repos.yaml:3:25: repos[0].silence_pr_comments[0]: "plans" is not one of "plan", "apply" (did you mean "plan"?)`},
		{"hook missing run", "repos:\n- id: /.*/\n  pre_workflow_hooks:\n  - description: x\n", "repos.yaml:4:5: repos[0].pre_workflow_hooks[0].run: required key is missing"},
		{"hook unknown key", "repos:\n- id: /.*/\n  post_workflow_hooks:\n  - {run: x, shel: bash}\n", `repos.yaml:4:14: repos[0].post_workflow_hooks[0].shel: unknown key (did you mean "shell"?)`},
		{"hooks not list", "repos:\n- id: /.*/\n  pre_workflow_hooks: {run: x}\n", "repos.yaml:3:23: repos[0].pre_workflow_hooks: must be a list of hooks (- run: <command>)"},
		{"hook commands", "repos:\n- id: /.*/\n  pre_workflow_hooks:\n  - {run: x, commands: \"plan, aply\"}\n", `repos.yaml:4:24: repos[0].pre_workflow_hooks[0].commands: "aply" is not a command; use "plan", "apply", "unlock", "import", "state", "approve_policies", "policy_check", "version" (did you mean "apply"?)`},
		{"hook command without a checkout", "repos:\n- id: /.*/\n  post_workflow_hooks:\n  - {run: x, commands: [plan, version]}\n", `repos.yaml:4:24: repos[0].post_workflow_hooks[0].commands: "version": Atoll runs workflow hooks only for "plan", "apply", "import", "state", which check out the repository, so this hook would never run for version`},
		{"team_allowlist", "repos:\n- id: /.*/\n  team_allowlist: \"platform\"\n", `repos.yaml:3:19: repos[0].team_allowlist: team allowlist entry "platform" must be team:command, for example platform:apply or *:plan`},
		{"autoplan_modules", "repos:\n- id: /.*/\n  autoplan_modules: no way\n", "repos.yaml:3:21: repos[0].autoplan_modules: must be true or false"},
		{"workflow step", "workflows:\n  w:\n    apply:\n      steps: [aply]\n", `repos.yaml:4:15: workflows.w.apply.steps[0]: unknown step "aply": use one of "init", "plan", "apply", "show", "policy_check", "import", "state_rm", or run, env, multienv (did you mean "apply"?)`},
		{"policies missing sets", "policies:\n  approve_count: 1\n", "repos.yaml:2:3: policies.policy_sets: required key is missing"},
		{"policy set source", "policies:\n  policy_sets:\n  - {name: a, path: p, source: github}\n", `repos.yaml:3:32: policies.policy_sets[0].source: "github" is not supported; use local`},
		{"metrics unknown", "metrics:\n  datadog: {}\n", "repos.yaml:2:3: metrics.datadog: unknown key"},
		{"team_authz command", "team_authz:\n  args: [x]\n", "repos.yaml:2:3: team_authz: not supported yet: Atoll does not run an external authorization command. Limit who may run which command with team_allowlist on the repos entry (\"ops:apply, *:plan\") or the server's --gh-team-allowlist and --command-permission\nrepos.yaml:2:3: team_authz.command: required key is missing"},
		{"team_authz", "team_authz:\n  command: /usr/local/bin/authz\n", "repos.yaml:2:3: team_authz: not supported yet: Atoll does not run an external authorization command. Limit who may run which command with team_allowlist on the repos entry (\"ops:apply, *:plan\") or the server's --gh-team-allowlist and --command-permission"},
		{"metrics statsd", "metrics:\n  statsd: {host: 127.0.0.1, port: \"8125\"}\n", "repos.yaml:2:3: metrics.statsd: Atoll does not send statsd metrics: it serves Prometheus metrics at /metrics. Remove metrics.statsd and scrape /metrics (a statsd exporter can convert them if you need statsd)"},
		{"metrics prometheus endpoint", "metrics:\n  prometheus: {endpoint: /prom}\n", `repos.yaml:2:26: metrics.prometheus.endpoint: "/prom": Atoll serves Prometheus metrics at /metrics only; set it to /metrics or remove it`},
		{"approve_count", "policies:\n  approve_count: 0\n  policy_sets:\n  - {name: a, path: p, source: local}\n", "repos.yaml:2:18: policies.approve_count: must be at least 1 (the number of policy owners who must approve a failing policy set)"},
		{"set approve_count", "policies:\n  policy_sets:\n  - {name: a, path: p, source: local, approve_count: -1}\n", "repos.yaml:3:54: policies.policy_sets[0].approve_count: must be at least 1 (the number of policy owners who must approve a failing policy set)"},
		{"policy_item_regex", "policies:\n  policy_sets:\n  - {name: a, path: p, source: local, policy_item_regex: \"(\"}\n", "repos.yaml:3:58: policies.policy_sets[0].policy_item_regex: invalid regular expression \"(\": missing closing ): `(`"},
		{"custom_policy_check", "repos:\n- id: /.*/\n  custom_policy_check: true\n", "repos.yaml:3:24: repos[0].custom_policy_check: true is not supported yet: Atoll checks policies only with its built-in OPA check of repos.yaml's policy sets. To run another policy tool, add `- show` and `- run: <tool> $SHOWFILE` after `- plan` in the workflow's plan stage, where a failing command fails the plan"},
		{"policy_check stage run step", "workflows:\n  w:\n    policy_check:\n      steps: [show, {run: conftest test $SHOWFILE}]\n", "repos.yaml:4:21: workflows.w.policy_check.steps[1]: a policy_check stage may have only the show and policy_check steps: Atoll does not run custom policy steps yet. To run another policy tool, add `- show` and `- run: <tool> $SHOWFILE` after `- plan` in the plan stage, where a failing command fails the plan"},
		{"policy_check extra_args", "workflows:\n  w:\n    policy_check:\n      steps:\n      - show\n      - policy_check: {extra_args: [--all-namespaces]}\n", "repos.yaml:6:9: workflows.w.policy_check.steps[1]: policy_check takes no extra_args: Atoll checks policies in-process with OPA, not with conftest, against the policy sets in the server's repos.yaml (all their packages, as with --all-namespaces)"},
		{"policy_check step in plan", "workflows:\n  w:\n    plan:\n      steps: [init, plan, policy_check]\n", "repos.yaml:4:27: workflows.w.plan.steps[2]: the policy_check step belongs in the workflow's policy_check stage; Atoll checks policies after every plan when policy checks are on"},
		{"version step", "workflows:\n  w:\n    plan:\n      steps: [version, init, plan]\n", "repos.yaml:4:15: workflows.w.plan.steps[0]: the version step is not supported yet; use `- run: terraform version` if you need the version in the output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sc, err := ParseServerConfig("repos.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("ParseServerConfig = %+v, want error %q", sc, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error mismatch\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestServerRepoMatches(t *testing.T) {
	t.Parallel()
	sc, err := ParseServerConfig("repos.yaml", []byte("repos:\n- id: /github\\.com/acme/.*/\n  branch: /^main$/\n- id: github.com/acme/infra\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		entry        int
		repo, branch string
		want         bool
	}{
		{0, "github.com/acme/infra", "main", true},
		{0, "github.com/acme/infra", "dev", false},
		{0, "github.com/acme/infra", "", true},
		{0, "github.com/other/infra", "main", false},
		{1, "github.com/acme/infra", "anything", true},
		{1, "github.com/acme/infra2", "main", false},
	}
	for _, tt := range tests {
		if got := sc.Repos[tt.entry].Matches(tt.repo, tt.branch); got != tt.want {
			t.Errorf("repos[%d].Matches(%q, %q) = %v, want %v", tt.entry, tt.repo, tt.branch, got, tt.want)
		}
	}
}

func TestDefaultServerConfig(t *testing.T) {
	t.Parallel()
	want := &ServerConfig{Repos: []ServerRepo{{
		ID: "/.*/", PlanRequirements: []string{}, ApplyRequirements: []string{}, ImportRequirements: []string{},
		Workflow: "default", AllowedOverrides: []string{}, AllowCustomWorkflows: bp(false), RepoLocking: "on_plan",
		idRe: regexp.MustCompile(".*"),
	}}}
	if diff := cmp.Diff(want, DefaultServerConfig(), ignoreUnexported); diff != "" {
		t.Errorf("DefaultServerConfig mismatch (-want +got):\n%s", diff)
	}
	if !DefaultServerConfig().Repos[0].Matches("github.com/any/repo", "any") {
		t.Error("the default entry must match every repo")
	}
}
