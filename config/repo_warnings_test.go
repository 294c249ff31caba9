package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestServerDependent: what ServerDependent warns about is exactly what the
// default server configuration refuses, and a server that allows it all
// accepts the file.
func TestServerDependent(t *testing.T) {
	t.Parallel()
	rc, err := ParseRepoConfig("atlantis.yaml", []byte(`version: 3
apply_on_merge: true
delete_source_branch_on_merge: true
projects:
- dir: a
  apply_requirements: [approved]
  repo_locking: false
  workflow: mine
- dir: b
  plan_requirements: []
  repo_locks: {mode: on_apply}
  policy_check: true
  silence_pr_comments: [plan]
  workflow: from-server
- dir: c
  autoplan: {enabled: false}
workflows:
  mine:
    plan:
      steps: [init, plan]
`))
	if err != nil {
		t.Fatal(err)
	}
	warnings := rc.ServerDependent()
	var got []string
	for _, w := range warnings {
		got = append(got, w.Error())
	}
	want := []string{
		"atlantis.yaml:2:1: apply_on_merge: works only if the server allows it: its repos.yaml must list apply_on_merge in allowed_overrides for this repo",
		"atlantis.yaml:6:3: projects[0].apply_requirements: works only if the server allows it: its repos.yaml must list apply_requirements in allowed_overrides for this repo",
		"atlantis.yaml:7:3: projects[0].repo_locking: works only if the server allows it: its repos.yaml must list repo_locking in allowed_overrides for this repo",
		"atlantis.yaml:8:3: projects[0].workflow: works only if the server allows it: its repos.yaml must list workflow in allowed_overrides for this repo",
		"atlantis.yaml:10:3: projects[1].plan_requirements: works only if the server allows it: its repos.yaml must list plan_requirements in allowed_overrides for this repo",
		"atlantis.yaml:11:3: projects[1].repo_locks: works only if the server allows it: its repos.yaml must list repo_locks in allowed_overrides for this repo",
		"atlantis.yaml:12:3: projects[1].policy_check: works only if the server allows it: its repos.yaml must list policy_check in allowed_overrides for this repo",
		"atlantis.yaml:13:3: projects[1].silence_pr_comments: works only if the server allows it: its repos.yaml must list silence_pr_comments in allowed_overrides for this repo",
		`atlantis.yaml:14:3: projects[1].workflow: workflow "from-server" is not defined in this file, so the server's repos.yaml must define it (this file defines: mine)`,
		"atlantis.yaml:14:3: projects[1].workflow: works only if the server allows it: its repos.yaml must list workflow in allowed_overrides for this repo",
		"atlantis.yaml:17:1: workflows: works only if the server allows it: its repos.yaml must set allow_custom_workflows: true for this repo",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ServerDependent (-want +got):\n%s", diff)
	}

	// The default server refuses exactly these keys.
	_, err = DefaultServerConfig().Resolve("github.com/acme/infra", "main", rc)
	refused := map[string]bool{}
	for _, e := range Errors(err) {
		refused[e.Path] = true
	}
	warned := map[string]bool{}
	for _, w := range warnings {
		warned[w.Path] = true
	}
	if diff := cmp.Diff(refused, warned); diff != "" {
		t.Errorf("paths refused by the default server (-) and warned about (+):\n%s", diff)
	}

	// A server that allows them accepts the file.
	allowing, err := ParseServerConfig("repos.yaml", []byte(`repos:
- id: /.*/
  allowed_overrides: [apply_on_merge, apply_requirements, plan_requirements, repo_locking, repo_locks, policy_check, silence_pr_comments, workflow]
  allow_custom_workflows: true
workflows:
  from-server:
    plan:
      steps: [init, plan]
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := allowing.Resolve("github.com/acme/infra", "main", rc); err != nil {
		t.Errorf("a server allowing every key refused the file: %v", err)
	}
}

func TestServerDependentNone(t *testing.T) {
	t.Parallel()
	rc, err := ParseRepoConfig("atoll.yaml", []byte("version: 3\nautomerge: true\nprojects:\n- name: net\n  dir: network\n  workflow: default\n  autoplan: {when_modified: [\"*.tf\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	// workflow: default is still an override, as Resolve treats it.
	ws := rc.ServerDependent()
	if len(ws) != 1 || !strings.Contains(ws[0].Error(), "atoll.yaml:6:3: projects[0].workflow: works only if the server allows it") {
		t.Errorf("ServerDependent = %v, want one warning for projects[0].workflow", ws)
	}
}
