package server

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

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

// checkPolicies evaluates the plan JSON the show step wrote for the project
// at key. A check that cannot run counts as a failure: policies fail closed.
// Each set's result records how many approvals its failures need
// (approve_count); a set with sticky_policy_approvals keeps the approvals of
// the project's previous plan when its failures bring no new item.
func (r *prRun) checkPolicies(ctx context.Context, key locking.Key, planFile string) *locking.PolicyCheck {
	data, err := os.ReadFile(runner.ShowFile(planFile))
	var results []policy.Result
	if err == nil {
		results, err = r.s.cfg.Policy.Check(ctx, data)
	}
	var pols *config.Policies
	if r.resolved != nil {
		pols = r.resolved.Policies
	}
	if err != nil {
		r.log.Error("policy check", "error", err)
		return &locking.PolicyCheck{Results: []locking.PolicyResult{{Set: "policy check", Required: topApproveCount(pols),
			Failures: []string{"the policy check could not run; an admin can see why in the server log"}}}}
	}
	pc := &locking.PolicyCheck{}
	for _, res := range results {
		required := topApproveCount(pols)
		if set := findPolicySet(pols, res.Set); set != nil {
			required = set.ApproveCount
		}
		pc.Results = append(pc.Results, locking.PolicyResult{Set: res.Set, Failures: res.Failures, Warnings: res.Warnings, Required: required})
		fmt.Fprintf(r.job, "policy set %s: %d failure(s), %d warning(s)\n", res.Set, len(res.Failures), len(res.Warnings))
	}
	if stickyPolicies(pols) {
		if prev, found := r.previousPlan(ctx, key); found {
			for _, set := range keepStickyApprovals(prev.Policy, pc, pols) {
				fmt.Fprintf(r.job, "policy set %s: approvals kept from the previous plan (sticky_policy_approvals): its failures bring no new item\n", set)
			}
		}
	}
	return pc
}

// stickyPolicies reports whether any policy set keeps approvals across plans.
func stickyPolicies(pols *config.Policies) bool {
	return pols != nil && slices.ContainsFunc(pols.PolicySets, func(s config.PolicySet) bool { return s.StickyPolicyApprovals })
}

// defaultPolicyItemRegex makes a set's whole failure output one item, as
// Atlantis's policy_item_regex default does: approvals are kept only when
// the failures are the same.
const defaultPolicyItemRegex = `(?s).+`

// keepStickyApprovals copies into cur the approvals prev's results have, for
// each failing set with sticky_policy_approvals whose failure items (matches
// of policy_item_regex in its failure messages, one per line) were all
// among the failure items prev's approvers approved. It returns the sets
// whose approvals it kept.
func keepStickyApprovals(prev, cur *locking.PolicyCheck, pols *config.Policies) []string {
	if prev == nil || cur == nil {
		return nil
	}
	var kept []string
	for i := range cur.Results {
		res := &cur.Results[i]
		set := findPolicySet(pols, res.Set)
		if len(res.Failures) == 0 || set == nil || !set.StickyPolicyApprovals {
			continue
		}
		j := slices.IndexFunc(prev.Results, func(p locking.PolicyResult) bool { return p.Set == res.Set })
		if j < 0 || len(prev.Results[j].Approvals) == 0 {
			continue
		}
		expr := set.PolicyItemRegex
		if expr == "" {
			expr = defaultPolicyItemRegex
		}
		re, err := regexp.Compile(expr) // checked when repos.yaml was read
		if err != nil {
			continue
		}
		approved := policyItems(re, prev.Results[j].Failures)
		if !slices.ContainsFunc(policyItems(re, res.Failures), func(item string) bool { return !slices.Contains(approved, item) }) {
			res.Approvals = slices.Clone(prev.Results[j].Approvals)
			kept = append(kept, res.Set)
		}
	}
	return kept
}

// policyItems are the matches of re in failures, one message a line.
func policyItems(re *regexp.Regexp, failures []string) []string {
	return re.FindAllString(strings.Join(failures, "\n"), -1)
}

// topApproveCount is the policies block's approve_count, 1 without one.
func topApproveCount(pols *config.Policies) int {
	if pols == nil {
		return 1
	}
	return max(pols.ApproveCount, 1)
}

// findPolicySet returns the policy set named name, nil if there is none.
func findPolicySet(pols *config.Policies, name string) *config.PolicySet {
	if pols == nil {
		return nil
	}
	for i := range pols.PolicySets {
		if pols.PolicySets[i].Name == name {
			return &pols.PolicySets[i]
		}
	}
	return nil
}

// tmplPolicies converts a policy check for a comment.
func tmplPolicies(pc *locking.PolicyCheck) []templates.PolicyResult {
	if pc == nil {
		return nil
	}
	var out []templates.PolicyResult
	for _, r := range pc.Results {
		out = append(out, templates.PolicyResult{Set: r.Set, Passed: len(r.Failures) == 0, Approved: pc.ApprovedBy != "" || r.Passed(),
			Failures: r.Failures, Warnings: r.Warnings, Approvals: len(r.Approvals), Needed: r.Needed()})
	}
	return out
}

// policyRequirement says whether a plan's policy check meets
// policies_passed, and why, for the apply comment.
func policyRequirement(pc *locking.PolicyCheck) (bool, string) {
	if !pc.Passed() {
		var pending []string
		for _, res := range pc.Results {
			if !res.Passed() && (res.Needed() > 1 || len(res.Approvals) > 0) {
				pending = append(pending, fmt.Sprintf("`%s` has %s", res.Set, policyApprovals(res)))
			}
		}
		if len(pending) == 0 {
			return false, "a policy failed; fix the code and push, or ask a policy owner to comment `atoll approve_policies`"
		}
		return false, "a policy failed and " + joinList(pending) + "; fix the code and push, or ask more policy owners to comment `atoll approve_policies`"
	}
	if who := pc.Approvers(); len(who) > 0 {
		return true, "failing policies approved by " + joinList(mentions(who))
	}
	return true, "every policy set passed"
}

// policyApprovals is "1 of 2 approvals".
func policyApprovals(res locking.PolicyResult) string {
	return fmt.Sprintf("%d of %d approvals", len(res.Approvals), res.Needed())
}

func mentions(users []string) []string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = "@" + u
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
// policy owner approves the failing policy sets of the PR's current plans.
// Owners of the policies block approve every set, a set's owners approve
// that set; a set passes once approve_count distinct owners approved it. A
// new plan starts without approvals.
func (r *prRun) approvePolicies(ctx context.Context) bool {
	s := r.s
	cmd := r.w.Command
	user := r.w.User
	res, err := s.cfg.RepoCfg.Resolve(r.w.Repo.ID(), r.pull.BaseBranch, nil)
	if err != nil || res.Policies == nil {
		r.comment(ctx, "This server has no policy sets, so there is nothing to approve.")
		return false
	}
	pols := res.Policies
	// Everyone who may approve something, for the refusal's list.
	owners := pols.Owners
	for _, set := range pols.PolicySets {
		owners.Users = append(owners.Users, set.Owners.Users...)
		owners.Teams = append(owners.Teams, set.Owners.Teams...)
	}
	owners.Users, owners.Teams = uniq(owners.Users), uniq(owners.Teams)
	topOwner := r.isOwner(ctx, pols.Owners)
	setOwner := map[string]bool{}
	ownsSet := func(name string) bool {
		if topOwner {
			return true
		}
		ok, seen := setOwner[name]
		if !seen {
			if set := findPolicySet(pols, name); set != nil {
				ok = r.isOwner(ctx, set.Owners)
			}
			setOwner[name] = ok
		}
		return ok
	}
	if !topOwner && !slices.ContainsFunc(pols.PolicySets, func(set config.PolicySet) bool { return ownsSet(set.Name) }) {
		r.auditRefusal(ctx, AuditApprovePolicies, "not a policy owner")
		r.comment(ctx, fmt.Sprintf("@%s is not a policy owner, so the policies were not approved. Policy owners: %s.", user, joinOwners(owners)))
		return false
	}
	matches, err := r.projectMatcher()
	if err != nil {
		r.comment(ctx, err.Error())
		return false
	}
	plans, err := s.cfg.Store.Plans(ctx, r.w.Repo.ID(), r.pull.Num)
	if err != nil {
		r.log.Error("list plans", "error", err)
		return false
	}
	var (
		lines             []string
		recorded, waiting bool
		approvers         []string // of the sets listed
	)
	for _, pl := range plans {
		if pl.Applied || pl.HeadSHA != r.pull.HeadSHA || pl.Policy == nil || pl.Policy.Passed() {
			continue
		}
		if (cmd.Dir != "" && pl.Key.Dir != cmd.Dir) || (cmd.Workspace != "" && pl.Key.Workspace != cmd.Workspace) ||
			(cmd.Project != "" && !matches(pl.Project)) {
			continue
		}
		changed := false
		var sets []string
		for i := range pl.Policy.Results {
			pr := &pl.Policy.Results[i]
			if pr.Passed() {
				continue
			}
			set := findPolicySet(pols, pr.Set)
			var note string
			switch {
			case !ownsSet(pr.Set):
				note = "you are not one of its owners (" + setOwners(pols, set) + ")"
			case set != nil && set.PreventSelfApprove && user == r.pull.Author:
				note = "its `prevent_self_approve` keeps the pull request's author from approving it"
			case slices.Contains(pr.Approvals, user):
				note = "you approved it already, and each policy owner counts once"
			default:
				pr.Approvals = append(pr.Approvals, user)
				changed = true
			}
			approvers = uniq(append(approvers, pr.Approvals...))
			text := fmt.Sprintf("`%s` %s", pr.Set, policyApprovals(*pr))
			if len(pr.Approvals) > 0 {
				text += " (" + joinList(mentions(pr.Approvals)) + ")"
			}
			if pr.Passed() {
				text += " ✅"
			} else {
				waiting = true
			}
			if note != "" {
				text += ": " + note
			}
			sets = append(sets, text)
		}
		if changed {
			if err := s.cfg.Store.SavePlan(ctx, pl); err != nil {
				r.log.Error("save policy approval", "error", err)
				r.comment(ctx, "Atoll could not save the approval; comment `atoll approve_policies` again in a minute.")
				return false
			}
			recorded = true
			s.appendAudit(ctx, locking.AuditEvent{User: user, Action: AuditApprovePolicies, Via: "comment", Repo: r.w.Repo.ID(), Pull: r.pull.Num,
				Project: pl.Project, Dir: pl.Key.Dir, Workspace: pl.Key.Workspace, Commit: pl.HeadSHA, Result: "approved", JobID: r.w.ID})
		}
		label := pl.Key.Dir
		if pl.Project != "" {
			label = pl.Project
		}
		lines = append(lines, "- `"+label+"` (workspace `"+pl.Key.Workspace+"`): "+strings.Join(sets, " · "))
	}
	if len(lines) == 0 {
		r.comment(ctx, "No current plan of this pull request has failing policies"+selectionText(cmd)+", so there was nothing to approve.")
		return true
	}
	// Owners who have not approved yet, for the next step.
	others := owners
	others.Users = slices.DeleteFunc(slices.Clone(owners.Users), func(u string) bool { return slices.Contains(approvers, u) })
	var head, next string
	switch {
	case recorded && !waiting:
		head = "Failing policies approved by @" + user + "."
		next = "`atoll apply` may now go ahead where `policies_passed` is required; a new push or plan needs new approvals"
		if stickyPolicies(pols) {
			next += ", unless sticky_policy_approvals keeps them"
		}
		next += "."
	case recorded:
		head = "@" + user + "'s approval is recorded, but more approvals are needed."
		next = "`atoll apply` stays blocked where `policies_passed` is required until other policy owners comment `atoll approve_policies`. " + pendingOwners(others)
	case waiting:
		head = "@" + user + "'s approval changed nothing."
		next = "`atoll apply` stays blocked where `policies_passed` is required until other policy owners comment `atoll approve_policies`. " + pendingOwners(others)
	default:
		head = "@" + user + "'s approval changed nothing: the failing policies are approved already."
		next = "`atoll apply` may go ahead where `policies_passed` is required."
	}
	r.log.Info("policies approved", "user", user, "recorded", recorded, "waiting", waiting)
	if recorded {
		r.setPolicyApprovalStatus(ctx)
	}
	r.comment(ctx, head+"\n\n"+strings.Join(lines, "\n")+"\n\n"+next)
	return true
}

// setPolicyApprovalStatus sets atoll/policy_check after an approval, from
// every current plan of the pull request.
func (r *prRun) setPolicyApprovalStatus(ctx context.Context) {
	plans, err := r.s.cfg.Store.Plans(ctx, r.w.Repo.ID(), r.pull.Num)
	if err != nil {
		r.log.Error("list plans", "error", err)
		return
	}
	var who []string
	for _, pl := range plans {
		if pl.Applied || pl.HeadSHA != r.pull.HeadSHA || pl.Policy == nil {
			continue
		}
		if !pl.Policy.Passed() {
			r.setStatus(ctx, statusPolicy, vcs.StatusFailure, "failing policies need more approvals")
			return
		}
		for _, u := range pl.Policy.Approvers() {
			if !slices.Contains(who, u) {
				who = append(who, u)
			}
		}
	}
	r.setStatus(ctx, statusPolicy, vcs.StatusSuccess, "failing policies approved by "+strings.Join(mentions(who), ", "))
}

// pendingOwners names the policy owners who have not approved yet.
func pendingOwners(o config.PolicyOwners) string {
	if len(o.Users) == 0 && len(o.Teams) == 0 {
		return "Every policy owner has approved; an admin can add owners in repos.yaml (policies.owners, or the set's owners)."
	}
	return "Policy owners who have not approved: " + joinOwners(o) + "."
}

// setOwners names who may approve set: the policies block's owners and the
// set's own.
func setOwners(pols *config.Policies, set *config.PolicySet) string {
	o := pols.Owners
	if set != nil {
		o.Users = uniq(append(slices.Clone(o.Users), set.Owners.Users...))
		o.Teams = uniq(append(slices.Clone(o.Teams), set.Owners.Teams...))
	}
	return joinOwners(o)
}

// uniq returns list without repeats, in order.
func uniq(list []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
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
