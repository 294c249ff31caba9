package main

import (
	"testing"

	"github.com/atollhq/atoll/testdrive"
	"github.com/atollhq/atoll/vcs"
)

// TestE2EAutomerge: with automerge in atoll.yaml and delete_source_branch_on_merge
// in repos.yaml, applying every plan merges the PR and deletes its branch, and
// the merge releases the PR's locks.
func TestE2EAutomerge(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	atoll := startAtoll(t, gh, t.TempDir(), writeReposYAML(t, "repos:\n- id: /.*/\n  delete_source_branch_on_merge: true\n"))
	files := testdrive.SampleFiles(t.TempDir())
	files["atoll.yaml"] = "version: 3\nautomerge: true\n"
	repo, err := gh.CreateRepo(ctx, "acme", "infra", files)
	if err != nil {
		t.Fatal(err)
	}
	sha, err := gh.Push(ctx, repo, "add-web", map[string]string{"network/main.tf": files["network/main.tf"] + webTF}, "add web")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := gh.OpenPull(ctx, repo, "add-web", "main", "Add web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	if _, err := gh.Comment(ctx, repo, pr, "bob", "atoll apply"); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr, "Apply complete!")
	waitComment(t, gh, repo, pr, "Atoll merged this pull request (automerge)", "`add-web` was deleted")
	waitComment(t, gh, repo, pr, "Locks released: this pull request was merged")
	if gh.BranchExists(repo, "add-web") {
		t.Error("branch add-web still exists after automerge with delete_source_branch_on_merge")
	}
	waitFor(t, func() bool {
		code, body := httpDo(t, "GET", atoll.URL+"/api/locks", nil, nil)
		return code == 200 && body == "{\"locks\":[]}\n"
	}, "locks released after the automerge")
}
