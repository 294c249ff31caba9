package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// apply applies the PR's saved plans that the command selects, each only if it is
// current, still locked by this PR, and meets its requirements.
func (r *prRun) apply(ctx context.Context) bool {
	s := r.s
	cmd := r.w.Command
	plans, err := s.cfg.Store.Plans(ctx, r.w.Repo.ID(), r.pull.Num)
	if err != nil {
		r.log.Error("list plans", "error", err)
		r.refuse(ctx, statusApply, "Atoll could not read this pull request's saved plans.", "Try `atoll apply` again in a minute.")
		return false
	}
	matches, err := r.projectMatcher()
	if err != nil {
		r.refuse(ctx, statusApply, err.Error(), "")
		return false
	}
	var selected []locking.Plan
	for _, p := range plans {
		if p.Applied || (!p.HasChanges && !p.Failed) {
			continue
		}
		// After a merge only the plans of the merge commit can be applied;
		// before it, only those of the pull request's commits.
		if (r.mergeSHA != "") != (p.MergeSHA != "") || (r.applyOnly != nil && !r.applyOnly[p.Key]) {
			continue
		}
		if (cmd.Dir != "" && p.Key.Dir != cmd.Dir) || (cmd.Workspace != "" && p.Key.Workspace != cmd.Workspace) ||
			(cmd.Project != "" && !matches(p.Project)) {
			continue
		}
		selected = append(selected, p)
	}
	if len(selected) == 0 {
		r.refuse(ctx, statusApply, "There is no unapplied plan with changes"+selectionText(cmd)+" on this pull request.",
			"Comment `atoll plan"+selectionArgs(cmd)+"` first, review the plan, then `atoll apply"+selectionArgs(cmd)+"`.")
		return false
	}
	r.setPendingSoon(ctx, statusApply, "applying "+countProjects(len(selected)))
	if r.dir == "" && !r.checkout(ctx, statusApply) { // apply on merge checked out already
		return false
	}
	defer r.runHooks(ctx, "post", CmdApply, r.resolved.PostWorkflowHooks)
	all, err := r.resolved.AllProjects(r.dir)
	if err != nil {
		r.refuse(ctx, statusApply, err.Error(), "")
		return false
	}
	if pat, _ := r.projectPattern(); pat != nil { // allowed_regexp_prefixes, now that the repo config is read
		var names []string
		for _, pl := range selected {
			names = append(names, pl.Project)
		}
		if err := pat.Check(names, nil); err != nil {
			r.refuse(ctx, statusApply, err.Error(), "")
			return false
		}
	}
	live := &liveReqs{r: r}

	results := make([]templates.Project, len(selected))
	projects := make([]config.Project, len(selected))
	var ready []int
	for i, pl := range selected {
		p := findProject(all, pl)
		projects[i] = p
		res := tmplProject(p)
		res.Counts = countsFromSummary(pl.Summary)
		results[i] = res
		if reason := staleReason(pl, p); reason != "" {
			results[i].Status, results[i].Reason = templates.StatusRefused, reason
			continue
		}
		if pl.Failed {
			results[i].Status = templates.StatusRefused
			results[i].Reason = fmt.Sprintf("the last plan of this project (at %s) failed, so there is no plan to apply. Fix the error its plan comment shows, run `atoll plan%s`, review the new plan, then apply.",
				short(pl.HeadSHA), projectArgs(p))
			continue
		}
		if pl.HeadSHA != r.codeSHA() {
			results[i].Status = templates.StatusRefused
			results[i].Reason = fmt.Sprintf("the plan is stale: it was made at %s and the pull request is now at %s. Run `atoll plan%s` and review the new plan.",
				short(pl.HeadSHA), short(r.pull.HeadSHA), projectArgs(p))
			continue
		}
		if p.RepoLocking == "on_apply" {
			// repo_locking: on_apply takes the lock only now, all the same.
			err := s.cfg.Store.Acquire(ctx, []locking.Lock{{Key: pl.Key, Pull: r.pull.Num, PullURL: r.pull.URL, HeadSHA: r.pull.HeadSHA,
				User: r.w.User, Project: p.Name, Time: s.cfg.Now()}})
			var held *locking.HeldError
			if errors.As(err, &held) {
				results[i].Status = templates.StatusLocked
				results[i].Lock = &templates.LockInfo{Pull: held.Held.Pull, PullURL: held.Held.PullURL, User: held.Held.User, Since: held.Held.Time}
				continue
			}
			if err != nil {
				r.log.Error("acquire lock at apply", "error", err)
				results[i].Status, results[i].Reason = templates.StatusRefused, "Atoll could not take the lock; try `atoll apply` again."
				continue
			}
		}
		lock, err := s.cfg.Store.Get(ctx, pl.Key)
		if p.RepoLocking != "disabled" && p.RepoLocking != "on_apply" && (err != nil || lock.Pull != r.pull.Num) {
			results[i].Status = templates.StatusRefused
			results[i].Reason = "this pull request no longer holds the lock on " + pl.Key.Dir + " (" + pl.Key.Workspace + "). Run `atoll plan" + projectArgs(p) + "` to lock and plan it again."
			continue
		}
		if reqs := r.applyRequirements(p); len(reqs) > 0 {
			checks, ok := live.check(ctx, p, pl, reqs)
			if !ok {
				src := r.requirementsSource("apply_requirements")
				for k := range checks {
					checks[k].Source = src
				}
				results[i].Status = templates.StatusRefused
				results[i].Requirements = checks
				results[i].Reason = requirementsFix(checks, r.pull.BaseBranch)
				continue
			}
		}
		if missing := r.unappliedDependencies(p, plans); len(missing) > 0 {
			results[i].Status = templates.StatusRefused
			results[i].Reason = "depends_on: apply " + strings.Join(missing, ", ") + " first."
			continue
		}
		ready = append(ready, i) // Status stays "" until the apply finishes
	}

	lc := r.newLiveComment()
	silenced := allSilenced(projects, "apply")
	r.postResults(ctx, lc, templates.Apply, results)
	var mu sync.Mutex // guards results while projects finish in parallel
	readyProjects := make([]config.Project, len(ready))
	for j, i := range ready {
		readyProjects[j] = projects[i]
	}
	finish := func(i int, res templates.Project) {
		mu.Lock()
		results[i] = res
		snapshot := append([]templates.Project(nil), results...)
		mu.Unlock()
		if !silenced {
			r.postResults(ctx, lc, templates.Apply, snapshot)
		}
	}
	r.runGroups(ctx, readyProjects, r.resolved.ParallelApply, func(j int) bool {
		i := ready[j]
		res := r.applyProject(ctx, projects[i], selected[i], results[i])
		finish(i, res)
		r.reportCheck(ctx, "apply", res)
		return res.Status == templates.StatusApplied
	}, func(j int) {
		i := ready[j]
		res := results[i]
		res.Status, res.Reason = templates.StatusRefused, abortedReason
		finish(i, res)
	})
	if silenced {
		r.postResults(ctx, lc, templates.Apply, results)
	}
	r.audit(ctx, AuditApply, results)
	applied, failed := 0, 0
	for _, res := range results {
		if res.Status == templates.StatusApplied {
			applied++
		} else {
			failed++
		}
	}
	if failed > 0 {
		r.setStatus(ctx, statusApply, vcs.StatusFailure, fmt.Sprintf("%d applied, %d not applied", applied, failed))
		return false
	}
	r.setStatus(ctx, statusApply, vcs.StatusSuccess, countProjects(applied)+" applied")
	if r.mergeSHA == "" {
		r.automerge(ctx)
	}
	return true
}

// applyProject applies one saved plan.
func (r *prRun) applyProject(ctx context.Context, p config.Project, pl locking.Plan, res templates.Project) templates.Project {
	s := r.s
	fmt.Fprintf(r.job, "\n=== apply %s (workspace %s) ===\n", p.Dir, p.Workspace)
	if err := ensurePlanFile(pl); err != nil {
		r.log.Error("restore plan file", "error", err)
		res.Status, res.Step, res.Output = templates.StatusError, "apply", "the saved plan could not be restored ("+err.Error()+"); run `atoll plan"+projectArgs(p)+"` again"
		return res
	}
	tf, err := s.cfg.Runner.Binary(p.TerraformDistribution, p.TerraformVersion)
	if err != nil {
		res.Status, res.Step, res.Output = templates.StatusError, "apply", err.Error()
		return res
	}
	result, err := s.cfg.Runner.Run(ctx, runner.Job{Dir: r.dir, ProjectDir: p.Dir, Workspace: p.Workspace, Steps: p.Workflow.ApplySteps(),
		Terraform: tf, PlanFile: pl.Path, Env: r.runEnv(p, pl.Path), Log: r.job,
		Logger: r.log.With("project", projectLabel(p), "workspace", p.Workspace), BeforeApply: s.checkFence})
	if err != nil && errors.Is(err, locking.ErrLeaseLost) {
		// The fence check before terraform apply: another replica holds the
		// pull request now, so this one applies nothing.
		r.log.Error("apply not started: lease lost", "error", err)
		res.Status = templates.StatusRefused
		res.Reason = "not applied: the Atoll replica running this lost its lease on the pull request to another replica (" + err.Error() + "), so terraform apply did not start here."
		s.metrics.projects.WithLabelValues("apply", "error").Inc()
		return res
	}
	if err != nil {
		res.Status = templates.StatusError
		res.Step, res.ExitCode, res.Output = errorOutput(err)
		s.metrics.projects.WithLabelValues("apply", "error").Inc()
		return res
	}
	pl.Applied = true
	pl.Time = s.cfg.Now()
	if err := s.cfg.Store.SavePlan(ctx, pl); err != nil {
		r.log.Error("mark plan applied", "error", err)
	}
	s.metrics.projects.WithLabelValues("apply", "ok").Inc()
	res.Status, res.Output = templates.StatusApplied, result.Output
	return res
}

// ensurePlanFile writes the stored plan back to its path when this replica does not
// have it (another replica planned), and checks its content hash either way.
func ensurePlanFile(pl locking.Plan) error {
	data, err := os.ReadFile(pl.Path)
	if err != nil || hashHex(data) != pl.SHA256 {
		if hashHex(pl.Data) != pl.SHA256 {
			return errors.New("stored plan does not match its checksum")
		}
		if err := os.MkdirAll(filepath.Dir(pl.Path), 0o700); err != nil {
			return fmt.Errorf("create plan dir: %w", err)
		}
		if err := os.WriteFile(pl.Path, pl.Data, 0o600); err != nil {
			return fmt.Errorf("write plan file: %w", err)
		}
	}
	return nil
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// requirements checks reqs against live PR data and returns one line per requirement.
func (r *prRun) requirements(p config.Project, pl locking.Plan, reqs []string, appr *approvalCount, behind *bool) ([]templates.Requirement, bool) {
	var out []templates.Requirement
	all := true
	for _, req := range reqs {
		c := templates.Requirement{Name: req}
		switch req {
		case config.ReqApproved:
			var a approvalCount
			if appr != nil {
				a = *appr
			}
			c.Met = a.valid > 0
			c.Detail = "needs 1 approving review of commit " + short(r.pull.HeadSHA) + " by someone with write access other than the author"
			if c.Met {
				c.Detail = fmt.Sprintf("%d approving review(s)", a.valid)
			}
			if !c.Met && len(a.ignored) > 0 {
				c.Detail += "; not counted: " + strings.Join(a.ignored, "; ")
			}
		case config.ReqMergeable:
			c.Met = r.pull.Mergeable != nil && *r.pull.Mergeable && mergeableState(r.pull.MergeableState)
			c.Detail = "GitHub must report the pull request as mergeable"
			if r.pull.MergeableState != "" {
				c.Detail += " (now: " + r.pull.MergeableState + ")"
			}
		case config.ReqUndiverged:
			c.Met = behind != nil && !*behind
			c.Detail = "the branch must include the latest " + r.pull.BaseBranch + "; merge or rebase it"
		case config.ReqPoliciesPassed:
			switch {
			case !r.s.policyOn(p):
				c.Met, c.Detail = true, "no policy checks are configured for this project"
			case pl.Policy == nil:
				c.Detail = "the plan was not checked against the policies; run `atoll plan" + projectArgs(p) + "`"
			default:
				c.Met, c.Detail = policyRequirement(pl.Policy)
			}
		default:
			c.Detail = "unknown requirement"
		}
		all = all && c.Met
		out = append(out, c)
	}
	return out, all
}

// requirementsFix says how to satisfy the unmet requirements in checks.
func requirementsFix(checks []templates.Requirement, baseBranch string) string {
	var fixes []string
	for _, c := range checks {
		if c.Met {
			continue
		}
		switch c.Name {
		case config.ReqApproved:
			fixes = append(fixes, "Ask a reviewer with write access, other than the author, to approve the latest commit.")
		case config.ReqMergeable:
			fixes = append(fixes, "Resolve what stops GitHub from merging it: conflicts, failing required checks or missing required reviews.")
		case config.ReqUndiverged:
			fixes = append(fixes, "Merge or rebase the latest `"+baseBranch+"` into the branch; Atoll plans again on the push.")
		case config.ReqPoliciesPassed:
			fixes = append(fixes, "Fix the failing policies and push, or ask a policy owner to comment `atoll approve_policies`.")
		}
	}
	return strings.Join(fixes, " ")
}

// requirementsSource says where requirements (key: "plan_requirements",
// "apply_requirements" or "import_requirements") come from, for refusals: the last repos.yaml entry
// matching the repo that sets them, and the repo config when the server lets it
// override them.
func (r *prRun) requirementsSource(key string) string {
	entry, overridable := "", false
	for _, sr := range r.s.cfg.RepoCfg.Repos {
		if !sr.Matches(r.w.Repo.ID(), r.pull.BaseBranch) {
			continue
		}
		reqs := sr.ApplyRequirements
		switch key {
		case "plan_requirements":
			reqs = sr.PlanRequirements
		case "import_requirements":
			reqs = sr.ImportRequirements
		}
		if reqs != nil {
			entry = sr.ID
		}
		if sr.AllowedOverrides != nil {
			overridable = contains(sr.AllowedOverrides, key)
		}
	}
	file := r.resolved.ConfigFile
	switch {
	case file != "" && overridable && entry == "":
		return "`" + file + "`"
	case file != "" && overridable:
		return "the server's repos.yaml for `" + entry + "`, or `" + file + "`"
	case entry != "":
		return "the server's repos.yaml for `" + entry + "`"
	}
	return "the server's repos.yaml"
}

// mergeableState reports whether GitHub's mergeable_state allows merging.
func mergeableState(s string) bool {
	switch s {
	case "clean", "unstable", "has_hooks", "":
		return true
	}
	return false
}

// unappliedDependencies names the depends_on projects of p whose plans are not
// applied yet (a dependency with no changes counts as applied).
func (r *prRun) unappliedDependencies(p config.Project, plans []locking.Plan) []string {
	var missing []string
	for _, dep := range p.DependsOn {
		for _, pl := range plans {
			if pl.Project == dep && (pl.HasChanges || pl.Failed) && !pl.Applied {
				missing = append(missing, "`"+dep+"`")
			}
		}
	}
	return missing
}

// findProject returns the configured project a plan record belongs to, or an
// ad-hoc one with the default workflow.
func findProject(all []config.Project, pl locking.Plan) config.Project {
	for _, p := range all {
		if p.Dir == pl.Key.Dir && p.Workspace == pl.Key.Workspace && p.Name == pl.Project {
			return p
		}
	}
	for _, p := range all {
		if p.Dir == pl.Key.Dir && p.Workspace == pl.Key.Workspace {
			return p
		}
	}
	return config.Project{Name: pl.Project, Dir: pl.Key.Dir, Workspace: pl.Key.Workspace, Workflow: config.DefaultWorkflow(), RepoLocking: "on_plan"}
}

func countsFromSummary(s string) templates.Counts {
	var c templates.Counts
	_, _ = fmt.Sscanf(s, "%d to add, %d to change, %d to destroy", &c.Add, &c.Change, &c.Destroy)
	return c
}

func projectArgs(p config.Project) string {
	cmd := applyCommand(p)
	return strings.TrimPrefix(cmd, "atoll apply")
}

func selectionArgs(cmd Command) string {
	out := ""
	if cmd.Project != "" {
		out += " -p " + cmd.Project
	}
	if cmd.Dir != "" {
		out += " -d " + cmd.Dir
	}
	if cmd.Workspace != "" {
		out += " -w " + cmd.Workspace
	}
	return out
}

func selectionText(cmd Command) string {
	if a := selectionArgs(cmd); a != "" {
		return " matching `" + strings.TrimSpace(a) + "`"
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
