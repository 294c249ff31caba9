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
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCheckoutBranchThenLaterSHA(t *testing.T) {
	t.Parallel()
	g := newGitRepo(t, map[string]string{"main.tf": "# base\n"})
	sha1 := g.commit("feature", map[string]string{"net/main.tf": "# v1\n"})
	r := newTestRunner(t)

	dir := g.checkout(t, r, "feature", sha1)
	if got := readFile(t, filepath.Join(dir, "net/main.tf")); got != "# v1\n" {
		t.Errorf("after first checkout net/main.tf = %q, want v1", got)
	}
	if got := g.git(dir, "rev-parse", "HEAD"); got != sha1 {
		t.Errorf("HEAD = %s, want %s", got, sha1)
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

	sha2 := g.commit("feature", map[string]string{"net/main.tf": "# v2\n"})
	dir2 := g.checkout(t, r, "feature", sha2)
	if dir2 != dir {
		t.Errorf("second checkout dir = %s, want the same worktree %s", dir2, dir)
	}
	if got := readFile(t, filepath.Join(dir, "net/main.tf")); got != "# v2\n" {
		t.Errorf("after second checkout net/main.tf = %q, want v2", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "net/leftover.tfvars")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("untracked leftover.tfvars survived the checkout (stat err %v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "net/.terraform/junk")); err != nil {
		t.Errorf("untracked .terraform did not survive the checkout: %v", err)
	}

	// Going back to an older commit of the branch works from the mirror.
	g.checkout(t, r, "feature", sha1)
	if got := readFile(t, filepath.Join(dir, "net/main.tf")); got != "# v1\n" {
		t.Errorf("after checkout of older sha net/main.tf = %q, want v1", got)
	}

	// A commit that is not on the branch's tip is fetched by SHA.
	g.git(g.work, "checkout", "--quiet", "main")
	sha3 := g.commit("other", map[string]string{"other.tf": "# other\n"})
	g.checkout(t, r, "feature", sha3)
	if got := readFile(t, filepath.Join(dir, "other.tf")); got != "# other\n" {
		t.Errorf("after checkout of off-branch sha other.tf = %q", got)
	}

	// A deleted branch (closed PR) still checks out a commit the mirror has,
	// and fails clearly for one it lacks.
	g.git(g.work, "push", "--quiet", "origin", "--delete", "feature")
	g.checkout(t, r, "feature", sha2)
	if _, err := r.Checkout(context.Background(), Checkout{BaseRepo: g.repo(), HeadCloneURL: g.url(), HeadBranch: "feature", HeadSHA: strings.Repeat("ab", 20), Pull: 1}); err == nil || !strings.Contains(err.Error(), "feature") {
		t.Errorf("checkout of a missing commit on a deleted branch: err = %v, want one naming the branch", err)
	}

	// A worktree deleted behind the runner's back is re-created.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	g.checkout(t, r, "feature", sha2)
	if got := readFile(t, filepath.Join(dir, "net/main.tf")); got != "# v2\n" {
		t.Errorf("after re-creating the worktree net/main.tf = %q, want v2", got)
	}
}

func TestCheckoutRejectsBadInput(t *testing.T) {
	t.Parallel()
	g := newGitRepo(t, map[string]string{"main.tf": "# base\n"})
	sha := g.git(g.work, "rev-parse", "HEAD")
	r := newTestRunner(t)
	good := Checkout{BaseRepo: g.repo(), HeadCloneURL: g.url(), HeadBranch: "main", HeadSHA: sha, Pull: 1}

	tests := []struct {
		name   string
		modify func(*Checkout)
		want   string
	}{
		{"ext transport", func(c *Checkout) { c.HeadCloneURL = "ext::sh -c touch% /tmp/pwned" }, "clone URL"},
		{"ssh url", func(c *Checkout) { c.HeadCloneURL = "ssh://-oProxyCommand=evil/x" }, "scheme"},
		{"scp-like", func(c *Checkout) { c.HeadCloneURL = "git@github.com:acme/infra.git" }, "clone URL"},
		{"credentials in url", func(c *Checkout) { c.HeadCloneURL = "https://user:secret@example.com/acme/infra" }, "credentials"},
		{"option as url", func(c *Checkout) { c.HeadCloneURL = "--upload-pack=evil" }, "clone URL"},
		{"short sha", func(c *Checkout) { c.HeadSHA = "abc123" }, "head commit"},
		{"option as branch", func(c *Checkout) { c.HeadBranch = "--force" }, "head branch"},
		{"dotdot branch", func(c *Checkout) { c.HeadBranch = "a..b" }, "head branch"},
		{"zero pull", func(c *Checkout) { c.Pull = 0 }, "pull number"},
		{"bad owner", func(c *Checkout) { c.BaseRepo.Owner = ".." }, "invalid repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			co := good
			tt.modify(&co)
			_, err := r.Checkout(context.Background(), co)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Checkout error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(r.dataDir, "worktrees")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rejected checkouts created a worktree (stat err %v)", err)
	}
}

func TestCheckoutTokenNeverOnDisk(t *testing.T) {
	t.Parallel()
	const token = "ghs_SuperSecretToken1234567890"
	g := newGitRepo(t, map[string]string{"main.tf": "# base\n"})
	sha := g.commit("feature", map[string]string{"main.tf": "# feature\n"})
	srv := serveGitHTTP(t, filepath.Dir(g.bare), token)
	url := srv.URL + "/origin.git"
	r := newTestRunner(t)
	repo := g.repo()
	repo.CloneURL = url
	co := Checkout{BaseRepo: repo, HeadCloneURL: url, HeadBranch: "feature", HeadSHA: sha, Pull: 7, Token: token}

	// Without the token the server refuses, so the token is really what works.
	noToken := co
	noToken.Token = ""
	if _, err := r.Checkout(context.Background(), noToken); err == nil {
		t.Fatal("Checkout without a token succeeded against a server requiring one")
	}
	wrong := co
	wrong.Token = token + "-wrong"
	if _, err := r.Checkout(context.Background(), wrong); err == nil {
		t.Fatal("Checkout with a wrong token succeeded")
	} else if strings.Contains(err.Error(), token) {
		t.Errorf("error text contains the token: %v", err)
	}

	dir, err := r.Checkout(context.Background(), co)
	if err != nil {
		t.Fatalf("Checkout with token: %v", err)
	}
	if got := readFile(t, filepath.Join(dir, "main.tf")); got != "# feature\n" {
		t.Errorf("main.tf = %q", got)
	}
	behind, err := r.BehindBase(context.Background(), co, "main")
	if err != nil {
		t.Fatalf("BehindBase over http: %v", err)
	}
	if behind {
		t.Error("BehindBase = true for a branch made from main's head")
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

func TestBehindBase(t *testing.T) {
	t.Parallel()
	g := newGitRepo(t, map[string]string{"main.tf": "# base\n"})
	sha := g.commit("feature", map[string]string{"net.tf": "# net\n"})
	r := newTestRunner(t)
	co := Checkout{BaseRepo: g.repo(), HeadCloneURL: g.url(), HeadBranch: "feature", HeadSHA: sha, Pull: 3}

	// Not checked out yet: BehindBase fetches the head itself.
	behind, err := r.BehindBase(context.Background(), co, "main")
	if err != nil {
		t.Fatalf("BehindBase: %v", err)
	}
	if behind {
		t.Error("BehindBase = true before main moved")
	}

	g.git(g.work, "checkout", "--quiet", "main")
	g.commit("main", map[string]string{"other.tf": "# moved on\n"})
	behind, err = r.BehindBase(context.Background(), co, "main")
	if err != nil {
		t.Fatalf("BehindBase: %v", err)
	}
	if !behind {
		t.Error("BehindBase = false after main gained a commit the PR lacks")
	}

	if _, err := r.BehindBase(context.Background(), co, "no-such-branch"); err == nil {
		t.Error("BehindBase of a missing base branch succeeded")
	}
	if _, err := r.BehindBase(context.Background(), co, "../evil"); err == nil {
		t.Error("BehindBase accepted a malformed branch name")
	}
}

func TestRemovePull(t *testing.T) {
	t.Parallel()
	g := newGitRepo(t, map[string]string{"main.tf": "# base\n"})
	sha := g.git(g.work, "rev-parse", "HEAD")
	r := newTestRunner(t)
	repo := g.repo()
	dir := g.checkout(t, r, "main", sha)
	plan := r.PlanPath(repo, 1, ".", "default")
	if err := os.MkdirAll(filepath.Dir(plan), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plan, []byte("plan"), 0o600); err != nil {
		t.Fatal(err)
	}

	if err := r.RemovePull(context.Background(), repo, 1); err != nil {
		t.Fatalf("RemovePull: %v", err)
	}
	for _, p := range []string{dir, plan} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists after RemovePull (stat err %v)", p, err)
		}
	}
	mirror, _ := r.mirrorPath(repo)
	if out := g.git(mirror, "worktree", "list"); strings.Contains(out, dir) {
		t.Errorf("mirror still lists the worktree:\n%s", out)
	}
	if out := g.git(mirror, "for-each-ref", "refs/atoll/pr/"); out != "" {
		t.Errorf("mirror still has the PR ref: %s", out)
	}
	// Removing again, and checking out again, both work.
	if err := r.RemovePull(context.Background(), repo, 1); err != nil {
		t.Errorf("second RemovePull: %v", err)
	}
	g.checkout(t, r, "main", sha)
}

// A mirror left half-made (the server was killed while git created it, and
// git died with it) is made again instead of failing every later checkout.
func TestCheckoutRepairsHalfMadeMirror(t *testing.T) {
	t.Parallel()
	g := newGitRepo(t, map[string]string{"main.tf": "# base\n"})
	sha := g.commit("feature", map[string]string{"net/main.tf": "# v1\n"})
	r := newTestRunner(t)
	mirror, err := r.mirrorPath(g.repo())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(mirror, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mirror, "HEAD"), []byte("ref: refs/heads/main\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(mirror+".new/objects", 0o700); err != nil { // an unfinished earlier attempt
		t.Fatal(err)
	}
	dir := g.checkout(t, r, "feature", sha)
	if got := readFile(t, filepath.Join(dir, "net/main.tf")); got != "# v1\n" {
		t.Errorf("net/main.tf = %q after repairing the mirror", got)
	}
}
