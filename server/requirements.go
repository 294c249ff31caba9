package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// liveReqs checks plan and apply requirements against live GitHub data, loading
// the reviews and the branch's divergence at most once per job, and only when a
// requirement needs them.
type liveReqs struct {
	r             *prRun
	reviews       []vcs.Review
	reviewsLoaded bool
	behind        *bool
}

// check evaluates reqs for project p (pl is its plan, zero before planning).
func (l *liveReqs) check(ctx context.Context, p config.Project, pl locking.Plan, reqs []string) ([]templates.Requirement, bool) {
	r := l.r
	if !l.reviewsLoaded && slices.Contains(reqs, config.ReqApproved) {
		rv, err := r.s.cfg.VCS.ListReviews(ctx, r.w.Repo, r.pull.Num)
		if err != nil {
			r.log.Error("list reviews", "error", err)
		}
		l.reviews, l.reviewsLoaded = rv, true
	}
	if l.behind == nil && slices.Contains(reqs, config.ReqUndiverged) {
		token, _ := r.s.cfg.GitToken(ctx)
		b, err := r.s.cfg.Runner.BehindBase(ctx, r.checkoutSpec(token), r.pull.BaseBranch)
		if err != nil {
			r.log.Error("check divergence", "error", err)
			b = true // fail closed
		}
		l.behind = &b
	}
	var appr *approvalCount
	if slices.Contains(reqs, config.ReqApproved) {
		a := l.approvals(ctx, pl)
		appr = &a
	}
	return r.requirements(p, pl, reqs, appr, l.behind)
}

// approvalCount is what the `approved` requirement found in a PR's reviews.
type approvalCount struct {
	valid int
	// ignored says why approving reviews did not count, one phrase each.
	ignored []string
}

// approvals counts the approvals that satisfy `approved` for plan pl: each
// user's latest review (comments aside) is APPROVED (not dismissed, not
// superseded by a request for changes), by someone other than the PR's author,
// with at least write permission on the repository, on the PR's current head
// commit, and not given before pl last changed (other extra arguments, such
// as a `-destroy` re-plan, or other planned changes need a fresh approval).
func (l *liveReqs) approvals(ctx context.Context, pl locking.Plan) approvalCount {
	r := l.r
	latest := map[string]vcs.Review{}
	var order []string
	for _, rv := range l.reviews {
		if rv.State == "COMMENTED" || rv.State == "PENDING" {
			continue
		}
		u := strings.ToLower(rv.User)
		if _, ok := latest[u]; !ok {
			order = append(order, u)
		}
		latest[u] = rv
	}
	var out approvalCount
	for _, u := range order {
		rv := latest[u]
		if rv.State != "APPROVED" {
			continue
		}
		switch {
		case strings.EqualFold(rv.User, r.pull.Author):
			out.ignored = append(out.ignored, "@"+rv.User+" opened the pull request")
		case rv.CommitID != "" && rv.CommitID != r.pull.HeadSHA:
			out.ignored = append(out.ignored, "@"+rv.User+" approved an earlier commit ("+short(rv.CommitID)+")")
		case rv.CommitID == "":
			out.ignored = append(out.ignored, "@"+rv.User+"'s review names no commit")
		case !pl.ArgsChangedAt.IsZero() && superseded(rv, pl):
			out.ignored = append(out.ignored, fmt.Sprintf("@%s approved before the plan changed (it was made again with %s at %s)",
				rv.User, argsText(pl.ExtraArgs), pl.ArgsChangedAt.UTC().Format(time.RFC3339)))
		default:
			perm, err := r.s.perms.get(ctx, r.w.Repo, rv.User)
			if err != nil {
				r.log.Error("read reviewer permission", "user", rv.User, "error", err)
				out.ignored = append(out.ignored, "@"+rv.User+"'s permission could not be read")
				continue
			}
			if !perm.AtLeast(vcs.PermWrite) {
				out.ignored = append(out.ignored, "@"+rv.User+" has "+permissionName(perm)+", not write access")
				continue
			}
			out.valid++
		}
	}
	return out
}

// superseded reports whether review rv was given before plan pl's arguments
// last changed: it is one of the reviews recorded then, or, when those could
// not be read, it was not submitted strictly after the change.
func superseded(rv vcs.Review, pl locking.Plan) bool {
	if pl.SupersededReviews != nil {
		return slices.Contains(pl.SupersededReviews, rv.ID)
	}
	return !rv.SubmittedAt.After(pl.ArgsChangedAt)
}

// argsText names a plan's extra arguments for a reason line.
func argsText(args []string) string {
	if len(args) == 0 {
		return "no extra arguments"
	}
	return "`" + strings.Join(args, " ") + "`"
}

// planBlocked splits projects into those whose plan_requirements are met and
// refusals for the others. policies_passed is checked at apply, after policies ran.
func (r *prRun) planBlocked(ctx context.Context, projects []config.Project) ([]config.Project, []templates.Project) {
	live := &liveReqs{r: r}
	var ok []config.Project
	var refused []templates.Project
	for _, p := range projects {
		reqs := slices.DeleteFunc(slices.Clone(p.PlanRequirements), func(s string) bool { return s == config.ReqPoliciesPassed })
		if len(reqs) == 0 {
			ok = append(ok, p)
			continue
		}
		checks, met := live.check(ctx, p, locking.Plan{}, reqs)
		if met {
			ok = append(ok, p)
			continue
		}
		src := r.requirementsSource("plan_requirements")
		for k := range checks {
			checks[k].Source = src
		}
		res := tmplProject(p)
		res.Status, res.Requirements = templates.StatusRefused, checks
		res.Reason = requirementsFix(checks, r.pull.BaseBranch)
		refused = append(refused, res)
	}
	return ok, refused
}
