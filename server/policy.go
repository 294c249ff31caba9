package server

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/policy"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// PolicyChecker checks a plan's JSON against the server's policy sets.
type PolicyChecker interface {
	Check(ctx context.Context, planJSON []byte) ([]policy.Result, error)
}

const statusPolicy = "atoll/policy_check"

// policyOn reports whether p's plans are checked against policies.
func (s *Server) policyOn(p config.Project) bool {
	return s.cfg.Policy != nil && (s.cfg.EnablePolicyChecks || p.PolicyCheck)
}

// planSteps are p's plan steps, plus a show step when policies need the plan's JSON.
func (s *Server) planSteps(p config.Project) []config.Step {
	steps := p.Workflow.Plan
	if s.policyOn(p) && !slices.ContainsFunc(steps, func(st config.Step) bool { return st.Kind == config.StepShow }) {
		steps = append(slices.Clone(steps), config.Step{Kind: config.StepShow})
	}
	return steps
}

// checkPolicies evaluates the plan JSON the show step wrote. A check that
// cannot run counts as a failure: policies fail closed.
func (r *prRun) checkPolicies(ctx context.Context, planFile string) *locking.PolicyCheck {
	data, err := os.ReadFile(runner.ShowFile(planFile))
	var results []policy.Result
	if err == nil {
		results, err = r.s.cfg.Policy.Check(ctx, data)
	}
	if err != nil {
		r.log.Error("policy check", "error", err)
		return &locking.PolicyCheck{Results: []locking.PolicyResult{{Set: "policy check",
			Failures: []string{"the policy check could not run; an admin can see why in the server log"}}}}
	}
	pc := &locking.PolicyCheck{}
	for _, res := range results {
		pc.Results = append(pc.Results, locking.PolicyResult{Set: res.Set, Failures: res.Failures, Warnings: res.Warnings})
		fmt.Fprintf(r.job, "policy set %s: %d failure(s), %d warning(s)\n", res.Set, len(res.Failures), len(res.Warnings))
	}
	return pc
}

// tmplPolicies converts a policy check for a comment.
func tmplPolicies(pc *locking.PolicyCheck) []templates.PolicyResult {
	if pc == nil {
		return nil
	}
	var out []templates.PolicyResult
	for _, r := range pc.Results {
		out = append(out, templates.PolicyResult{Set: r.Set, Passed: len(r.Failures) == 0, Approved: pc.ApprovedBy != "",
			Failures: r.Failures, Warnings: r.Warnings})
	}
	return out
}

// setPolicyStatus sets atoll/policy_check from the projects' checks, if any ran.
func (r *prRun) setPolicyStatus(ctx context.Context, results []templates.Project) {
	ran, failed := 0, 0
	for _, p := range results {
		if len(p.Policies) == 0 {
			continue
		}
		ran++
		if p.PolicyFailed() {
			failed++
		}
	}
	switch {
	case ran == 0:
	case failed > 0:
		r.setStatus(ctx, statusPolicy, vcs.StatusFailure, fmt.Sprintf("policies failed for %s", countProjects(failed)))
	default:
		r.setStatus(ctx, statusPolicy, vcs.StatusSuccess, fmt.Sprintf("policies passed for %s", countProjects(ran)))
	}
}

// approvePolicies runs `atoll approve_policies [-d DIR -w WS | -p NAME]`: a
// policy owner approves the failing policy checks of the PR's current plans.
func (r *prRun) approvePolicies(ctx context.Context) bool {
	s := r.s
	cmd := r.w.Command
	res, err := s.cfg.RepoCfg.Resolve(r.w.Repo.ID(), r.pull.BaseBranch, nil)
	if err != nil || res.Policies == nil {
		r.comment(ctx, "This server has no policy sets, so there is nothing to approve.")
		return false
	}
	// Owners of the whole policies block or of any one set may approve.
	owners := res.Policies.Owners
	selfApprove := true
	for _, set := range res.Policies.PolicySets {
		owners.Users = append(owners.Users, set.Owners.Users...)
		owners.Teams = append(owners.Teams, set.Owners.Teams...)
		selfApprove = selfApprove && !set.PreventSelfApprove
	}
	if !selfApprove && r.w.User == r.pull.Author {
		r.comment(ctx, fmt.Sprintf("@%s opened this pull request, and this server's policy sets do not allow approving your own (prevent_self_approve). Ask another policy owner: %s.", r.w.User, joinOwners(owners)))
		return false
	}
	if !r.isOwner(ctx, owners) {
		r.auditRefusal(ctx, AuditApprovePolicies, "not a policy owner")
		who := joinOwners(owners)
		r.comment(ctx, fmt.Sprintf("@%s is not a policy owner, so the policies were not approved. Policy owners: %s.", r.w.User, who))
		return false
	}
	plans, err := s.cfg.Store.Plans(ctx, r.w.Repo.ID(), r.pull.Num)
	if err != nil {
		r.log.Error("list plans", "error", err)
		return false
	}
	var approved []string
	for _, pl := range plans {
		if pl.Applied || pl.HeadSHA != r.pull.HeadSHA || pl.Policy == nil || pl.Policy.Passed() {
			continue
		}
		if (cmd.Dir != "" && pl.Key.Dir != cmd.Dir) || (cmd.Workspace != "" && pl.Key.Workspace != cmd.Workspace) ||
			(cmd.Project != "" && pl.Project != cmd.Project) {
			continue
		}
		pl.Policy.ApprovedBy = r.w.User
		if err := s.cfg.Store.SavePlan(ctx, pl); err != nil {
			r.log.Error("save policy approval", "error", err)
			return false
		}
		s.appendAudit(ctx, locking.AuditEvent{User: r.w.User, Action: AuditApprovePolicies, Via: "comment", Repo: r.w.Repo.ID(), Pull: r.pull.Num,
			Project: pl.Project, Dir: pl.Key.Dir, Workspace: pl.Key.Workspace, Commit: pl.HeadSHA, Result: "approved", JobID: r.w.ID})
		label := pl.Key.Dir
		if pl.Project != "" {
			label = pl.Project
		}
		approved = append(approved, "`"+label+"` (workspace `"+pl.Key.Workspace+"`)")
	}
	if len(approved) == 0 {
		r.comment(ctx, "No current plan of this pull request has failing policies"+selectionText(cmd)+", so there was nothing to approve.")
		return true
	}
	r.log.Info("policies approved", "user", r.w.User, "projects", len(approved))
	r.setStatus(ctx, statusPolicy, vcs.StatusSuccess, "failing policies approved by @"+r.w.User)
	r.comment(ctx, fmt.Sprintf("Failing policies approved by @%s for %s. `atoll apply` may now go ahead where `policies_passed` is required; a new push needs a new approval.",
		r.w.User, joinList(approved)))
	return true
}

// isOwner reports whether the commenter is a policy owner, by login or team.
func (r *prRun) isOwner(ctx context.Context, owners config.PolicyOwners) bool {
	if slices.Contains(owners.Users, r.w.User) {
		return true
	}
	return slices.ContainsFunc(owners.Teams, func(t string) bool { return r.inTeam(ctx, t) })
}

func joinOwners(o config.PolicyOwners) string {
	var parts []string
	for _, u := range o.Users {
		parts = append(parts, "@"+u)
	}
	for _, t := range o.Teams {
		parts = append(parts, "team `"+t+"`")
	}
	if len(parts) == 0 {
		return "none are configured (policies.owners in repos.yaml)"
	}
	return joinList(parts)
}

func joinList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	out := ""
	for i, it := range items {
		switch {
		case i == 0:
			out = it
		case i == len(items)-1:
			out += " and " + it
		default:
			out += ", " + it
		}
	}
	return out
}
