package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/atollhq/atoll/locking/bolt"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/vcs"
)

// recVCS is a fake GitHub that serves one pull request and records comments
// and statuses. Like the real client it fails calls whose context is done.
type recVCS struct {
	mu   sync.Mutex // guards pull, comments, statuses, permCalls
	pull vcs.PullRequest
	// perms are users' repository permissions; a user not listed has write.
	perms     map[string]vcs.Permission
	permCalls int
	reviews   []vcs.Review
	changed   []string
	comments  []string
	statuses  []vcs.Status
}

func (f *recVCS) GetPullRequest(ctx context.Context, _ vcs.Repo, num int) (vcs.PullRequest, error) {
	if err := ctx.Err(); err != nil {
		return vcs.PullRequest{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if num != f.pull.Num {
		return vcs.PullRequest{}, fmt.Errorf("get pull %d: %w", num, vcs.ErrNotFound)
	}
	return f.pull, nil
}

func (f *recVCS) ListChangedFiles(ctx context.Context, _ vcs.Repo, _ int) ([]string, error) {
	return f.changed, ctx.Err()
}

func (f *recVCS) CreateComment(ctx context.Context, _ vcs.Repo, _ int, body string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.comments = append(f.comments, body)
	return int64(len(f.comments)), nil
}

func (f *recVCS) UpdateComment(ctx context.Context, _ vcs.Repo, id int64, body string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.comments[id-1] = body
	return nil
}

func (f *recVCS) SetStatus(ctx context.Context, _ vcs.Repo, st vcs.Status) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses = append(f.statuses, st)
	return nil
}

func (f *recVCS) ListReviews(ctx context.Context, _ vcs.Repo, _ int) ([]vcs.Review, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]vcs.Review(nil), f.reviews...), ctx.Err()
}

func (f *recVCS) RepoPermission(ctx context.Context, _ vcs.Repo, user string) (vcs.Permission, error) {
	if err := ctx.Err(); err != nil {
		return vcs.PermNone, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.permCalls++
	if p, ok := f.perms[user]; ok {
		return p, nil
	}
	return vcs.PermWrite, nil
}

// lastStatus returns the last status recorded for context name.
func (f *recVCS) lastStatus(name string) (vcs.Status, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.statuses) - 1; i >= 0; i-- {
		if f.statuses[i].Context == name {
			return f.statuses[i], true
		}
	}
	return vcs.Status{}, false
}

func (f *recVCS) allComments() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.comments...)
}

// fakeRunner checks out a fixed directory and runs every job with run.
type fakeRunner struct {
	dir     string
	planDir string
	run     func(ctx context.Context, job runner.Job) (runner.Result, error)
}

func (f *fakeRunner) Checkout(ctx context.Context, _ runner.Checkout) (string, error) {
	return f.dir, ctx.Err()
}

func (f *fakeRunner) Run(ctx context.Context, job runner.Job) (runner.Result, error) {
	return f.run(ctx, job)
}

func (f *fakeRunner) RemovePull(context.Context, vcs.Repo, int) error { return nil }

func (f *fakeRunner) BehindBase(context.Context, runner.Checkout, string) (bool, error) {
	return false, nil
}

func (f *fakeRunner) Binary(string, string) (string, error) { return "terraform", nil }

func (f *fakeRunner) PlanPath(_ vcs.Repo, pull int, dir, workspace string) string {
	return filepath.Join(f.planDir, fmt.Sprintf("%d-%s-%s.tfplan", pull, filepath.Base(dir), workspace))
}

var testRepo = vcs.Repo{Host: "github.com", Owner: "acme", Name: "infra", CloneURL: "https://github.com/acme/infra.git"}

const testSHA = "0123456789abcdef0123456789abcdef01234567"

// openPull is an open PR #1 of testRepo from a branch of testRepo itself.
func openPull() vcs.PullRequest {
	return vcs.PullRequest{BaseRepo: testRepo, HeadRepo: testRepo, Num: 1, HeadSHA: testSHA, HeadBranch: "feature",
		BaseBranch: "main", Author: "alice", State: vcs.PullOpen, URL: "https://github.com/acme/infra/pull/1"}
}

// newPipelineServer returns a server running work in process, against a fake
// GitHub serving pull and a repo with one root Terraform project.
func newPipelineServer(t *testing.T, cfg Config, pull vcs.PullRequest, run func(context.Context, runner.Job) (runner.Result, error)) (*Server, *recVCS) {
	t.Helper()
	st, err := bolt.New(filepath.Join(t.TempDir(), "atoll.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte("resource \"terraform_data\" \"x\" {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gh := &recVCS{pull: pull, changed: []string{"main.tf"}}
	cfg.Parser = fakeParser{err: fmt.Errorf("unused")}
	cfg.VCS, cfg.Store, cfg.Runner = gh, st, &fakeRunner{dir: dir, planDir: t.TempDir(), run: run}
	if cfg.RepoAllowlist == nil {
		cfg.RepoAllowlist = []string{"github.com/acme/*"}
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s, gh
}

// waitJobs waits until n jobs have finished.
func waitJobs(t *testing.T, s *Server, n int) []JobInfo {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		done := 0
		jobs := s.jobs.list()
		for _, j := range jobs {
			if jobEnded(j.State) {
				done++
			}
		}
		if done >= n {
			return jobs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs finished: %+v", done, n, jobs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
