package main

import (
	"strings"
	"testing"
)

// TestE2ERegexpProject: with --enable-regexp-cmd, -p is a regular expression
// over whole project names. One that selects several projects must start
// with one of the repo's allowed_regexp_prefixes; one that selects a single
// project needs no prefix. No match, a refused pattern and an invalid one
// each get a comment saying why and what there is; apply -p selects the same
// way.
func TestE2ERegexpProject(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	startAtoll(t, gh, t.TempDir(), "--enable-regexp-cmd")
	tf := func(input string) string {
		return "resource \"terraform_data\" \"x\" {\n  input = \"" + input + "\"\n}\n"
	}
	repo, err := gh.CreateRepo(ctx, "acme", "envs", map[string]string{
		"atlantis.yaml": `version: 3
allowed_regexp_prefixes: [dev-]
projects:
- name: dev-a
  dir: a
- name: dev-b
  dir: b
- name: prod-c
  dir: c
`,
		"a/main.tf": tf("a"),
		"b/main.tf": tf("b"),
		"c/main.tf": tf("c"),
	})
	if err != nil {
		t.Fatal(err)
	}
	// A change outside every project: autoplan plans nothing.
	_, pr := openPR(t, gh, repo, "docs", map[string]string{"README.md": "envs\n"}, "alice")

	comment(t, gh, repo, pr, "bob", "atoll plan -p .*")
	refused := waitComment(t, gh, repo, pr, "`-p .*` matches 3 projects (dev-a, dev-b, prod-c)",
		"allowed_regexp_prefixes lets a regular expression select several projects only when it starts with `dev-`. Start the expression with an allowed prefix, or name one project.")
	t.Logf("several projects without an allowed prefix:\n%s", refused.Body)

	comment(t, gh, repo, pr, "bob", "atoll plan -p stag.*")
	none := waitComment(t, gh, repo, pr, "`-p stag.*` matches no project name (the whole name must match); projects: dev-a, dev-b, prod-c")
	t.Logf("no match:\n%s", none.Body)

	comment(t, gh, repo, pr, "bob", "atoll plan -p dev-(")
	invalid := waitComment(t, gh, repo, pr, "`-p dev-(` is not a valid regular expression: missing closing ): `dev-(`")
	t.Logf("invalid:\n%s", invalid.Body)

	comment(t, gh, repo, pr, "bob", "atoll plan -p dev-.*")
	plan := waitComment(t, gh, repo, pr, "`dev-a`", "`dev-b`", "atoll apply -p dev-a")
	t.Logf("plan -p dev-.*:\n%s", plan.Body)
	if strings.Contains(plan.Body, "prod-c") {
		t.Errorf("plan -p dev-.* planned prod-c:\n%s", plan.Body)
	}

	// One project matched: no prefix needed.
	comment(t, gh, repo, pr, "bob", "atoll plan -p pro.-c")
	waitComment(t, gh, repo, pr, "### Plan for `prod-c`")

	comment(t, gh, repo, pr, "bob", "atoll apply -p dev-.*")
	applied := waitComment(t, gh, repo, pr, "Apply", "`dev-a`", "`dev-b`", "Apply complete! Resources: 1 added")
	t.Logf("apply -p dev-.*:\n%s", applied.Body)
	if strings.Contains(applied.Body, "prod-c") {
		t.Errorf("apply -p dev-.* applied prod-c:\n%s", applied.Body)
	}
}
