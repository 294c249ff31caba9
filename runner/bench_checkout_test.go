package runner

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/vcs"
)

// checkoutBenchFiles is the size of BenchmarkCheckoutLargeRepo's repository:
// checkoutBenchDirs directories of checkoutBenchFiles/checkoutBenchDirs files.
const (
	checkoutBenchFiles = 5000
	checkoutBenchDirs  = 50
)

// BenchmarkCheckoutLargeRepo measures how long a second pull request of a
// 5,000-file repository takes to get a ready worktree: Runner.Checkout with
// the repository's bare mirror already made by a first pull request, so it
// fetches the PR's branch into the mirror and adds a git worktree. Each
// iteration checks out a new pull request number. The baseline, in the same
// iteration, is what a server without a mirror does: `git clone` of the same
// branch from the same file:// URL into a fresh directory.
//
// Nothing is deleted until the benchmark ends: right after deleting 5,000
// files, this file system (ext4 on a shared VM) made the next 5,000 writes up
// to twice as slow, which would charge one side for the other's clean-up.
//
// Metrics: checkout-ms, clone-ms (per pull request) and ratio
// (checkout/clone). ns/op is the checkout alone.
func BenchmarkCheckoutLargeRepo(b *testing.B) {
	git := testenv.Git(b)
	origin, sha := largeBenchRepo(b, git)
	url := "file://" + origin
	repo := vcs.Repo{Host: "example.com", Owner: "acme", Name: "large", CloneURL: url, DefaultBranch: "main"}
	// The runner and the baseline's git run with the same environment.
	env := benchGitEnv(b.TempDir())
	r, err := New(Config{DataDir: b.TempDir(), Git: git, Env: env})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	checkout := func(pull int) string {
		dir, err := r.Checkout(ctx, Checkout{BaseRepo: repo, HeadCloneURL: url, HeadBranch: "change", HeadSHA: sha, Pull: pull})
		if err != nil {
			b.Fatalf("checkout of pull %d: %v", pull, err)
		}
		return dir
	}
	cloneRoot := b.TempDir()
	clone := func(n int) time.Duration {
		dst := filepath.Join(cloneRoot, fmt.Sprint(n))
		cmd := exec.Command(git, "clone", "--quiet", "--branch", "change", "--", url, dst)
		cmd.Env = env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git clone: %v\n%s", err, out)
		}
		took := time.Since(start)
		checkFiles(b, dst)
		return took
	}

	// Warm-up, not timed: pull request 1 makes the mirror, and one clone
	// pulls the repository into the page cache.
	start := time.Now()
	dir := checkout(1)
	b.Logf("first pull request (a new mirror): %s", time.Since(start).Round(time.Millisecond))
	checkFiles(b, dir)
	clone(0)

	var coTotal, cloneTotal time.Duration
	n := 0
	for b.Loop() {
		// The two take turns going first, so neither always runs right
		// after the other's writes.
		pull := n + 2
		if n%2 == 1 {
			b.StopTimer()
			cloneTotal += clone(pull)
			b.StartTimer()
		}
		start := time.Now()
		dir := checkout(pull)
		coTotal += time.Since(start)
		b.StopTimer()
		checkFiles(b, dir)
		if n%2 == 0 {
			cloneTotal += clone(pull)
		}
		n++
		b.StartTimer()
	}
	coMS := coTotal.Seconds() * 1e3 / float64(n)
	cloneMS := cloneTotal.Seconds() * 1e3 / float64(n)
	b.ReportMetric(coMS, "checkout-ms")
	b.ReportMetric(cloneMS, "clone-ms")
	b.ReportMetric(coMS/cloneMS, "ratio")
}

// largeBenchRepo makes a bare repository of checkoutBenchFiles files on main,
// plus a branch "change" one commit ahead that edits one of them, and returns
// the bare repository's path and the branch's head.
func largeBenchRepo(b *testing.B, git string) (string, string) {
	b.Helper()
	root := b.TempDir()
	bare, work := filepath.Join(root, "origin.git"), filepath.Join(root, "work")
	env := benchGitEnv(root)
	run := func(dir string, args ...string) string {
		cmd := exec.Command(git, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(root, "init", "--quiet", "--bare", "-b", "main", bare)
	run(root, "init", "--quiet", "-b", "main", work)
	perDir := checkoutBenchFiles / checkoutBenchDirs
	for d := range checkoutBenchDirs {
		dir := filepath.Join(work, fmt.Sprintf("stack%02d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range perDir {
			body := fmt.Sprintf("resource \"terraform_data\" \"r%02d_%03d\" {\n  input = %q\n}\n", d, f, strings.Repeat("x", 64+f%256))
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%03d.tf", f)), []byte(body), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	run(work, "add", "--all")
	run(work, "commit", "--quiet", "-m", "5,000 files")
	run(work, "checkout", "--quiet", "-b", "change")
	if err := os.WriteFile(filepath.Join(work, "stack00", "r000.tf"), []byte("resource \"terraform_data\" \"changed\" {}\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	run(work, "commit", "--quiet", "-am", "change one file")
	run(work, "push", "--quiet", bare, "main", "change")
	return bare, run(work, "rev-parse", "HEAD")
}

// checkFiles fails b unless dir holds the whole repository.
func checkFiles(b *testing.B, dir string) {
	b.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" { // a worktree's is a file, a clone's a directory
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			n++
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if n != checkoutBenchFiles {
		b.Fatalf("%s holds %d files, want %d", dir, n, checkoutBenchFiles)
	}
}

// benchGitEnv is this process's environment with a fixed identity and no
// user or system git configuration, HOME being home.
func benchGitEnv(home string) []string {
	return append(os.Environ(),
		"GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.com",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+home)
}
