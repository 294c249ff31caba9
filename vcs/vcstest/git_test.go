package vcstest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := testCtx(t)
	for _, tc := range []struct {
		name  string
		token string
		want  int
	}{
		{"no token", "", 401},
		{"wrong token", "nope", 401},
		{"right token", testToken, 200},
	} {
		_, resp, err := newClient(t, f.s, tc.token).PullRequests.Get(ctx, "acme", "infra", f.num)
		if resp == nil || resp.StatusCode != tc.want {
			t.Errorf("%s: response %v err %v, want %d", tc.name, resp, err, tc.want)
		}
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+testToken))
	for _, tc := range []struct {
		name, path, auth string
		want             int
		message          string
	}{
		{"token scheme", "/api/v3/repos/acme/infra", "token " + testToken, 200, ""},
		{"bearer scheme", "/api/v3/repos/acme/infra", "Bearer " + testToken, 200, ""},
		{"basic with token password", "/api/v3/repos/acme/infra", basic, 200, ""},
		{"missing auth message", "/api/v3/repos/acme/infra", "", 401, "Requires authentication"},
		{"bad auth message", "/api/v3/repos/acme/infra", "token wrong", 401, "Bad credentials"},
		{"unknown route", "/api/v3/repos/acme/infra/deployments", "token " + testToken, 404, "Not Found"},
		{"unknown method", "/api/v3/repos/acme/infra/pulls/1/merge", "token " + testToken, 404, "Not Found"},
		{"git without auth", "/acme/infra.git/info/refs?service=git-upload-pack", "", 401, ""},
		{"git push advertisement", "/acme/infra.git/info/refs?service=git-receive-pack", basic, 200, ""},
		{"git push without auth", "/acme/infra.git/info/refs?service=git-receive-pack", "", 401, ""},
		{"git unknown repo", "/acme/nope.git/info/refs?service=git-upload-pack", basic, 404, ""},
	} {
		method := http.MethodGet
		if tc.name == "unknown method" {
			method = http.MethodPost // the route serves PUT only
		}
		resp := rawRequest(t, method, f.s.URL()+tc.path, tc.auth)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
			continue
		}
		if tc.message != "" {
			var body struct{ Message string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Message != tc.message {
				t.Errorf("%s: message %q (%v), want %q", tc.name, body.Message, err, tc.message)
			}
		}
		if tc.name == "git without auth" && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("git 401 without a Basic challenge: %q", resp.Header.Get("WWW-Authenticate"))
		}
	}
}

func TestEnterpriseURLs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	// vcs/github configures go-github with WithEnterpriseURLs(server URL).
	c, err := github.NewClient(nil).WithAuthToken(testToken).WithEnterpriseURLs(f.s.URL(), f.s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL.String() != f.s.APIURL() {
		t.Errorf("BaseURL %s, want %s", c.BaseURL, f.s.APIURL())
	}
	pr, _, err := c.PullRequests.Get(testCtx(t), "acme", "infra", f.num)
	if err != nil || pr.GetNumber() != f.num {
		t.Errorf("Get via enterprise URLs = %v, %v", pr, err)
	}
}

func TestGitCloneAndFetch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := testCtx(t)
	dir := t.TempDir()
	clone := filepath.Join(dir, "clone")

	if out, err := runGit(t, dir, "clone", f.repo.CloneURL, "noauth"); err == nil {
		t.Errorf("clone without a token succeeded: %s", out)
	}
	basic := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+testToken))
	gitCmd(t, dir, "-c", "http.extraHeader="+basic, "clone", "--quiet", f.repo.CloneURL, clone)
	if got := gitCmd(t, clone, "rev-parse", "HEAD"); got != mustResolve(t, f.s, "main") {
		t.Errorf("cloned HEAD %s, want main", got)
	}
	readme, err := os.ReadFile(filepath.Join(clone, "README.md"))
	if err != nil || string(readme) != "# infra\n" {
		t.Errorf("README.md = %q, %v", readme, err)
	}
	// Bearer tokens work too, and GitHub's pull refs are fetchable.
	bearer := "Authorization: Bearer " + testToken
	gitCmd(t, clone, "-c", "http.extraHeader="+bearer, "fetch", "--quiet", "origin", "+refs/pull/1/head:refs/remotes/origin/pr1")
	if got := gitCmd(t, clone, "rev-parse", "refs/remotes/origin/pr1"); got != f.headSHA {
		t.Errorf("refs/pull/1/head = %s, want %s", got, f.headSHA)
	}
	// A later push is visible to fetch, and moves the pull ref.
	sha, err := f.s.Push(ctx, f.repo, "feature", map[string]string{"network/new.tf": "locals { x = 2 }\n"}, "Second")
	if err != nil {
		t.Fatal(err)
	}
	gitCmd(t, clone, "-c", "http.extraHeader="+basic, "fetch", "--quiet", "origin", "+refs/pull/1/head:refs/remotes/origin/pr1")
	if got := gitCmd(t, clone, "rev-parse", "refs/remotes/origin/pr1"); got != sha {
		t.Errorf("after push refs/pull/1/head = %s, want %s", got, sha)
	}
	if got := gitCmd(t, clone, "show", sha+":network/new.tf"); got != "locals { x = 2 }" {
		t.Errorf("pushed file = %q", got)
	}
	// Symlink commits a symbolic link (mode 120000), as a pull request can.
	linkSHA, err := f.s.Push(ctx, f.repo, "feature", map[string]string{"zero": Symlink("/dev/zero")}, "Link")
	if err != nil {
		t.Fatal(err)
	}
	if got := gitCmd(t, clone, "-c", "http.extraHeader="+basic, "fetch", "--quiet", "origin", "+refs/pull/1/head:refs/remotes/origin/pr1"); got != "" {
		t.Logf("fetch: %s", got)
	}
	if got := gitCmd(t, clone, "ls-tree", linkSHA, "zero"); !strings.HasPrefix(got, "120000 blob ") {
		t.Errorf("ls-tree zero = %q, want a symbolic link (120000)", got)
	}
	if got := gitCmd(t, clone, "cat-file", "-p", linkSHA+":zero"); got != "/dev/zero" {
		t.Errorf("link target = %q, want /dev/zero", got)
	}
	// Pushing over HTTP updates no existing branch, and creates new ones.
	gitCmd(t, clone, "-c", "user.name=T", "-c", "user.email=t@t", "commit", "--allow-empty", "-q", "-m", "x")
	mainBefore, _ := f.s.BranchSHA(f.repo, "main")
	if out, err := runGit(t, clone, "-c", "user.name=T", "-c", "user.email=t@t", "-c", "http.extraHeader="+basic, "push", "origin", "HEAD:main"); err == nil {
		t.Errorf("push updating main over HTTP succeeded: %s", out)
	}
	if after, _ := f.s.BranchSHA(f.repo, "main"); after != mainBefore {
		t.Errorf("main moved from %s to %s after a refused push", mainBefore, after)
	}
	if out, err := runGit(t, clone, "push", "origin", "HEAD:refs/heads/no-token"); err == nil {
		t.Errorf("push without a token succeeded: %s", out)
	}
	if out, err := runGit(t, clone, "-c", "http.extraHeader="+basic, "push", "origin", "HEAD:refs/heads/revert-1"); err != nil {
		t.Errorf("push creating a branch: %v: %s", err, out)
	}
	local := gitCmd(t, clone, "rev-parse", "HEAD")
	if got, err := f.s.BranchSHA(f.repo, "revert-1"); err != nil || got != local {
		t.Errorf("branch revert-1 = %q, %v after the push; want %s", got, err, local)
	}
	if out, err := runGit(t, clone, "-c", "http.extraHeader="+basic, "push", "--force", "origin", "HEAD~1:refs/heads/revert-1"); err == nil {
		t.Errorf("a force push moving the new branch succeeded: %s", out)
	}
	// Username and password in the URL (token as password) work as well.
	authURL := strings.Replace(f.repo.CloneURL, "http://", "http://x-access-token:"+testToken+"@", 1)
	gitCmd(t, dir, "clone", "--quiet", authURL, filepath.Join(dir, "basic"))
}

func TestMergeMakesMergeCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := testCtx(t)
	before := mustResolve(t, f.s, "main")
	if err := f.s.ClosePull(ctx, f.repo, f.num, true); err != nil {
		t.Fatalf("ClosePull merge: %v", err)
	}
	after := mustResolve(t, f.s, "main")
	gitDir := f.s.gitDir("acme", "infra")
	parents := gitCmd(t, gitDir, "show", "-s", "--format=%P", after)
	if parents != before+" "+f.headSHA {
		t.Errorf("merge parents %q, want %q", parents, before+" "+f.headSHA)
	}
	if got := gitCmd(t, gitDir, "show", after+":network/new.tf"); got != "locals { x = 1 }" {
		t.Errorf("merged file = %q", got)
	}
	pr, _, err := f.gh.PullRequests.Get(ctx, "acme", "infra", f.num)
	if err != nil {
		t.Fatal(err)
	}
	if pr.GetState() != "closed" || !pr.GetMerged() || pr.GetMergeCommitSHA() != after {
		t.Errorf("after merge: state %s merged %v merge sha %s", pr.GetState(), pr.GetMerged(), pr.GetMergeCommitSHA())
	}
	// The merged PR still lists its own files, not an empty diff.
	files, _, err := f.gh.PullRequests.ListFiles(ctx, "acme", "infra", f.num, nil)
	if err != nil || len(files) != 4 {
		t.Errorf("files after merge: %d, %v; want 4", len(files), err)
	}
	if err := f.s.ClosePull(ctx, f.repo, f.num, false); err == nil {
		t.Error("closing a closed pull request succeeded")
	}
	if err := f.s.ReopenPull(ctx, f.repo, f.num); err == nil {
		t.Error("reopening a merged pull request succeeded")
	}
}

func mustResolve(t *testing.T, s *Server, branch string) string {
	t.Helper()
	resp := rawRequest(t, http.MethodGet, s.APIURL()+"repos/acme/infra/branches/"+branch, "token "+testToken)
	body, _ := io.ReadAll(resp.Body)
	var b github.Branch
	if err := json.Unmarshal(body, &b); err != nil || b.GetCommit().GetSHA() == "" {
		t.Fatalf("branch %s: %s (%v)", branch, body, err)
	}
	return b.GetCommit().GetSHA()
}
