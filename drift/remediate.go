package drift

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/vcs"
)

// ErrUnknownIssue is returned by Remediate for an issue that is not a current
// drift issue of the repository.
var ErrUnknownIssue = errors.New("not a drift issue of a drifting project")

// Remediation is the outcome of restoring Git's state for one project.
type Remediation struct {
	// Before is the fresh check that was applied; After the check that followed.
	Before, After Result
	// Output is the apply's output; Err its failure, if any.
	Output string
	Err    error
	// LockedBy is the lock a pull request holds on the workspace, when that
	// stopped the apply.
	LockedBy *locking.Lock
	// Changed is set when the fresh check differs from what the issue showed
	// when the command was given (or Atoll has no record of what it showed):
	// nothing was applied, and the issue now shows the fresh difference.
	Changed bool
}

// Remediate restores Git's state for the project of drift issue issueNum: it
// checks the repository again (so it never applies a stale plan), refuses if a
// pull request holds the workspace's lock, applies the fresh plan, and checks
// again so the issue closes itself once in sync.
//
// The lock is read, not taken: a pull request that takes the workspace's lock
// after the read and before the apply ends runs alongside it. A backend that
// locks state serialises the two terraform runs, and a plan the pull request
// made before the apply is refused as stale when applied, so the window costs
// the pull request a re-plan, not a wrong apply (a backend without state
// locking gets no such protection).
//
// Like an apply from a pull request, it applies only what was reviewed: if the
// fresh check differs from what the issue showed (the last recorded check), it
// refreshes the issue and applies nothing (Remediation.Changed).
func (d *Detector) Remediate(ctx context.Context, repo vcs.Repo, issueNum int) (Remediation, error) {
	m := d.repoMutex(repo)
	m.Lock()
	defer m.Unlock()
	shown, seen := d.shownDigest(repo, issueNum)
	results, err := d.checkRepo(ctx, repo)
	if err != nil {
		return Remediation{}, err
	}
	var target *Result
	for i := range results {
		if results[i].IssueNum == issueNum {
			target = &results[i]
		}
	}
	if target == nil || target.Status != Drifted {
		if target != nil {
			return Remediation{Before: *target, After: *target}, nil // already in sync (or failed): nothing to apply
		}
		return Remediation{}, ErrUnknownIssue
	}
	rem := Remediation{Before: *target}
	if !seen || shown != digest(*target) {
		rem.Changed, rem.After = true, *target
		return rem, nil
	}
	if d.cfg.Locks != nil {
		key := locking.Key{Repo: repo.ID(), Dir: target.Dir, Workspace: target.Workspace}
		if l, err := d.cfg.Locks.Get(ctx, key); err == nil {
			rem.LockedBy = &l
			rem.After = *target
			return rem, nil
		} else if !errors.Is(err, locking.ErrNotFound) {
			return rem, fmt.Errorf("read lock of %s: %w", target.Dir, err)
		}
	}
	tf, err := d.cfg.Runner.Binary(target.project.TerraformDistribution, target.project.TerraformVersion)
	if err != nil {
		rem.Err = err
		return rem, nil
	}
	res, err := d.cfg.Runner.Run(ctx, runner.Job{Dir: target.dir, ProjectDir: target.Dir, Workspace: target.Workspace,
		Steps: target.project.Workflow.ApplySteps(), Terraform: tf, PlanFile: target.planFile,
		Logger: d.log.With("repo", repo.FullName(), "project", target.Project, "workspace", target.Workspace)})
	rem.Output, rem.Err = res.Output, err
	if err != nil {
		var se *runner.StepError
		if errors.As(err, &se) {
			rem.Output = se.Output
		}
	}
	d.log.Info("drift remediation", "repo", repo.FullName(), "project", target.Project, "workspace", target.Workspace, "ok", err == nil)
	// The apply ran: a failure of the check that follows must not read as
	// "nothing was applied", so it is reported in After, not as an error.
	rem.After = rem.Before
	rem.After.Status, rem.After.Drift, rem.After.Pending = Failed, nil, nil
	after, err := d.checkRepo(ctx, repo)
	if err != nil {
		d.log.Error("drift check after remediation", "repo", repo.FullName(), "error", err)
		rem.After.Error, rem.After.Checked = err.Error(), d.cfg.Now()
		return rem, nil
	}
	rem.After.Error = "the project is no longer in the repository"
	for _, r := range after {
		if r.Dir == target.Dir && r.Workspace == target.Workspace {
			rem.After = r
		}
	}
	return rem, nil
}

// shownDigest returns the digest of the last recorded check of the project of
// issue issueNum: what its issue shows.
func (d *Detector) shownDigest(repo vcs.Repo, issueNum int) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.results {
		if r.Repo.ID() == repo.ID() && r.IssueNum == issueNum && r.Status == Drifted {
			return digest(r), true
		}
	}
	return "", false
}

// digest summarises what a drift issue shows: the resources changed outside
// Terraform with their attributes, and the changes in Git not applied.
func digest(r Result) string {
	h := sha256.New()
	for _, dr := range r.Drift {
		fmt.Fprintf(h, "drift\x00%s\x00%s\n", dr.Address, dr.Action)
		for _, a := range dr.Attrs {
			fmt.Fprintf(h, "attr\x00%s\x00%s\x00%s\n", a.Name, a.Git, a.Reality)
		}
	}
	for _, p := range r.Pending {
		fmt.Fprintf(h, "pending\x00%s\x00%s\n", p.Address, p.Action)
	}
	return hex.EncodeToString(h.Sum(nil))
}
