package server

import (
	"context"
	"slices"

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
	return r.requirements(p, pl, reqs, l.reviews, l.behind)
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
