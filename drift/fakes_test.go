package drift

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/vcs"
)

// fakeRunner checks out a fixed directory and "plans" by writing the plan JSON
// set for the project's directory to runner.ShowFile(job.PlanFile), the way
// the real runner's show step does (an empty plan writes nothing). It records
// every job it runs.
type fakeRunner struct {
	dir     string // the checkout
	planDir string
	sha     string

	mu          sync.Mutex // guards the fields below
	plans       map[string]string
	runErr      map[string]error // by project dir
	checkoutErr error
	afterApply  func() // called, with mu held, after an apply
	jobs        []runner.Job
	running     map[string]bool // repo ID → a job of that repo is running
	overlap     bool            // two jobs of one repo ran at once
}

var _ Runner = (*fakeRunner)(nil)

// newFakeRunner returns a runner of a checkout with one project per dir.
func newFakeRunner(t *testing.T, dirs ...string) *fakeRunner {
	t.Helper()
	f := &fakeRunner{dir: t.TempDir(), planDir: t.TempDir(), sha: "abc1234def5678", plans: map[string]string{},
		runErr: map[string]error{}, running: map[string]bool{}}
	for _, d := range dirs {
		f.addProject(t, d)
	}
	return f
}

func (f *fakeRunner) addProject(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(f.dir, dir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, dir, "main.tf"), []byte("resource \"terraform_data\" \"x\" {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.setPlan(dir, inSyncPlan)
}

func (f *fakeRunner) removeProject(t *testing.T, dir string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(f.dir, dir)); err != nil {
		t.Fatal(err)
	}
}

func (f *fakeRunner) setPlan(dir, planJSON string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plans[dir] = planJSON
	delete(f.runErr, dir)
}

func (f *fakeRunner) failRun(dir string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runErr[dir] = err
}

// onApply sets what an apply does besides succeeding; fn runs with f.mu held.
func (f *fakeRunner) onApply(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.afterApply = fn
}

func (f *fakeRunner) failCheckout(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checkoutErr = err
}

// ran returns the jobs run so far, Logger cleared.
func (f *fakeRunner) ran() []runner.Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.jobs)
}

func (f *fakeRunner) CheckoutBranch(ctx context.Context, repo vcs.Repo, branch, token string) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.checkoutErr != nil {
		return "", "", f.checkoutErr
	}
	return f.dir, f.sha, ctx.Err()
}

func (f *fakeRunner) BranchPlanPath(repo vcs.Repo, branch, dir, workspace string) string {
	return filepath.Join(f.planDir, repo.Owner, repo.Name, branch, dir, workspace+".tfplan")
}

func (f *fakeRunner) Binary(string, string) (string, error) { return "terraform", nil }

func (f *fakeRunner) Run(ctx context.Context, job runner.Job) (runner.Result, error) {
	f.mu.Lock()
	job.Logger = nil
	f.jobs = append(f.jobs, job)
	key := job.Dir // one checkout per repo in these tests
	if f.running[key] {
		f.overlap = true
	}
	f.running[key] = true
	plan, runErr := f.plans[job.ProjectDir], f.runErr[job.ProjectDir]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running[key] = false
		f.mu.Unlock()
	}()
	if runErr != nil {
		return runner.Result{}, runErr
	}
	if slices.ContainsFunc(job.Steps, func(s config.Step) bool { return s.Kind == config.StepApply }) {
		if _, err := os.Stat(job.PlanFile); err != nil {
			return runner.Result{}, fmt.Errorf("apply without a plan: %w", err)
		}
		f.mu.Lock()
		if f.afterApply != nil {
			f.afterApply()
		}
		f.mu.Unlock()
		return runner.Result{Output: "Apply complete! Resources: 0 added, 1 changed, 0 destroyed.\n"}, nil
	}
	if plan == "" {
		return runner.Result{}, ctx.Err() // a workflow that wrote no plan
	}
	if err := os.MkdirAll(filepath.Dir(job.PlanFile), 0o700); err != nil {
		return runner.Result{}, err
	}
	if err := os.WriteFile(job.PlanFile, []byte("binary plan"), 0o600); err != nil {
		return runner.Result{}, err
	}
	if err := os.WriteFile(runner.ShowFile(job.PlanFile), []byte(plan), 0o600); err != nil {
		return runner.Result{}, err
	}
	return runner.Result{Output: "Plan: ..."}, ctx.Err()
}

// issueCall is one CreateIssue or UpdateIssue call.
type issueCall struct {
	Op    string // "create" or "update"
	Num   int
	Title string
	Body  string
	State string
}

// fakeIssues is an issue tracker that keeps issues in memory and records
// create and update calls.
type fakeIssues struct {
	mu      sync.Mutex // guards the fields below
	issues  []vcs.Issue
	calls   []issueCall
	findErr error
}

var _ vcs.IssueTracker = (*fakeIssues)(nil)

func (f *fakeIssues) CreateIssue(ctx context.Context, repo vcs.Repo, title, body string, labels []string) (vcs.Issue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	is := vcs.Issue{Num: len(f.issues) + 1, Title: title, Body: body, State: vcs.IssueOpen, Labels: labels,
		URL: fmt.Sprintf("https://github.com/%s/issues/%d", repo.FullName(), len(f.issues)+1)}
	f.issues = append(f.issues, is)
	f.calls = append(f.calls, issueCall{Op: "create", Num: is.Num, Title: title, Body: body, State: vcs.IssueOpen})
	return is, nil
}

func (f *fakeIssues) UpdateIssue(ctx context.Context, repo vcs.Repo, num int, body, state string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if num < 1 || num > len(f.issues) {
		return fmt.Errorf("update issue %d: %w", num, vcs.ErrNotFound)
	}
	is := &f.issues[num-1]
	if body != "" {
		is.Body = body
	}
	if state != "" {
		is.State = state
	}
	f.calls = append(f.calls, issueCall{Op: "update", Num: num, Title: is.Title, Body: body, State: state})
	return nil
}

func (f *fakeIssues) FindIssue(ctx context.Context, repo vcs.Repo, label, title string) (vcs.Issue, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.findErr != nil {
		return vcs.Issue{}, false, f.findErr
	}
	for _, is := range f.issues {
		if is.Title == title && slices.Contains(is.Labels, label) {
			return is, true, nil
		}
	}
	return vcs.Issue{}, false, nil
}

func (f *fakeIssues) recorded() []issueCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeIssues) issue(num int) vcs.Issue {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issues[num-1]
}

// fakeLocks holds locks by key.
type fakeLocks struct {
	mu    sync.Mutex // guards locks
	locks map[locking.Key]locking.Lock
	err   error
}

var _ LockReader = (*fakeLocks)(nil)

func (f *fakeLocks) Get(ctx context.Context, key locking.Key) (locking.Lock, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return locking.Lock{}, f.err
	}
	l, ok := f.locks[key]
	if !ok {
		return locking.Lock{}, fmt.Errorf("get lock %v: %w", key, locking.ErrNotFound)
	}
	return l, nil
}

var errBoom = errors.New("boom")
