package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// dnsTF and cdnTF each add one more resource to network/.
const (
	dnsTF = "resource \"terraform_data\" \"dns\" {\n  input = \"ns1\"\n}\n"
	cdnTF = "resource \"terraform_data\" \"cdn\" {\n  input = \"edge\"\n}\n"
)

// stateHas reports whether the local state file of project under stateDir
// holds a resource named addr ("terraform_data.subnet").
func stateHas(t *testing.T, stateDir, project, addr string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, project+".tfstate"))
	if err != nil {
		return false
	}
	typ, name, _ := strings.Cut(addr, ".")
	return strings.Contains(string(b), `"type": "`+typ+`",`) && strings.Contains(string(b), `"name": "`+name+`",`)
}

// mergePR merges pull request num and returns the merge commit.
func mergePR(t *testing.T, gh *vcstest.Server, repo vcs.Repo, num int) string {
	t.Helper()
	if err := gh.ClosePull(waitCtx(t), repo, num, true); err != nil {
		t.Fatal(err)
	}
	sha, err := gh.BranchSHA(repo, "main")
	if err != nil {
		t.Fatal(err)
	}
	return sha
}

// With apply_on_merge, merging a planned pull request applies it: the merge
// commit is planned again, makes the same changes as the reviewed plan, is
// applied once, and the locks go. A pull request merged after its base
// moved is not applied: the new plan and the difference are commented, the
// lock stays, and `atoll apply` on the merged pull request applies it.
func TestE2EApplyOnMerge(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	stateDir := t.TempDir()
	atoll := startAtoll(t, gh, t.TempDir(), writeReposYAML(t, "repos:\n- id: /.*/\n  apply_on_merge: true\n  apply_requirements: [approved, mergeable, undiverged]\n"))
	repo := networkRepo(t, gh, "infra", stateDir)

	// 1. Same plan at the merge commit: applied on merge.
	sha, pr := openPR(t, gh, repo, "add-subnet", map[string]string{"network/subnet.tf": subnetTF}, "alice")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	if err := gh.Review(repo, pr, "bob", "APPROVED"); err != nil {
		t.Fatal(err)
	}
	merge := mergePR(t, gh, repo, pr)
	c := waitComment(t, gh, repo, pr, "was merged as "+merge[:7], "Apply complete!", "atoll revert")
	t.Logf("apply on merge comment:\n%s", c.Body)
	waitStatus(t, gh, repo, merge, "atoll/apply", vcs.StatusSuccess)
	if !stateHas(t, stateDir, "network", "terraform_data.subnet") || !stateHas(t, stateDir, "network", "terraform_data.vpc") {
		t.Error("after the merge the state lacks terraform_data.subnet or .vpc")
	}
	waitFor(t, func() bool {
		code, body := httpDo(t, "GET", atoll.URL+"/api/locks", nil, nil)
		return code == 200 && strings.Contains(body, `"locks":[]`)
	}, "the locks released after the apply on merge")
	if n := countComments(gh, repo, pr, "Apply complete!"); n != 1 {
		t.Errorf("%d apply comments, want 1", n)
	}

	// 2. The base moved after the plan: a push straight to main adds a
	// resource, so the merge commit plans more than was reviewed.
	sha, pr2 := openPR(t, gh, repo, "add-dns", map[string]string{"network/dns.tf": dnsTF}, "alice")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	if err := gh.Review(repo, pr2, "bob", "APPROVED"); err != nil {
		t.Fatal(err)
	}
	if _, err := gh.Push(waitCtx(t), repo, "main", map[string]string{"network/cdn.tf": cdnTF}, "hotfix straight to main"); err != nil {
		t.Fatal(err)
	}
	merge2 := mergePR(t, gh, repo, pr2)
	c = waitComment(t, gh, repo, pr2, "Not applied on merge", "`terraform_data.cdn` is now to create (not in the reviewed plan)")
	t.Logf("not applied on merge comment:\n%s", c.Body)
	waitStatus(t, gh, repo, merge2, "atoll/apply", vcs.StatusFailure)
	if stateHas(t, stateDir, "network", "terraform_data.dns") || stateHas(t, stateDir, "network", "terraform_data.cdn") {
		t.Error("a plan that differs from the reviewed one was applied on merge")
	}
	code, body := httpDo(t, "GET", atoll.URL+"/api/locks", nil, nil)
	if code != 200 || !strings.Contains(body, `"pull":`+strconv.Itoa(pr2)) {
		t.Errorf("GET /api/locks = %d %s; want the merged #%d to keep its lock", code, body, pr2)
	}
	// A stranger cannot apply it; a writer can.
	comment(t, gh, repo, pr2, "mallory", "atoll apply")
	waitComment(t, gh, repo, pr2, "@mallory may not run `atoll apply`")
	comment(t, gh, repo, pr2, "carol", "atoll apply")
	c = waitComment(t, gh, repo, pr2, "Apply complete!")
	if !strings.Contains(c.Body, "atoll revert") {
		t.Errorf("the apply comment on a merged pull request does not offer the rollback:\n%s", c.Body)
	}
	waitStatus(t, gh, repo, merge2, "atoll/apply", vcs.StatusSuccess)
	if !stateHas(t, stateDir, "network", "terraform_data.dns") || !stateHas(t, stateDir, "network", "terraform_data.cdn") {
		t.Error("`atoll apply` on the merged pull request did not apply the merge commit's plan")
	}
	waitFor(t, func() bool {
		code, body := httpDo(t, "GET", atoll.URL+"/api/locks", nil, nil)
		return code == 200 && strings.Contains(body, `"locks":[]`)
	}, "the locks released after `atoll apply` on the merged pull request")
}

// `atoll revert` on a merged pull request pushes atoll/revert-N and opens a
// pull request from it. That pull request autoplans the rollback, and
// merging it (apply_on_merge) restores the state from before the first
// merge. A second `atoll revert`, a revert of an open pull request and a
// stranger's revert are refused with the rule.
func TestE2ERevert(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	stateDir := t.TempDir()
	startAtoll(t, gh, t.TempDir(), writeReposYAML(t, "repos:\n- id: /.*/\n  apply_on_merge: true\n"))
	repo := networkRepo(t, gh, "infra", stateDir)

	sha, pr := openPR(t, gh, repo, "add-subnet", map[string]string{"network/subnet.tf": subnetTF}, "alice")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	comment(t, gh, repo, pr, "bob", "atoll revert")
	waitComment(t, gh, repo, pr, "`atoll revert` reverts a merged pull request, and #"+strconv.Itoa(pr)+" is not merged.")
	merge := mergePR(t, gh, repo, pr)
	waitStatus(t, gh, repo, merge, "atoll/apply", vcs.StatusSuccess)
	if !stateHas(t, stateDir, "network", "terraform_data.subnet") {
		t.Fatal("the merge did not apply terraform_data.subnet")
	}

	comment(t, gh, repo, pr, "mallory", "atoll revert")
	waitComment(t, gh, repo, pr, "@mallory may not run `atoll revert`")
	comment(t, gh, repo, pr, "bob", "atoll revert")
	c := waitComment(t, gh, repo, pr, "### Revert opened: #")
	t.Logf("revert comment:\n%s", c.Body)
	revertPR := pr + 1
	if !strings.Contains(c.Body, "#"+strconv.Itoa(revertPR)+" reverts this pull request") {
		t.Fatalf("revert comment does not name #%d:\n%s", revertPR, c.Body)
	}
	revertHead, err := gh.BranchSHA(repo, "atoll/revert-"+strconv.Itoa(pr))
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, revertHead, "atoll/plan", vcs.StatusSuccess)
	plan := waitComment(t, gh, repo, revertPR, "terraform_data.subnet", "1 to destroy")
	t.Logf("plan of the revert pull request:\n%s", plan.Body)

	comment(t, gh, repo, pr, "bob", "atoll revert")
	waitComment(t, gh, repo, pr, "the branch `atoll/revert-"+strconv.Itoa(pr)+"` exists already")

	revertMerge := mergePR(t, gh, repo, revertPR)
	waitStatus(t, gh, repo, revertMerge, "atoll/apply", vcs.StatusSuccess)
	if stateHas(t, stateDir, "network", "terraform_data.subnet") || !stateHas(t, stateDir, "network", "terraform_data.vpc") {
		t.Error("merging the revert did not restore the state from before the first merge (vpc only)")
	}
}

// A merge queue's merge group gets an atoll/plan status on its commit: a
// plan of what the group changes, success when every project plans and
// failure when one does not. No comment is posted for it.
func TestE2EMergeGroup(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	startAtoll(t, gh, t.TempDir())
	repo := networkRepo(t, gh, "infra", t.TempDir())

	sha, pr := openPR(t, gh, repo, "add-subnet", map[string]string{"network/subnet.tf": subnetTF}, "alice")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	comments := len(gh.Comments(repo, pr))
	_, group, err := gh.EnqueueMergeGroup(ctx, repo, pr)
	if err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, gh, repo, group, "atoll/plan", vcs.StatusSuccess)
	if st.Description != "1 project planned" {
		t.Errorf("merge group status = %q, want \"1 project planned\"", st.Description)
	}

	bad := "resource \"terraform_data\" \"broken\" {\n  input = var.missing\n}\n"
	sha2, pr2 := openPR(t, gh, repo, "broken", map[string]string{"network/broken.tf": bad}, "alice")
	waitQueued(t, gh, repo, sha2) // behind #1's lock on network
	_, group2, err := gh.EnqueueMergeGroup(ctx, repo, pr, pr2)
	if err != nil {
		t.Fatal(err)
	}
	st = waitStatus(t, gh, repo, group2, "atoll/plan", vcs.StatusFailure)
	if !strings.Contains(st.Description, "network") {
		t.Errorf("failed merge group status = %q, want it to name network", st.Description)
	}
	if got := len(gh.Comments(repo, pr)); got != comments {
		t.Errorf("merge groups posted %d comments on #%d, want none", got-comments, pr)
	}
}
