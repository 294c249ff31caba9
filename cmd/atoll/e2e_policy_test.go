package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollhq/atoll/testdrive"
	"github.com/atollhq/atoll/vcs"
)

// TestE2EPolicyChecks: a plan breaking a policy fails the policy check, apply
// is refused under policies_passed, a non-owner cannot approve, an owner can,
// and apply then runs.
func TestE2EPolicyChecks(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "policies"), 0o755); err != nil {
		t.Fatal(err)
	}
	// An old-syntax conftest policy, as Atlantis users have them.
	policy := `package main

deny[msg] {
  rc := input.resource_changes[_]
  rc.type == "terraform_data"
  contains(rc.change.after.input, "forbidden")
  msg := sprintf("%s: input must not contain 'forbidden'", [rc.address])
}
`
	if err := os.WriteFile(filepath.Join(dir, "policies", "inputs.rego"), []byte(policy), 0o644); err != nil {
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
	sha, err := gh.Push(ctx, repo, "bad", map[string]string{"network/main.tf": files["network/main.tf"] +
		"\nresource \"terraform_data\" \"web\" {\n  input = \"forbidden-thing\"\n}\n"}, "bad input")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := gh.OpenPull(ctx, repo, "bad", "main", "Bad", "alice")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, sha, "atoll/policy_check", vcs.StatusFailure)
	waitComment(t, gh, repo, pr, "**Policies:** ❌ `inputs` (1 failure)", "terraform_data.web: input must not contain 'forbidden'")

	if _, err := gh.Comment(ctx, repo, pr, "bob", "atoll apply"); err != nil {
		t.Fatal(err)
	}
	refused := waitComment(t, gh, repo, pr, "Apply blocked for `network`: requirement `policies_passed` is not met", "❌ policies_passed")
	if strings.Contains(refused.Body, "Apply complete") {
		t.Fatalf("apply ran despite the failing policy:\n%s", refused.Body)
	}
	waitStatus(t, gh, repo, sha, "atoll/apply", vcs.StatusFailure)

	if _, err := gh.Comment(ctx, repo, pr, "bob", "atoll approve_policies"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr, "@bob is not a policy owner", "@security-lead")
	if _, err := gh.Comment(ctx, repo, pr, "security-lead", "atoll approve_policies"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr, "Failing policies approved by @security-lead")
	waitStatus(t, gh, repo, sha, "atoll/policy_check", vcs.StatusSuccess)
	if _, err := gh.Comment(ctx, repo, pr, "bob", "atoll apply"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr, "Apply complete! Resources: 2 added")
}
