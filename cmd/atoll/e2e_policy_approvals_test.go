package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollhq/atoll/testdrive"
	"github.com/atollhq/atoll/vcs"
)

// forbiddenPolicy fails a plan that gives a terraform_data an input holding
// "forbidden".
const forbiddenPolicy = `package main

deny[msg] {
  rc := input.resource_changes[_]
  rc.type == "terraform_data"
  contains(rc.change.after.input, "forbidden")
  msg := sprintf("%s: input must not contain 'forbidden'", [rc.address])
}
`

// TestE2EPolicyApproveCount: a policy set with approve_count: 2 needs two
// distinct owners' `atoll approve_policies`. After the first, apply is still
// refused and the comments say "1 of 2 approvals"; the same owner approving
// again still counts once; a second owner (of the set) makes it pass, and
// apply runs. A new plan starts again from 0 approvals.
func TestE2EPolicyApproveCount(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "policies"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policies", "inputs.rego"), []byte(forbiddenPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	repos := `repos:
- id: /.*/
  apply_requirements: [policies_passed]
  policy_check: true
policies:
  owners:
    users: [security-lead]
  policy_sets:
  - name: inputs
    path: policies
    source: local
    approve_count: 2
    owners:
      users: [carol]
`
	if err := os.WriteFile(filepath.Join(dir, "repos.yaml"), []byte(repos), 0o644); err != nil {
		t.Fatal(err)
	}
	startAtoll(t, gh, t.TempDir(), "--repo-config", filepath.Join(dir, "repos.yaml"))
	files := testdrive.SampleFiles(t.TempDir())
	repo, err := gh.CreateRepo(ctx, "acme", "infra", files)
	if err != nil {
		t.Fatal(err)
	}
	sha, pr := openPR(t, gh, repo, "bad", map[string]string{"network/main.tf": files["network/main.tf"] +
		"\nresource \"terraform_data\" \"web\" {\n  input = \"forbidden-thing\"\n}\n"}, "alice")
	waitStatus(t, gh, repo, sha, "atoll/policy_check", vcs.StatusFailure)
	plan := waitComment(t, gh, repo, pr, "**Policies:** ❌ `inputs` (1 failure, 0 of 2 approvals)",
		"ask 2 policy owners each to comment `atoll approve_policies`")
	t.Logf("plan comment:\n%s", plan.Body)

	comment(t, gh, repo, pr, "dave", "atoll approve_policies")
	waitComment(t, gh, repo, pr, "@dave is not a policy owner", "@security-lead and @carol")

	comment(t, gh, repo, pr, "security-lead", "atoll approve_policies")
	first := waitComment(t, gh, repo, pr, "@security-lead's approval is recorded, but more approvals are needed.",
		"- `network` (workspace `default`): `inputs` 1 of 2 approvals (@security-lead)",
		"`atoll apply` stays blocked")
	t.Logf("first approval:\n%s", first.Body)
	waitStatus(t, gh, repo, sha, "atoll/policy_check", vcs.StatusFailure)

	comment(t, gh, repo, pr, "bob", "atoll apply")
	refused := waitComment(t, gh, repo, pr, "Apply blocked for `network`", "`inputs` has 1 of 2 approvals")
	t.Logf("apply refused:\n%s", refused.Body)
	if strings.Contains(refused.Body, "Apply complete") {
		t.Fatalf("apply ran with 1 of 2 approvals:\n%s", refused.Body)
	}

	comment(t, gh, repo, pr, "security-lead", "atoll approve_policies")
	again := waitComment(t, gh, repo, pr, "@security-lead's approval changed nothing.",
		"`inputs` 1 of 2 approvals (@security-lead): you approved it already, and each policy owner counts once")
	t.Logf("same owner again:\n%s", again.Body)
	comment(t, gh, repo, pr, "bob", "atoll apply")
	waitFor(t, func() bool { return countComments(gh, repo, pr, "`inputs` has 1 of 2 approvals") == 2 }, "a second refusal with 1 of 2 approvals")

	comment(t, gh, repo, pr, "carol", "atoll approve_policies")
	second := waitComment(t, gh, repo, pr, "Failing policies approved by @carol.",
		"`inputs` 2 of 2 approvals (@security-lead and @carol) ✅", "`atoll apply` may now go ahead")
	t.Logf("second approval:\n%s", second.Body)
	waitStatus(t, gh, repo, sha, "atoll/policy_check", vcs.StatusSuccess)

	comment(t, gh, repo, pr, "bob", "atoll apply")
	applied := waitComment(t, gh, repo, pr, "Apply complete! Resources: 2 added")
	if strings.Contains(applied.Body, "Apply blocked") {
		t.Fatalf("apply blocked after two approvals:\n%s", applied.Body)
	}
}

// TestE2EPolicyApprovalsClearedByPlan: approvals belong to one plan; after
// `atoll plan` the set needs its approvals again.
func TestE2EPolicyApprovalsClearedByPlan(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "policies"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policies", "inputs.rego"), []byte(forbiddenPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	repos := "repos:\n- id: /.*/\n  apply_requirements: [policies_passed]\n  policy_check: true\npolicies:\n  approve_count: 2\n  owners:\n    users: [security-lead, carol]\n  policy_sets:\n  - name: inputs\n    path: policies\n    source: local\n"
	if err := os.WriteFile(filepath.Join(dir, "repos.yaml"), []byte(repos), 0o644); err != nil {
		t.Fatal(err)
	}
	startAtoll(t, gh, t.TempDir(), "--repo-config", filepath.Join(dir, "repos.yaml"))
	files := testdrive.SampleFiles(t.TempDir())
	repo, err := gh.CreateRepo(ctx, "acme", "infra", files)
	if err != nil {
		t.Fatal(err)
	}
	_, pr := openPR(t, gh, repo, "bad", map[string]string{"network/main.tf": files["network/main.tf"] +
		"\nresource \"terraform_data\" \"web\" {\n  input = \"forbidden-thing\"\n}\n"}, "alice")
	waitComment(t, gh, repo, pr, "(1 failure, 0 of 2 approvals)")
	comment(t, gh, repo, pr, "security-lead", "atoll approve_policies")
	waitComment(t, gh, repo, pr, "`inputs` 1 of 2 approvals (@security-lead)")
	comment(t, gh, repo, pr, "bob", "atoll plan")
	waitFor(t, func() bool { return countComments(gh, repo, pr, "(1 failure, 0 of 2 approvals)") == 2 }, "a re-plan needing 2 approvals again")
	comment(t, gh, repo, pr, "carol", "atoll approve_policies")
	waitComment(t, gh, repo, pr, "@carol's approval is recorded, but more approvals are needed.", "`inputs` 1 of 2 approvals (@carol)")
}
