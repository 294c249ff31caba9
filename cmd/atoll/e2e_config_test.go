package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/testdrive"
	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// The TestE2EConfig* tests cover repo config (atoll.yaml, atlantis.yaml) and the
// server's policies (repos.yaml, --gh-team-allowlist) end to end: the real
// binary, the fake GitHub and a real terraform using only terraform_data.

// localBackend returns a terraform block keeping project's state in stateDir
// (non-default workspaces under stateDir/PROJECT.d/WORKSPACE), so state
// survives from one pull request to the next.
func localBackend(stateDir, project string) string {
	return fmt.Sprintf("terraform {\n  backend \"local\" {\n    path          = %q\n    workspace_dir = %q\n  }\n}\n",
		filepath.ToSlash(filepath.Join(stateDir, project+".tfstate")), filepath.ToSlash(filepath.Join(stateDir, project+".d")))
}

// networkRepo creates acme/NAME with one project, network/, holding a vpc and
// keeping its state in stateDir.
func networkRepo(t *testing.T, gh *vcstest.Server, name, stateDir string) vcs.Repo {
	t.Helper()
	repo, err := gh.CreateRepo(waitCtx(t), "acme", name, map[string]string{
		"network/backend.tf": localBackend(stateDir, "network"),
		"network/main.tf":    "resource \"terraform_data\" \"vpc\" {\n  input = \"10.0.0.0/16\"\n}\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// openPR pushes files to a new branch and opens a pull request from it.
func openPR(t *testing.T, gh *vcstest.Server, repo vcs.Repo, branch string, files map[string]string, author string) (sha string, num int) {
	t.Helper()
	ctx := waitCtx(t)
	sha, err := gh.Push(ctx, repo, branch, files, "change "+branch)
	if err != nil {
		t.Fatal(err)
	}
	num, err = gh.OpenPull(ctx, repo, branch, "main", "Change "+branch, author)
	if err != nil {
		t.Fatal(err)
	}
	return sha, num
}

// comment posts body on num as user.
func comment(t *testing.T, gh *vcstest.Server, repo vcs.Repo, num int, user, body string) {
	t.Helper()
	if _, err := gh.Comment(waitCtx(t), repo, num, user, body); err != nil {
		t.Fatal(err)
	}
}

// assertNoLocks checks that the server holds no lock at all.
func assertNoLocks(t *testing.T, atoll *atollProc) {
	t.Helper()
	code, body := httpDo(t, "GET", atoll.URL+"/api/locks", nil, nil)
	if code != 200 || !strings.Contains(body, `"locks":[]`) {
		t.Errorf("GET /api/locks = %d %s, want no locks", code, body)
	}
}

// assertNoPlanRan checks that no plan comment or plan output reached num.
func assertNoPlanRan(t *testing.T, gh *vcstest.Server, repo vcs.Repo, num int) {
	t.Helper()
	all := joinBodies(gh, repo, num)
	for _, bad := range []string{"### Plan", "to add", "terraform_data."} {
		if strings.Contains(all, bad) {
			t.Errorf("PR #%d has plan output (%q) although nothing should have run:\n%s", num, bad, all)
		}
	}
}

const vpcModule = `variable "cidr" {
  type = string
}

resource "terraform_data" "vpc" {
  input = var.cidr
}

output "id" {
  value = terraform_data.vpc.id
}
`

// TestE2EConfigMonorepo: a PR that changes only modules/vpc plans the project
// whose when_modified names the module and the project that calls it (module-
// aware autoplan), but not the third project; a PR touching only dns plans only dns.
func TestE2EConfigMonorepo(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	startAtoll(t, gh, t.TempDir())
	state := t.TempDir()
	files := map[string]string{
		"atoll.yaml": `version: 3
projects:
- name: network
  dir: network
  autoplan:
    when_modified: ["*.tf", "../modules/vpc/**/*.tf"]
- name: app
  dir: app
  autoplan:
    when_modified: ["*.tf"]
- name: dns
  dir: dns
  autoplan:
    when_modified: ["*.tf"]
`,
		"modules/vpc/main.tf": vpcModule,
		"network/backend.tf":  localBackend(state, "network"),
		"network/main.tf":     "module \"vpc\" {\n  source = \"../modules/vpc\"\n  cidr   = \"10.0.0.0/16\"\n}\n",
		"app/backend.tf":      localBackend(state, "app"),
		"app/main.tf":         "module \"vpc\" {\n  source = \"../modules/vpc\"\n  cidr   = \"10.1.0.0/16\"\n}\n",
		"dns/backend.tf":      localBackend(state, "dns"),
		"dns/main.tf":         "resource \"terraform_data\" \"zone\" {\n  input = \"acme.test\"\n}\n",
	}
	repo, err := gh.CreateRepo(ctx, "acme", "mono", files)
	if err != nil {
		t.Fatal(err)
	}

	// 1. Changing the module plans network (when_modified) and app (uses the
	// module), never dns.
	sha, pr := openPR(t, gh, repo, "vpc-tags", map[string]string{
		"modules/vpc/main.tf": vpcModule + "\nresource \"terraform_data\" \"tags\" {\n  input = \"env\"\n}\n",
	}, "alice")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	plan := waitComment(t, gh, repo, pr, "### Plan for 2 projects")
	t.Logf("monorepo plan comment:\n%s", plan.Body)
	for _, want := range []string{"`network`", "`app`", "module.vpc.terraform_data.tags", "atoll apply -p network", "atoll apply -p app"} {
		if !strings.Contains(plan.Body, want) {
			t.Errorf("plan comment lacks %q:\n%s", want, plan.Body)
		}
	}
	for _, bad := range []string{"`dns`", "terraform_data.zone"} {
		if strings.Contains(plan.Body, bad) {
			t.Errorf("plan comment mentions %q, but the PR does not touch dns:\n%s", bad, plan.Body)
		}
	}

	// 2. Changing only dns plans only dns.
	sha2, pr2 := openPR(t, gh, repo, "dns-zone", map[string]string{
		"dns/main.tf": "resource \"terraform_data\" \"zone\" {\n  input = \"acme.example\"\n}\n",
	}, "carol")
	waitStatus(t, gh, repo, sha2, "atoll/plan", vcs.StatusSuccess)
	plan2 := waitComment(t, gh, repo, pr2, "### Plan for `dns`")
	for _, bad := range []string{"`network`", "`app`", "module.vpc"} {
		if strings.Contains(plan2.Body, bad) {
			t.Errorf("dns-only plan comment mentions %q:\n%s", bad, plan2.Body)
		}
	}
	if !strings.Contains(plan2.Body, "terraform_data.zone") {
		t.Errorf("dns plan comment lacks terraform_data.zone:\n%s", plan2.Body)
	}
}

// TestE2EConfigCustomWorkflow: a repo-defined workflow (allowed by the server's
// allow_custom_workflows and allowed_overrides: [workflow]) with env and run
// steps; the run steps' output, using the env steps' variables, lands in the
// plan comment ahead of terraform's plan.
func TestE2EConfigCustomWorkflow(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	startAtoll(t, gh, t.TempDir(), writeReposYAML(t, `repos:
- id: /.*/
  allow_custom_workflows: true
  allowed_overrides: [workflow]
`))
	state := t.TempDir()
	repo, err := gh.CreateRepo(ctx, "acme", "wf", map[string]string{
		"atoll.yaml": `version: 3
projects:
- name: network
  dir: network
  workflow: greet
workflows:
  greet:
    plan:
      steps:
      - env:
          name: GREETING
          value: hello-from-env-step
      - env:
          name: SIZE
          command: echo large
      - run: echo "greeting=$GREETING size=$SIZE project=$PROJECT_NAME dir=$REPO_REL_DIR ws=$WORKSPACE"
      - init
      - plan
`,
		"network/backend.tf": localBackend(state, "network"),
		"network/main.tf":    "resource \"terraform_data\" \"vpc\" {\n  input = \"10.0.0.0/16\"\n}\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	sha, pr := openPR(t, gh, repo, "web", map[string]string{
		"network/web.tf": webTF,
	}, "alice")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	plan := waitComment(t, gh, repo, pr, "### Plan for `network`")
	t.Logf("custom workflow plan comment:\n%s", plan.Body)
	for _, want := range []string{"greeting=hello-from-env-step size=large project=network dir=network ws=default", "terraform_data.web"} {
		if !strings.Contains(plan.Body, want) {
			t.Errorf("plan comment lacks %q:\n%s", want, plan.Body)
		}
	}
}

// TestE2EConfigApplyRequirements: repos.yaml requires an approval; apply is
// refused with the failed requirement, its source and the fix, and status
// atoll/apply failure; once bob approves, the same plan applies.
func TestE2EConfigApplyRequirements(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	startAtoll(t, gh, t.TempDir(), writeReposYAML(t, `repos:
- id: /.*/
  apply_requirements: [approved]
`))
	state := t.TempDir()
	repo := networkRepo(t, gh, "reqs", state)
	sha, pr := openPR(t, gh, repo, "web", map[string]string{"network/web.tf": webTF}, "alice")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	waitComment(t, gh, repo, pr, "### Plan for `network`")

	// The author's own approval does not count.
	if err := gh.Review(repo, pr, "alice", "APPROVED"); err != nil {
		t.Fatal(err)
	}
	comment(t, gh, repo, pr, "alice", "atoll apply")
	refused := waitComment(t, gh, repo, pr, "Apply blocked for `network`")
	t.Logf("refused apply comment:\n%s", refused.Body)
	for _, want := range []string{
		"Apply blocked for `network`: requirement `approved` is not met (set by the server's repos.yaml for `/.*/`).",
		"❌ approved (needs 1 approving review of commit " + sha[:7] + " by someone with write access other than the author; not counted: @alice opened the pull request)",
		"Ask a reviewer with write access, other than the author, to approve the latest commit.",
		"Then comment `atoll apply -d network` again.",
	} {
		if !strings.Contains(refused.Body, want) {
			t.Errorf("refusal lacks %q:\n%s", want, refused.Body)
		}
	}
	if n := strings.Count(refused.Body, "not met"); n != 1 {
		t.Errorf("refusal says \"not met\" %d times, want once:\n%s", n, refused.Body)
	}
	waitStatus(t, gh, repo, sha, "atoll/apply", vcs.StatusFailure)
	if _, err := os.Stat(filepath.Join(state, "network.tfstate")); err == nil {
		t.Error("the state file exists after a refused apply")
	}

	// bob's approval does.
	if err := gh.Review(repo, pr, "bob", "APPROVED"); err != nil {
		t.Fatal(err)
	}
	comment(t, gh, repo, pr, "alice", "atoll apply")
	applied := waitComment(t, gh, repo, pr, "Apply complete! Resources: 2 added")
	t.Logf("apply comment:\n%s", applied.Body)
	waitStatus(t, gh, repo, sha, "atoll/apply", vcs.StatusSuccess)
	b, err := os.ReadFile(filepath.Join(state, "network.tfstate"))
	if err != nil || !strings.Contains(string(b), `"web"`) {
		t.Errorf("state after apply lacks terraform_data.web: %v\n%s", err, b)
	}
}

// TestE2EConfigOverrideRefused: atoll.yaml clears apply_requirements on a project
// but the server allows no overrides: the PR is told the key, the file position
// and how an admin can allow it; status failure, nothing planned, no lock taken.
func TestE2EConfigOverrideRefused(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	atoll := startAtoll(t, gh, t.TempDir(), writeReposYAML(t, `repos:
- id: /.*/
  apply_requirements: [approved]
`))
	repo := networkRepo(t, gh, "override", t.TempDir())
	sha, pr := openPR(t, gh, repo, "no-reqs", map[string]string{
		"atoll.yaml":     "version: 3\nprojects:\n- dir: network\n  apply_requirements: []\n",
		"network/web.tf": webTF,
	}, "alice")
	st := waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusFailure)
	c := waitComment(t, gh, repo, pr, "apply_requirements")
	t.Logf("override refusal (status %q):\n%s", st.Description, c.Body)
	for _, want := range []string{"atoll.yaml:4:3:", "projects[0].apply_requirements", "allowed_overrides", "repos.yaml"} {
		if !strings.Contains(c.Body, want) {
			t.Errorf("refusal lacks %q:\n%s", want, c.Body)
		}
	}
	assertNoPlanRan(t, gh, repo, pr)
	assertNoLocks(t, atoll)
}

// TestE2EConfigInvalidRepoConfig: a typo'd key and a wrongly typed value in
// atoll.yaml each get file:line:column in the comment; status failure; nothing planned.
func TestE2EConfigInvalidRepoConfig(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	atoll := startAtoll(t, gh, t.TempDir())
	repo := networkRepo(t, gh, "invalid", t.TempDir())
	sha, pr := openPR(t, gh, repo, "typo", map[string]string{
		"atoll.yaml":     "version: 3\nprojects:\n- dir: network\n  wrkspace: default\n  autoplan:\n    enabled: maybe\n",
		"network/web.tf": webTF,
	}, "alice")
	st := waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusFailure)
	c := waitComment(t, gh, repo, pr, "atoll.yaml:")
	t.Logf("invalid config comment (status %q):\n%s", st.Description, c.Body)
	if !strings.Contains(st.Description, "atoll.yaml") {
		t.Errorf("status description %q does not name atoll.yaml", st.Description)
	}
	for _, re := range []string{
		`atoll\.yaml:4:3: projects\[0\]\.wrkspace: unknown key \(did you mean "workspace"\?\)`,
		`atoll\.yaml:6:14: projects\[0\]\.autoplan\.enabled: [^\n]*(bool|true)`,
	} {
		if !regexp.MustCompile(re).MatchString(c.Body) {
			t.Errorf("comment does not match %s:\n%s", re, c.Body)
		}
	}
	assertNoPlanRan(t, gh, repo, pr)
	assertNoLocks(t, atoll)
}

// TestE2EConfigAtlantisYAML: a repo with only atlantis.yaml is read as-is; its
// named project in a non-default workspace plans under that name and workspace
// and can be applied with -p.
func TestE2EConfigAtlantisYAML(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	startAtoll(t, gh, t.TempDir())
	state := t.TempDir()
	repo, err := gh.CreateRepo(ctx, "acme", "legacy", map[string]string{
		"atlantis.yaml": `version: 3
automerge: false
projects:
- name: staging-net
  dir: network
  workspace: staging
  autoplan:
    when_modified: ["*.tf"]
    enabled: true
`,
		"network/backend.tf": localBackend(state, "network"),
		"network/main.tf":    "resource \"terraform_data\" \"vpc\" {\n  input = terraform.workspace\n}\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	sha, pr := openPR(t, gh, repo, "web", map[string]string{"network/web.tf": webTF}, "alice")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	plan := waitComment(t, gh, repo, pr, "### Plan for `staging-net`")
	t.Logf("atlantis.yaml plan comment:\n%s", plan.Body)
	for _, want := range []string{"workspace `staging`", "2 to add", "atoll apply -p staging-net", `"staging"`} {
		if !strings.Contains(plan.Body, want) {
			t.Errorf("plan comment lacks %q:\n%s", want, plan.Body)
		}
	}
	comment(t, gh, repo, pr, "bob", "atoll apply -p staging-net")
	waitComment(t, gh, repo, pr, "Apply complete! Resources: 2 added")
	waitStatus(t, gh, repo, sha, "atoll/apply", vcs.StatusSuccess)
	// The local backend keeps non-default workspaces under its workspace_dir.
	if _, err := os.Stat(filepath.Join(state, "network.d", "staging", "terraform.tfstate")); err != nil {
		t.Errorf("no state for workspace staging: %v", err)
	}
}

// TestE2EConfigTeamAllowlist: with --gh-team-allowlist "ops:apply,*:plan",
// anyone may plan but only members of ops may apply; carol is refused with a
// comment saying who may, and bob (in acme/ops) applies.
func TestE2EConfigTeamAllowlist(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	gh.AddTeamMember("acme", "ops", "bob")
	startAtoll(t, gh, t.TempDir(), "--gh-team-allowlist", "ops:apply,*:plan")
	state := t.TempDir()
	repo := networkRepo(t, gh, "teams", state)
	sha, pr := openPR(t, gh, repo, "web", map[string]string{"network/web.tf": webTF}, "alice")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)

	// carol may plan (*:plan) ...
	comment(t, gh, repo, pr, "carol", "atoll plan -d network")
	waitFor(t, func() bool { return countComments(gh, repo, pr, "### Plan for `network`") >= 2 }, "carol's plan")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	// ... but not apply.
	comment(t, gh, repo, pr, "carol", "atoll apply")
	refused := waitComment(t, gh, repo, pr, "@carol may not run `atoll apply`")
	t.Logf("team refusal:\n%s", refused.Body)
	for _, want := range []string{
		"Only members of the team ops may run it (set by the server's `--gh-team-allowlist`).",
		"Ask one of them to comment `atoll apply`",
	} {
		if !strings.Contains(refused.Body, want) {
			t.Errorf("refusal lacks %q:\n%s", want, refused.Body)
		}
	}
	waitStatus(t, gh, repo, sha, "atoll/apply", vcs.StatusFailure)
	if _, err := os.Stat(filepath.Join(state, "network.tfstate")); err == nil {
		t.Error("the state file exists after a refused apply")
	}

	comment(t, gh, repo, pr, "bob", "atoll apply")
	waitComment(t, gh, repo, pr, "Apply complete! Resources: 2 added")
	waitStatus(t, gh, repo, sha, "atoll/apply", vcs.StatusSuccess)
}

// TestE2EConfigTFVarFromEnvStep: TF_VAR_ variables from a workflow env step and
// from the server's environment reach terraform, as in Atlantis (terraform-exec
// refuses them; the atoll binary passes them through as a shim).
func TestE2EConfigTFVarFromEnvStep(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	reposYAML := writeReposYAML(t, `repos:
- id: /.*/
  workflow: vars
workflows:
  vars:
    plan:
      steps:
      - env:
          name: TF_VAR_size
          value: from-env-step
      - init
      - plan
`)
	startAtoll(t, gh, t.TempDir(), reposYAML)
	files := testdrive.SampleFiles(t.TempDir())
	files["network/vars.tf"] = "variable \"size\" {\n  type = string\n}\n\nvariable \"region\" {\n  type    = string\n  default = \"unset\"\n}\n"
	repo, err := gh.CreateRepo(ctx, "acme", "vars", files)
	if err != nil {
		t.Fatal(err)
	}
	sha, err := gh.Push(ctx, repo, "sized", map[string]string{"network/main.tf": files["network/main.tf"] +
		"\nresource \"terraform_data\" \"sized\" {\n  input = \"${var.size}/${var.region}\"\n}\n"}, "sized")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := gh.OpenPull(ctx, repo, "sized", "main", "Sized", "alice")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	waitComment(t, gh, repo, pr, `"from-env-step/unset"`)
}

// TestE2EConfigPlanRequirements: plan_requirements are checked before a plan and
// take no lock; once met, the plan runs.
func TestE2EConfigPlanRequirements(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	reposYAML := writeReposYAML(t, "repos:\n- id: /.*/\n  plan_requirements: [approved]\n")
	atoll := startAtoll(t, gh, t.TempDir(), reposYAML)
	files := testdrive.SampleFiles(t.TempDir())
	repo, err := gh.CreateRepo(ctx, "acme", "planreq", files)
	if err != nil {
		t.Fatal(err)
	}
	sha, err := gh.Push(ctx, repo, "web", map[string]string{"network/main.tf": files["network/main.tf"] + "\nresource \"terraform_data\" \"web\" {\n  input = \"v1\"\n}\n"}, "web")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := gh.OpenPull(ctx, repo, "web", "main", "Web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusFailure)
	waitComment(t, gh, repo, pr, "Plan blocked for `network`: requirement `approved` is not met", "Ask a reviewer with write access, other than the author")
	if _, body := httpDo(t, "GET", atoll.URL+"/api/locks", nil, nil); strings.Contains(body, `"dir":"network"`) {
		t.Errorf("a plan refused by plan_requirements took a lock: %s", body)
	}
	if err := gh.Review(repo, pr, "bob", "APPROVED"); err != nil {
		t.Fatal(err)
	}
	if _, err := gh.Comment(ctx, repo, pr, "alice", "atoll plan"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr, "Plan: 2 to add, 0 to change, 0 to destroy.")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
}

// TestE2EConfigOpenTofu: a project with terraform_distribution: opentofu is
// planned and applied with OpenTofu, while the others keep terraform.
func TestE2EConfigOpenTofu(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	startAtoll(t, gh, t.TempDir(), "--tofu-binary", testenv.Tofu(t))
	files := testdrive.SampleFiles(t.TempDir())
	files["atoll.yaml"] = "version: 3\nprojects:\n- name: net\n  dir: network\n  terraform_distribution: opentofu\n- name: app\n  dir: app\n"
	repo, err := gh.CreateRepo(ctx, "acme", "tofu", files)
	if err != nil {
		t.Fatal(err)
	}
	sha, err := gh.Push(ctx, repo, "both", map[string]string{
		"network/main.tf": files["network/main.tf"] + "\nresource \"terraform_data\" \"web\" {\n  input = \"v1\"\n}\n",
		"app/main.tf":     files["app/main.tf"] + "\nresource \"terraform_data\" \"worker\" {\n  input = \"v1\"\n}\n",
	}, "both")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := gh.OpenPull(ctx, repo, "both", "main", "Both", "alice")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	c := waitComment(t, gh, repo, pr, "OpenTofu used the selected providers", "Terraform used the selected providers")
	if !strings.Contains(c.Body, "`net`") || !strings.Contains(c.Body, "`app`") {
		t.Errorf("plan comment lacks a project:\n%s", c.Body)
	}
	if _, err := gh.Comment(ctx, repo, pr, "bob", "atoll apply -p net"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr, "Apply complete! Resources: 2 added")
}
