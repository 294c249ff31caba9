package runner

import (
	"context"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/atollhq/atoll/vcs"
)

// checkoutBranch checks out branch of repo g with no token.
func (g *gitRepo) checkoutBranch(t *testing.T, r *Runner, branch string) (dir, sha string) {
	t.Helper()
	dir, sha, err := r.CheckoutBranch(context.Background(), g.repo(), branch, "")
	if err != nil {
		t.Fatalf("CheckoutBranch(%s): %v", branch, err)
	}
	return dir, sha
}

func TestCheckoutBranchFollowsTip(t *testing.T) {
	t.Parallel()
	g := newGitRepo(t, map[string]string{"net/main.tf": "# v1\n"})
	sha1 := g.git(g.work, "rev-parse", "HEAD")
	r := newTestRunner(t)

	dir, sha := g.checkoutBranch(t, r, "main")
	if want := filepath.Join(r.dataDir, "worktrees", "example.com", "acme", "infra", "branch-main"); dir != want {
		t.Errorf("dir = %s, want %s", dir, want)
	}
	if sha != sha1 {
		t.Errorf("sha = %s, want main's tip %s", sha, sha1)
	}
	if got := g.git(dir, "rev-parse", "HEAD"); got != sha1 {
		t.Errorf("HEAD = %s, want %s", got, sha1)
	}
	if got := readFile(t, filepath.Join(dir, "net/main.tf")); got != "# v1\n" {
		t.Errorf("net/main.tf = %q, want v1", got)
	}
	// Leftovers of a run (ignored files) must not survive a push; what init
	// left (.terraform) does, for the next init to reuse (see init_cache.go).
	if err := os.WriteFile(filepath.Join(dir, "net/leftover.tfvars"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "net/.terraform"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "net/.terraform/junk"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	sha2 := g.commit("main", map[string]string{"net/main.tf": "# v2\n"})
	dir2, got2 := g.checkoutBranch(t, r, "main")
	if dir2 != dir {
		t.Errorf("second checkout dir = %s, want the same worktree %s", dir2, dir)
	}
	if got2 != sha2 || got2 == sha1 {
		t.Errorf("second checkout sha = %s, want the new tip %s", got2, sha2)
	}
	if got := readFile(t, filepath.Join(dir, "net/main.tf")); got != "# v2\n" {
		t.Errorf("after the new commit net/main.tf = %q, want v2", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "net/leftover.tfvars")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("untracked leftover.tfvars survived the checkout (stat err %v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "net/.terraform/junk")); err != nil {
		t.Errorf("untracked .terraform did not survive the checkout: %v", err)
	}

	// A force-push that rewinds the branch is followed too.
	g.git(g.work, "push", "--quiet", "--force", "origin", sha1+":refs/heads/main")
	if _, got := g.checkoutBranch(t, r, "main"); got != sha1 {
		t.Errorf("after a force-push back, sha = %s, want %s", got, sha1)
	}

	// A branch name with slashes gets one escaped directory.
	shaNested := g.commit("release/1.0", map[string]string{"rel.tf": "# 1.0\n"})
	nested, gotNested := g.checkoutBranch(t, r, "release/1.0")
	if filepath.Base(nested) != "branch-release%2F1.0" || filepath.Dir(nested) != filepath.Dir(dir) {
		t.Errorf("dir of release/1.0 = %s, want a sibling named branch-release%%2F1.0", nested)
	}
	if gotNested != shaNested || readFile(t, filepath.Join(nested, "rel.tf")) != "# 1.0\n" {
		t.Errorf("release/1.0 checked out at %s, want %s", gotNested, shaNested)
	}
	// Once release/1.0 is deleted, a branch named release can be checked out
	// next to its old worktree: the mirror's refs never clash as file and directory.
	g.git(g.work, "checkout", "--quiet", "main")
	g.git(g.work, "branch", "--quiet", "-D", "release/1.0")
	g.git(g.work, "push", "--quiet", "origin", "--delete", "release/1.0")
	g.commit("release", map[string]string{"rel.tf": "# release\n"})
	if flat, _ := g.checkoutBranch(t, r, "release"); readFile(t, filepath.Join(flat, "rel.tf")) != "# release\n" {
		t.Errorf("release checkout has the wrong content")
	}

	// A worktree deleted behind the runner's back is re-created.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, got := g.checkoutBranch(t, r, "main"); got != sha1 || readFile(t, filepath.Join(dir, "net/main.tf")) != "# v1\n" {
		t.Errorf("re-created worktree is at %s, want %s with v1", got, sha1)
	}

	if _, _, err := r.CheckoutBranch(context.Background(), g.repo(), "no-such-branch", ""); err == nil || !strings.Contains(err.Error(), "no-such-branch") {
		t.Errorf("checkout of a missing branch: err = %v, want one naming the branch", err)
	}
}

func TestCheckoutBranchAndPullCoexist(t *testing.T) {
	t.Parallel()
	g := newGitRepo(t, map[string]string{"main.tf": "# main\n"})
	mainSHA := g.git(g.work, "rev-parse", "HEAD")
	featSHA := g.commit("feature", map[string]string{"main.tf": "# feature\n"})
	r := newTestRunner(t)
	repo := g.repo()

	pullDir := g.checkout(t, r, "feature", featSHA)
	branchDir, sha := g.checkoutBranch(t, r, "main")
	if pullDir == branchDir {
		t.Fatalf("pull and branch share the worktree %s", pullDir)
	}
	if sha != mainSHA {
		t.Errorf("branch sha = %s, want %s", sha, mainSHA)
	}
	check := func(when string) {
		t.Helper()
		if got := readFile(t, filepath.Join(pullDir, "main.tf")); got != "# feature\n" {
			t.Errorf("%s: pull worktree main.tf = %q", when, got)
		}
		if got := readFile(t, filepath.Join(branchDir, "main.tf")); got != "# main\n" {
			t.Errorf("%s: branch worktree main.tf = %q", when, got)
		}
	}
	check("after both checkouts")
	// Moving the PR leaves the branch alone, and the other way round.
	featSHA2 := g.commit("feature", map[string]string{"main.tf": "# feature\n", "more.tf": "# more\n"})
	g.checkout(t, r, "feature", featSHA2)
	g.checkoutBranch(t, r, "main")
	check("after moving both")
	if _, err := os.Stat(filepath.Join(branchDir, "more.tf")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the PR's new file appeared in the branch worktree (stat err %v)", err)
	}

	mirror, _ := r.mirrorPath(repo)
	list := g.git(mirror, "worktree", "list", "--porcelain")
	for _, d := range []string{pullDir, branchDir} {
		if !strings.Contains(list, "worktree "+d+"\n") {
			t.Errorf("mirror does not list worktree %s:\n%s", d, list)
		}
	}
	refs := strings.Fields(g.git(mirror, "for-each-ref", "--format=%(refname)", "refs/atoll/"))
	if diff := cmp.Diff([]string{"refs/atoll/branch/main", "refs/atoll/pr/1"}, refs); diff != "" {
		t.Errorf("mirror refs (-want +got):\n%s", diff)
	}

	// Removing the pull leaves the branch worktree working, and vice versa.
	if err := r.RemovePull(context.Background(), repo, 1); err != nil {
		t.Fatalf("RemovePull: %v", err)
	}
	if got := g.git(branchDir, "rev-parse", "HEAD"); got != mainSHA {
		t.Errorf("branch worktree HEAD after RemovePull = %s, want %s", got, mainSHA)
	}
	g.checkoutBranch(t, r, "main")
	g.checkout(t, r, "feature", featSHA2)
	if err := r.RemoveBranch(context.Background(), repo, "main"); err != nil {
		t.Fatalf("RemoveBranch: %v", err)
	}
	if _, err := os.Stat(branchDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("branch worktree survived RemoveBranch (stat err %v)", err)
	}
	if got := g.git(pullDir, "rev-parse", "HEAD"); got != featSHA2 {
		t.Errorf("pull worktree HEAD after RemoveBranch = %s, want %s", got, featSHA2)
	}
	if out := g.git(mirror, "for-each-ref", "refs/atoll/branch/"); out != "" {
		t.Errorf("mirror still has the branch ref: %s", out)
	}
}

func TestCheckoutBranchRejectsBadInput(t *testing.T) {
	t.Parallel()
	g := newGitRepo(t, map[string]string{"main.tf": "# base\n"})
	r := newTestRunner(t)

	setURL := func(u string) func(*vcs.Repo) { return func(r *vcs.Repo) { r.CloneURL = u } }
	tests := []struct {
		name   string
		branch string
		modify func(*vcs.Repo) // nil leaves the repo valid
		want   string
	}{
		{name: "empty", branch: "", want: "invalid branch name"},
		{name: "option", branch: "--upload-pack=evil", want: "invalid branch name"},
		{name: "dotdot", branch: "a..b", want: "invalid branch name"},
		{name: "parent dir", branch: "../evil", want: "invalid branch name"},
		{name: "space", branch: "a b", want: "invalid branch name"},
		{name: "colon refspec", branch: "main:refs/heads/x", want: "invalid branch name"},
		{name: "reflog", branch: "main@{1}", want: "invalid branch name"},
		{name: "lock suffix", branch: "main.lock", want: "invalid branch name"},
		{name: "control char", branch: "a\x01b", want: "invalid branch name"},
		{name: "glob", branch: "ma*n", want: "invalid branch name"},
		{name: "ext transport", branch: "main", modify: setURL("ext::sh -c touch% /tmp/pwned"), want: "clone URL"},
		{name: "ssh url", branch: "main", modify: setURL("ssh://-oProxyCommand=evil/x"), want: "scheme"},
		{name: "credentials in url", branch: "main", modify: setURL("https://user:secret@example.com/acme/infra"), want: "credentials"},
		{name: "empty url", branch: "main", modify: setURL(""), want: "clone URL is empty"},
		{name: "bad owner", branch: "main", modify: func(r *vcs.Repo) { r.Owner = ".." }, want: "invalid repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := g.repo()
			if tt.modify != nil {
				tt.modify(&repo)
			}
			_, _, err := r.CheckoutBranch(context.Background(), repo, tt.branch, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckoutBranch error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	for _, sub := range []string{"worktrees", "repos"} {
		if _, err := os.Stat(filepath.Join(r.dataDir, sub)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("rejected checkouts created %s (stat err %v)", sub, err)
		}
	}
	if err := r.RemoveBranch(context.Background(), g.repo(), "../evil"); err == nil {
		t.Error("RemoveBranch accepted a malformed branch name")
	}
}

func TestCheckoutBranchTokenNeverOnDisk(t *testing.T) {
	t.Parallel()
	const token = "ghs_BranchSecretToken0987654321"
	g := newGitRepo(t, map[string]string{"main.tf": "# base\n"})
	sha := g.commit("main", map[string]string{"main.tf": "# second\n"})
	srv := serveGitHTTP(t, filepath.Dir(g.bare), token)
	r := newTestRunner(t)
	repo := g.repo()
	repo.CloneURL = srv.URL + "/origin.git"
	ctx := context.Background()

	// Without the token the server refuses, so the token is really what works.
	if _, _, err := r.CheckoutBranch(ctx, repo, "main", ""); err == nil {
		t.Fatal("CheckoutBranch without a token succeeded against a server requiring one")
	}
	if _, _, err := r.CheckoutBranch(ctx, repo, "main", token+"-wrong"); err == nil {
		t.Fatal("CheckoutBranch with a wrong token succeeded")
	} else if strings.Contains(err.Error(), token) {
		t.Errorf("error text contains the token: %v", err)
	}
	dir, got, err := r.CheckoutBranch(ctx, repo, "main", token)
	if err != nil {
		t.Fatalf("CheckoutBranch with token: %v", err)
	}
	if got != sha || readFile(t, filepath.Join(dir, "main.tf")) != "# second\n" {
		t.Errorf("checked out %s, want %s with the second commit", got, sha)
	}

	header := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
	files := 0
	err = filepath.WalkDir(r.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), token) || strings.Contains(string(b), header) {
			t.Errorf("%s contains the token", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 {
		t.Errorf("walked only %d files under the data dir; expected a mirror and a worktree", files)
	}
}

func TestBranchPlanPath(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t)
	g := newGitRepo(t, map[string]string{"main.tf": "# base\n"})
	repo := g.repo()
	base := filepath.Join(r.dataDir, "plans", "example.com", "acme", "infra")
	tests := []struct {
		branch, dir, workspace string
		want                   string
	}{
		{"main", ".", "default", filepath.Join(base, "branch-main", "%2E", "default.tfplan")},
		{"main", "net/app/", "prod", filepath.Join(base, "branch-main", "net%2Fapp", "prod.tfplan")},
		{"release/1.0", "net", "default", filepath.Join(base, "branch-release%2F1.0", "net", "default.tfplan")},
	}
	for _, tt := range tests {
		if got := r.BranchPlanPath(repo, tt.branch, tt.dir, tt.workspace); got != tt.want {
			t.Errorf("BranchPlanPath(%q, %q, %q) = %s, want %s", tt.branch, tt.dir, tt.workspace, got, tt.want)
		}
	}
	if r.BranchPlanPath(repo, "main", "net", "default") == r.PlanPath(repo, 1, "net", "default") {
		t.Error("a branch plan and a PR plan share a path")
	}

	// RemovePull leaves branch plans alone; RemoveBranch deletes them.
	g.checkoutBranch(t, r, "main")
	plan := r.BranchPlanPath(repo, "main", "net", "default")
	if err := os.MkdirAll(filepath.Dir(plan), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plan, []byte("plan"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.RemovePull(context.Background(), repo, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(plan); err != nil {
		t.Errorf("RemovePull deleted the branch plan: %v", err)
	}
	if err := r.RemoveBranch(context.Background(), repo, "main"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(plan); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("branch plan survived RemoveBranch (stat err %v)", err)
	}
	// Removing again, and checking out again, both work.
	if err := r.RemoveBranch(context.Background(), repo, "main"); err != nil {
		t.Errorf("second RemoveBranch: %v", err)
	}
	g.checkoutBranch(t, r, "main")
}
