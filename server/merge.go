package server

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// rollbackNext ends the apply comment of a merged pull request.
const rollbackNext = "Roll back: comment `atoll revert` to open a pull request that reverts this one."

// applyRequirements are the apply requirements of p for this job. After a
// merge, `mergeable` and `undiverged` are settled by the merge itself.
func (r *prRun) applyRequirements(p config.Project) []string {
	if r.mergeSHA == "" {
		return p.ApplyRequirements
	}
	return slices.DeleteFunc(slices.Clone(p.ApplyRequirements), func(req string) bool {
		return req == config.ReqMergeable || req == config.ReqUndiverged
	})
}

// pendingMergePlan reports whether pl is a plan of a merge commit that is
// still to be applied: the pull request keeps its lock meanwhile.
func pendingMergePlan(pl locking.Plan) bool {
	return pl.MergeSHA != "" && !pl.Applied && !pl.Failed && pl.HasChanges
}

// hasPendingMergePlans reports whether merged pull request num has a plan
// of its merge commit waiting for `atoll apply`. A store error counts as
// yes: the lock stays rather than being released under a pending apply.
func (s *Server) hasPendingMergePlans(ctx context.Context, repo vcs.Repo, num int) bool {
	plans, err := s.cfg.Store.Plans(ctx, repo.ID(), num)
	if err != nil {
		s.log.Error("list plans of a merged pull request", "repo", repo.ID(), "pull", num, "error", err)
		return true
	}
	return slices.ContainsFunc(plans, pendingMergePlan)
}

// mergeApply is apply_on_merge for a pull request that was just merged into
// the default branch. Each project with apply_on_merge and a reviewed plan
// that was not applied is planned again at the merge commit. A plan that
// makes the same changes as the reviewed one is applied; one that differs
// (another pull request merged first, the base moved) is commented with
// the difference and kept for `atoll apply`. It returns whether it applied
// anything, and reports false when something failed.
func (r *prRun) mergeApply(ctx context.Context) (applied, ok bool) {
	s := r.s
	plans, err := s.cfg.Store.Plans(ctx, r.w.Repo.ID(), r.w.Pull.Num)
	if err != nil {
		r.log.Error("list plans; apply on merge skipped", "error", err)
		return false, false
	}
	reviewed := map[locking.Key]locking.Plan{}
	for _, pl := range plans {
		if !pl.Applied && !pl.Failed && pl.HasChanges && pl.MergeSHA == "" {
			reviewed[pl.Key] = pl
		}
	}
	if len(reviewed) == 0 {
		return false, true
	}
	// The webhook said merged; GitHub's API says so too, and into which
	// commit.
	if !r.fetchPull(ctx) {
		return false, false
	}
	if r.pull.State != vcs.PullMerged || r.pull.MergeSHA == "" ||
		(r.w.Repo.DefaultBranch != "" && r.pull.BaseBranch != r.w.Repo.DefaultBranch) {
		return false, true
	}
	r.mergeSHA = r.pull.MergeSHA
	if !r.checkout(ctx, statusApply) {
		return false, false
	}
	all, err := r.resolved.AllProjects(r.dir)
	if err != nil {
		r.fail(ctx, statusApply, "could not read the projects of the merge commit", err.Error())
		return false, false
	}
	keys := make([]locking.Key, 0, len(reviewed))
	for k := range reviewed {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].Dir < keys[j].Dir || (keys[i].Dir == keys[j].Dir && keys[i].Workspace < keys[j].Workspace)
	})
	var targets []config.Project
	for _, k := range keys {
		if p := findProject(all, reviewed[k]); p.ApplyOnMerge {
			targets = append(targets, p)
		}
	}
	if len(targets) == 0 {
		return false, true
	}
	r.log.Info("pull request merged; planning its merge commit to apply it", "merge_sha", r.mergeSHA, "projects", len(targets))
	r.setStatus(ctx, statusApply, vcs.StatusPending, "planning the merge commit of #"+fmt.Sprint(r.pull.Num))

	same := map[locking.Key]bool{}
	var notApplied []templates.Project
	var diffs []string
	failed := false
	for _, p := range targets {
		key := projectKey(r.w.Repo, p)
		before := reviewed[key]
		r.w.Command = Command{Name: CmdPlan, ExtraArgs: before.ExtraArgs}
		res := r.planProject(ctx, p)
		after, found := r.previousPlan(ctx, key)
		switch {
		case res.Status == templates.StatusError || !found || after.MergeSHA != r.mergeSHA || after.Failed:
			failed = true
			notApplied = append(notApplied, res)
			diffs = append(diffs, fmt.Sprintf("%s: the plan of the merge commit failed, so nothing was applied.", projectRef(p)))
		case after.ChangesDigest != "" && after.ChangesDigest == before.ChangesDigest:
			same[key] = true
		default:
			notApplied = append(notApplied, res)
			diffs = append(diffs, projectRef(p)+": "+planDifference(before, after))
		}
	}
	r.audit(ctx, AuditPlan, notApplied)
	r.mergeCommented = true
	if len(notApplied) > 0 {
		next := "Review the plan below. To apply it, comment `atoll apply` on this pull request. To drop it and release the lock, comment `atoll unlock`."
		if failed {
			next = "The default branch now holds code that was not applied: fix it in a new pull request. " + next
		}
		r.intro = fmt.Sprintf("### Not applied on merge\n\n#%d was merged as %s. Atoll planned that commit again, and for %s the plan is not the one reviewed here, so it applied nothing there:\n\n- %s\n\n%s",
			r.pull.Num, short(r.mergeSHA), countProjects(len(notApplied)), strings.Join(diffs, "\n- "), next)
		r.postResults(ctx, r.newLiveComment(), templates.Plan, notApplied)
	}
	ok = !failed
	if len(same) > 0 {
		r.applyOnly = same
		r.w.Command = Command{Name: CmdApply}
		r.intro = fmt.Sprintf("#%d was merged as %s, and the plan of that commit makes the same changes as the plan reviewed here, so Atoll applied it.", r.pull.Num, short(r.mergeSHA))
		r.next = rollbackNext
		if !r.apply(ctx) {
			ok = false
		}
		applied = true
	} else if failed {
		r.setStatus(ctx, statusApply, vcs.StatusFailure, "not applied on merge: the plan of the merge commit failed")
	} else if len(notApplied) > 0 {
		r.setStatus(ctx, statusApply, vcs.StatusFailure, "not applied on merge: the plan of the merge commit differs")
	}
	return applied, ok
}

// projectRef names a project in Markdown: `name` (dir, workspace).
func projectRef(p config.Project) string {
	return fmt.Sprintf("%s (workspace %s)", templates.Code(projectLabel(p)), templates.Code(p.Workspace))
}

// planDifference says how plan after differs from plan before, resource
// by resource, or that the planned values differ when the same resources
// change the same way.
func planDifference(before, after locking.Plan) string {
	if !after.HasChanges {
		return "the merge commit plans no changes (someone applied them already?); there is nothing to apply."
	}
	was := map[string]string{}
	for _, rc := range before.Resources {
		was[rc.Address] = rc.Action
	}
	var out []string
	seen := map[string]bool{}
	for _, rc := range after.Resources {
		seen[rc.Address] = true
		switch old, ok := was[rc.Address]; {
		case !ok:
			out = append(out, fmt.Sprintf("%s is now to %s (not in the reviewed plan)", templates.Code(rc.Address), rc.Action))
		case old != rc.Action:
			out = append(out, fmt.Sprintf("%s is now to %s (reviewed: %s)", templates.Code(rc.Address), rc.Action, old))
		}
	}
	for _, rc := range before.Resources {
		if !seen[rc.Address] {
			out = append(out, fmt.Sprintf("%s is no longer to %s", templates.Code(rc.Address), rc.Action))
		}
	}
	if len(out) == 0 {
		return "the same resources change the same way, but with other values."
	}
	const max = 10
	if len(out) > max {
		out = append(out[:max], fmt.Sprintf("and %d more", len(out)-max))
	}
	return strings.Join(out, "; ") + "."
}

// closeMerged ends the work on a merged pull request after an apply: while a
// plan of its merge commit waits for `atoll apply`, the pull request keeps
// every lock; then it releases them, drops its plans and its working copy.
// It reports whether the locks were released.
func (r *prRun) closeMerged(ctx context.Context) bool {
	s := r.s
	if s.hasPendingMergePlans(ctx, r.w.Repo, r.pull.Num) {
		r.log.Info("merged pull request keeps its locks: a plan of its merge commit is not applied")
		return false
	}
	s.leaveQueues(ctx, r.w.Repo, r.pull.Num)
	released, err := s.cfg.Store.ReleasePull(ctx, r.w.Repo.ID(), r.pull.Num)
	if err != nil {
		r.log.Error("release locks", "error", err)
		return false
	}
	s.handOver(ctx, r.w.Repo, releasedKeys(released), r.pull.Num, whyClosed(vcs.PullMerged))
	if err := s.cfg.Store.DeletePlans(ctx, r.w.Repo.ID(), r.pull.Num); err != nil {
		r.log.Error("delete plans", "error", err)
	}
	if err := s.cfg.Runner.RemovePull(ctx, r.w.Repo, r.pull.Num); err != nil {
		r.log.Error("remove working copy", "error", err)
	}
	r.log.Info("merged pull request applied; locks released", "count", len(released))
	return true
}
