package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// WorkMergeGroup plans a merge queue's merge group (merge_group
// "checks_requested") and reports the atoll/plan status on its commit.
const WorkMergeGroup = "merge_group"

// BranchRunner checks out and plans branches that are not pull requests
// (runner.Runner has these methods).
type BranchRunner interface {
	CheckoutBranch(ctx context.Context, repo vcs.Repo, branch, token string) (dir, sha string, err error)
	ChangedFiles(ctx context.Context, dir, base, head string) ([]string, error)
	BranchPlanPath(repo vcs.Repo, branch, dir, workspace string) string
	RemoveBranch(ctx context.Context, repo vcs.Repo, branch string) error
}

// mergeGroup plans the projects a merge group changes (its commit against
// the base commit it was built on) and sets atoll/plan on the group's
// commit, so a merge queue can require it. It posts no comment and takes no
// lock: the group's pull requests hold their locks, and apply happens on
// merge (apply_on_merge).
func (r *prRun) mergeGroup(ctx context.Context) bool {
	s := r.s
	r.pull = r.w.Pull
	br := s.cfg.Branches
	if br == nil {
		r.log.Error("merge group not planned: the server has no branch runner (Config.Branches)")
		return false
	}
	fail := func(desc, detail string) bool {
		r.logf("error: %s\n", detail)
		r.setStatus(ctx, statusPlan, vcs.StatusFailure, desc)
		return false
	}
	r.setStatus(ctx, statusPlan, vcs.StatusPending, "Atoll is planning the merge group")
	token, err := s.cfg.GitToken(ctx)
	if err != nil {
		r.log.Error("get git token", "error", err)
		return fail("could not get a token to clone the repository", err.Error())
	}
	branch := r.pull.HeadBranch
	defer func() {
		if err := br.RemoveBranch(context.WithoutCancel(ctx), r.w.Repo, branch); err != nil {
			r.log.Warn("remove merge group worktree", "error", err)
		}
	}()
	r.logf("$ git fetch %s %s (%s)\n", r.w.Repo.CloneURL, branch, short(r.pull.HeadSHA))
	dir, sha, err := br.CheckoutBranch(ctx, r.w.Repo, branch, token)
	if err != nil {
		return fail("could not check out the merge group", err.Error())
	}
	if sha != r.pull.HeadSHA {
		return fail("the merge group's branch moved", fmt.Sprintf("%s is at %s, not %s: the merge queue rebuilt the group", branch, short(sha), short(r.pull.HeadSHA)))
	}
	r.dir = dir
	resolved, file, err := s.resolveConfig(dir, r.w.Repo, r.pull.BaseBranch)
	if err != nil {
		return fail("invalid configuration in "+file, err.Error())
	}
	r.resolved = resolved
	changed, err := br.ChangedFiles(ctx, dir, r.pull.BaseSHA, sha)
	if err != nil {
		return fail("could not list the merge group's changes", err.Error())
	}
	projects, err := resolved.Projects(dir, changed)
	if err != nil {
		return fail("could not work out which projects changed", err.Error())
	}
	if len(projects) == 0 {
		r.logf("no Terraform projects are affected by this merge group\n")
		r.setStatus(ctx, statusPlan, vcs.StatusSuccess, "no Terraform projects changed")
		return true
	}
	var failed []string
	for _, p := range projects {
		fmt.Fprintf(r.job, "\n=== plan %s (workspace %s) ===\n", p.Dir, p.Workspace)
		planFile := br.BranchPlanPath(r.w.Repo, branch, p.Dir, p.Workspace)
		tf, err := s.cfg.Runner.Binary(p.TerraformDistribution, p.TerraformVersion)
		if err != nil {
			r.logf("error: %v\n", err)
			failed = append(failed, projectLabel(p))
			continue
		}
		result, err := s.cfg.Runner.Run(ctx, runner.Job{Dir: dir, ProjectDir: p.Dir, Workspace: p.Workspace, Steps: s.planSteps(p),
			Terraform: tf, PlanFile: planFile, Env: r.runEnv(p, planFile), Log: r.job,
			Logger: r.log.With("project", projectLabel(p), "workspace", p.Workspace)})
		if err != nil {
			step, code, _ := errorOutput(err)
			r.logf("%s failed at %s (exit code %d)\n", projectLabel(p), step, code)
			failed = append(failed, projectLabel(p))
			continue
		}
		if result.Plan != nil && s.policyOn(p) {
			if pc := r.checkPolicies(ctx, projectKey(r.w.Repo, p), planFile); pc == nil || !pc.Passed() {
				r.logf("%s: a policy failed\n", projectLabel(p))
				failed = append(failed, projectLabel(p)+" (policies)")
				continue
			}
		}
		if result.Plan != nil {
			r.logf("%s: %s\n", projectLabel(p), summary(templates.Counts{Add: result.Plan.Add, Change: result.Plan.Change, Destroy: result.Plan.Destroy, Import: result.Plan.Import}))
		}
	}
	if len(failed) > 0 {
		r.setStatus(ctx, statusPlan, vcs.StatusFailure, "failed: "+strings.Join(failed, ", "))
		return false
	}
	r.setStatus(ctx, statusPlan, vcs.StatusSuccess, countProjects(len(projects))+" planned")
	return true
}
