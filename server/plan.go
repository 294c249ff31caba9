package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// maxParallelProjects is the default bound (Config.ParallelPoolSize) of the
// projects planned or applied at once inside one job: terraform is CPU- and
// memory-heavy, and the job itself already counts against MaxParallelJobs.
const maxParallelProjects = 4

// autoplan plans the projects a PR's changes touch.
func (r *prRun) autoplan(ctx context.Context) bool {
	if !r.pullFromWebhook(ctx) && !r.fetchPull(ctx) {
		return false
	}
	if r.pull.State != vcs.PullOpen {
		r.log.Info("pull request not open; autoplan skipped")
		if h := r.w.Handover; h != nil {
			// Its close job left the queue too late: the lock goes on.
			r.s.releaseHanded(ctx, r.w.Repo, r.pull.Num, h.Key, whyClosed(r.pull.State))
		}
		return true
	}
	if reason := r.forkRefusal(); reason != "" {
		r.log.Info("fork pull request not planned", "head_repo", r.pull.HeadRepo.FullName())
		r.logf("not planned: %s\n", reason)
		r.setStatus(ctx, statusPlan, vcs.StatusFailure, forkStatus(r.pull))
		return false
	}
	// Earlier plans of this PR are kept: apply compares each plan's commit with
	// the PR's head and refuses a stale one with a message saying to re-plan.
	r.setStatus(ctx, statusPlan, vcs.StatusPending, "Atoll is planning")
	if !r.checkout(ctx, statusPlan) {
		return false
	}
	changed, err := r.s.cfg.VCS.ListChangedFiles(ctx, r.w.Repo, r.pull.Num)
	if err != nil {
		r.log.Error("list changed files", "error", err)
		if isTimeout(err) {
			r.logf("error: GitHub did not answer in time (see --gh-timeout), so the changed files of pull request #%d could not be read: %v\n", r.w.Pull.Num, err)
		}
		// GitHub's error text may name internal hosts: it goes to the log only.
		r.fail(ctx, statusPlan, "could not list the pull request's changed files from GitHub", "")
		return false
	}
	projects, err := r.resolved.Projects(r.dir, changed)
	if err != nil {
		r.fail(ctx, statusPlan, "could not work out which projects changed", err.Error())
		return false
	}
	if r.w.Handover != nil {
		projects = r.withHandedProject(projects)
		r.intro = r.handoverIntro()
	}
	defer r.runHooks(ctx, "post", CmdPlan, r.resolved.PostWorkflowHooks)
	if len(projects) == 0 {
		r.logf("no Terraform projects are affected by this pull request\n")
		r.setStatus(ctx, statusPlan, vcs.StatusSuccess, "no Terraform projects changed")
		return true
	}
	return r.plan(ctx, projects)
}

// planCommand runs `atoll plan [-d -w -p]`.
func (r *prRun) planCommand(ctx context.Context) bool {
	r.setStatus(ctx, statusPlan, vcs.StatusPending, "Atoll is planning")
	if !r.checkout(ctx, statusPlan) {
		return false
	}
	defer r.runHooks(ctx, "post", CmdPlan, r.resolved.PostWorkflowHooks)
	projects, err := r.selectProjects(ctx)
	if err != nil {
		r.refuse(ctx, statusPlan, err.Error(), "")
		return false
	}
	if len(projects) == 0 {
		r.setStatus(ctx, statusPlan, vcs.StatusSuccess, "no Terraform projects changed")
		r.comment(ctx, "`atoll plan` found no Terraform projects changed by this pull request. To plan a directory anyway, comment `atoll plan -d DIR`.")
		return true
	}
	return r.plan(ctx, projects)
}

// selectProjects returns the projects a command names with -d/-w/-p, or the
// projects the PR changes when it names none.
func (r *prRun) selectProjects(ctx context.Context) ([]config.Project, error) {
	cmd := r.w.Command
	if pat, err := r.projectPattern(); pat != nil || err != nil {
		if err != nil {
			return nil, err
		}
		if cmd.Workspace != "" {
			return nil, errors.New("use -p on its own, or -d and -w, not both")
		}
		return r.resolved.SelectPattern(pat) // --enable-regexp-cmd
	}
	if cmd.Dir != "" || cmd.Project != "" {
		// Any configured project, or any directory of the repo (as Atlantis
		// allows), whether or not the PR changes it.
		projects, err := r.resolved.Select(r.dir, nil, cmd.Dir, cmd.Workspace, cmd.Project)
		return projects, r.regexpHint(err)
	}
	changed, err := r.s.cfg.VCS.ListChangedFiles(ctx, r.w.Repo, r.pull.Num)
	if err != nil {
		r.log.Error("list changed files", "error", err)
		//lint:ignore ST1005 this error is the sentence shown on the pull request
		return nil, errors.New("Atoll could not list the pull request's changed files from GitHub; try again in a minute")
	}
	candidates, err := r.resolved.Projects(r.dir, changed)
	if err != nil {
		return nil, err
	}
	if cmd.Workspace == "" {
		return candidates, nil
	}
	return r.resolved.Select(r.dir, candidates, "", cmd.Workspace, "")
}

// plan locks every project all-or-nothing, then plans them in execution order
// groups and comments the result, editing one comment as projects finish.
func (r *prRun) plan(ctx context.Context, projects []config.Project) bool {
	s := r.s
	pr := r.pull
	// plan_requirements come first: a refused project takes no lock.
	projects, refused := r.planBlocked(ctx, projects)
	if len(projects) == 0 {
		r.setStatus(ctx, statusPlan, vcs.StatusFailure, "plan_requirements are not met")
		r.postResults(ctx, r.newLiveComment(), templates.Plan, refused)
		r.audit(ctx, AuditPlan, refused)
		return false
	}
	var locks []locking.Lock
	for _, p := range projects {
		if p.RepoLocking == "disabled" || p.RepoLocking == "on_apply" {
			continue
		}
		locks = append(locks, locking.Lock{Key: projectKey(r.w.Repo, p), Pull: pr.Num, PullURL: pr.URL, HeadSHA: pr.HeadSHA,
			User: r.w.User, Project: p.Name, Time: s.cfg.Now()})
	}
	if err := s.cfg.Store.Acquire(ctx, locks); err != nil {
		var held *locking.HeldError
		if !errors.As(err, &held) {
			r.log.Error("acquire locks", "error", err)
			r.fail(ctx, statusPlan, "could not take the workspace locks", "")
			return false
		}
		return r.planHeld(ctx, held.Held, projects, refused)
	}

	if r.resolved.LockQueue {
		// It holds these locks now: waiting for one of them (it took the
		// lock before a handover could give it) would hand it back later.
		for _, l := range locks {
			if err := s.cfg.Store.Dequeue(ctx, l.Key, pr.Num); err != nil {
				r.log.Error("leave the queue of a lock taken", "dir", l.Key.Dir, "workspace", l.Key.Workspace, "error", err)
			}
		}
	}
	results := make([]templates.Project, len(projects))
	for i, p := range projects {
		results[i] = tmplProject(p) // Status "" until the project finishes
	}
	// Projects refused by plan_requirements follow the planned ones; their
	// indices are past len(projects), so runGroups never touches them.
	results = append(results, refused...)
	lc := r.planComment(ctx)
	silenced := allSilenced(projects, "plan")
	if !silenced {
		r.postResults(ctx, lc, templates.Plan, results)
	}
	// The pending status set when the command started stands (one GitHub
	// call fewer); only a plan that set none sets one now.
	r.statusMu.Lock()
	_, pending := r.unsettled[statusPlan]
	r.statusMu.Unlock()
	if !pending {
		r.setStatus(ctx, statusPlan, vcs.StatusPending, "planning "+countProjects(len(projects)))
	}

	var mu sync.Mutex // guards results while projects finish in parallel
	finish := func(i int, res templates.Project) {
		mu.Lock()
		results[i] = res
		snapshot := append([]templates.Project(nil), results...)
		mu.Unlock()
		if !silenced {
			r.postResults(ctx, lc, templates.Plan, snapshot)
		}
	}
	r.runGroups(ctx, projects, r.resolved.ParallelPlan, func(i int) bool {
		res := r.planProject(ctx, projects[i])
		finish(i, res)
		r.reportCheck(ctx, "plan", res)
		if len(res.Policies) > 0 {
			r.reportCheck(ctx, "policy_check", res)
		}
		return res.Status != templates.StatusError
	}, func(i int) {
		res := tmplProject(projects[i])
		res.Status, res.Reason = templates.StatusRefused, abortedReason
		finish(i, res)
	})

	r.setPolicyStatus(ctx, results)
	r.audit(ctx, AuditPlan, results)
	planned, failed := 0, 0
	for _, res := range results {
		switch res.Status {
		case templates.StatusError, templates.StatusRefused:
			failed++
		default:
			planned++
		}
	}
	if failed > 0 {
		r.setStatus(ctx, statusPlan, vcs.StatusFailure, fmt.Sprintf("%d planned, %d failed", planned, failed))
		return false
	}
	r.setStatus(ctx, statusPlan, vcs.StatusSuccess, countProjects(planned)+" planned")
	return true
}

// runGroups calls run for each project index, group by group in
// execution_order_group order; inside a group in parallel when parallel is set.
// run reports whether its project succeeded. With abort_on_execution_order_fail,
// a group with a failure stops the later groups: skip is called for each of
// their projects instead of run.
func (r *prRun) runGroups(ctx context.Context, projects []config.Project, parallel bool, run func(i int) bool, skip func(i int)) {
	groups := map[int][]int{}
	var order []int
	for i, p := range projects {
		if _, ok := groups[p.ExecutionOrderGroup]; !ok {
			order = append(order, p.ExecutionOrderGroup)
		}
		groups[p.ExecutionOrderGroup] = append(groups[p.ExecutionOrderGroup], i)
	}
	sort.Ints(order)
	failed := false
	// A panic in a project's goroutine would end the whole process; it is
	// caught there and raised again here, where Execute recovers it.
	var panicked any
	defer func() {
		if panicked != nil {
			panic(panicked)
		}
	}()
	for _, g := range order {
		if failed && r.resolved.AbortOnExecutionOrderFail {
			for _, i := range groups[g] {
				skip(i)
			}
			continue
		}
		var eg errgroup.Group
		if parallel {
			eg.SetLimit(r.s.cfg.ParallelPoolSize)
		} else {
			eg.SetLimit(1)
		}
		var mu sync.Mutex // guards failed and panicked
		for _, i := range groups[g] {
			eg.Go(func() error {
				defer func() {
					if p := recover(); p != nil {
						r.log.Error("project panicked", "panic", p, "stack", string(debug.Stack()))
						mu.Lock()
						failed = true
						if panicked == nil {
							panicked = p
						}
						mu.Unlock()
					}
				}()
				if !run(i) {
					mu.Lock()
					failed = true
					mu.Unlock()
				}
				return nil
			})
		}
		_ = eg.Wait()
		if panicked != nil {
			return
		}
	}
}

// abortedReason is the reason shown for projects skipped by abort_on_execution_order_fail.
const abortedReason = "not run: a project in an earlier `execution_order_group` failed, and `abort_on_execution_order_fail` is set"

// planProject runs the plan workflow of one project and stores the plan record.
func (r *prRun) planProject(ctx context.Context, p config.Project) templates.Project {
	s := r.s
	res := tmplProject(p)
	log := r.log.With("project", projectLabel(p), "workspace", p.Workspace)
	fmt.Fprintf(r.job, "\n=== plan %s (workspace %s) ===\n", p.Dir, p.Workspace)
	planFile := s.cfg.Runner.PlanPath(r.w.Repo, r.pull.Num, p.Dir, p.Workspace)
	tf, err := s.cfg.Runner.Binary(p.TerraformDistribution, p.TerraformVersion)
	if err != nil {
		res.Status, res.Step, res.Output = templates.StatusError, "init", err.Error()
		s.metrics.projects.WithLabelValues("plan", "error").Inc()
		r.discardPlan(ctx, p, planFile, log)
		return res
	}
	result, err := s.cfg.Runner.Run(ctx, runner.Job{
		Dir: r.dir, ProjectDir: p.Dir, Workspace: p.Workspace, Steps: s.planSteps(p), Terraform: tf,
		ExtraArgs: r.w.Command.ExtraArgs, PlanFile: planFile, Env: r.runEnv(p, planFile), Log: r.job, Logger: log,
	})
	if err != nil {
		res.Status = templates.StatusError
		res.Step, res.ExitCode, res.Output = errorOutput(err)
		log.Info("plan failed", "step", res.Step, "exit_code", res.ExitCode)
		s.metrics.projects.WithLabelValues("plan", "error").Inc()
		r.discardPlan(ctx, p, planFile, log)
		return res
	}
	res.Output = result.Output
	if result.Plan == nil {
		res.Status = templates.StatusPlanned
		s.metrics.projects.WithLabelValues("plan", "ok").Inc()
		return res
	}
	res.Counts = templates.Counts{Add: result.Plan.Add, Change: result.Plan.Change, Destroy: result.Plan.Destroy, Import: result.Plan.Import}
	for _, rc := range result.Plan.Resources {
		res.Resources = append(res.Resources, templates.Resource{Action: rc.Action, Address: rc.Address})
	}
	res.Status = templates.StatusPlanned
	if !result.Plan.HasChanges {
		res.Status = templates.StatusNoChanges
	}
	data, err := os.ReadFile(planFile)
	if err != nil {
		log.Error("read plan file", "error", err)
		res.Status, res.Step, res.Output = templates.StatusError, "plan", "the plan file could not be read back"
		r.discardPlan(ctx, p, planFile, log)
		return res
	}
	var pc *locking.PolicyCheck
	if s.policyOn(p) {
		pc = r.checkPolicies(ctx, projectKey(r.w.Repo, p), planFile)
		res.Policies = tmplPolicies(pc)
	}
	sum := sha256.Sum256(data)
	rec := locking.Plan{Policy: pc, Key: projectKey(r.w.Repo, p), Pull: r.pull.Num, Project: p.Name, HeadSHA: r.codeSHA(), Path: planFile,
		Data: data, SHA256: hex.EncodeToString(sum[:]), Summary: summary(res.Counts), HasChanges: result.Plan.HasChanges, Time: s.cfg.Now(),
		ChangesDigest: result.Plan.ChangesDigest, MergeSHA: r.mergeSHA}
	for _, rc := range result.Plan.Resources {
		rec.Resources = append(rec.Resources, locking.ResourceChange{Address: rc.Address, Action: rc.Action})
	}
	r.setArgs(ctx, &rec)
	if err := s.cfg.Store.SavePlan(ctx, rec); err != nil {
		log.Error("save plan record", "error", err)
		res.Status, res.Step, res.Output = templates.StatusError, "plan", "the plan could not be saved, so it cannot be applied; run `atoll plan` again"
		return res
	}
	s.metrics.projects.WithLabelValues("plan", "ok").Inc()
	return res
}

// setArgs records the extra arguments rec was planned with and when the
// project's plan last changed (other arguments, or other planned changes:
// a module or data source outside the repository can change what the same
// code plans), so approvals given for another plan no longer count.
func (r *prRun) setArgs(ctx context.Context, rec *locking.Plan) {
	rec.ExtraArgs = slices.Clone(r.w.Command.ExtraArgs)
	prev, found := r.previousPlan(ctx, rec.Key)
	if found && rec.ChangesDigest == "" {
		rec.ChangesDigest = prev.ChangesDigest // a failed plan keeps the last one's
	}
	if found && r.mergeSHA != "" {
		// A re-plan of the merge commit: the reviews of the pull request
		// stand. What differs from the reviewed plan is shown on the pull
		// request, and only a person with permission applies it.
		rec.ArgsChangedAt, rec.SupersededReviews = prev.ArgsChangedAt, prev.SupersededReviews
		return
	}
	sameChanges := !found || prev.ChangesDigest == "" || rec.ChangesDigest == prev.ChangesDigest
	switch {
	case found && slices.Equal(prev.ExtraArgs, rec.ExtraArgs) && sameChanges:
		rec.ArgsChangedAt, rec.SupersededReviews = prev.ArgsChangedAt, prev.SupersededReviews
	case !found && len(rec.ExtraArgs) == 0:
		// The first plan, with no extra arguments: nothing changed.
	default:
		rec.ArgsChangedAt = rec.Time
		// Every review given so far was given for another plan. GitHub's
		// review times have one-second resolution, so they are told apart
		// by ID, not by time.
		reviews, err := r.s.cfg.VCS.ListReviews(ctx, r.w.Repo, r.pull.Num)
		if err != nil {
			r.log.Error("list reviews superseded by a re-plan; only later reviews will count", "error", err)
			return
		}
		rec.SupersededReviews = []int64{}
		for _, rv := range reviews {
			rec.SupersededReviews = append(rec.SupersededReviews, rv.ID)
		}
	}
}

// previousPlan returns this PR's stored plan record for key, if any. A store
// error counts as none, which makes a new plan with arguments need a fresh
// approval: it fails closed.
func (r *prRun) previousPlan(ctx context.Context, key locking.Key) (locking.Plan, bool) {
	plans, err := r.s.cfg.Store.Plans(ctx, r.w.Repo.ID(), r.pull.Num)
	if err != nil {
		r.log.Error("list plans", "error", err)
		return locking.Plan{}, false
	}
	for _, pl := range plans {
		if pl.Key == key {
			return pl, true
		}
	}
	return locking.Plan{}, false
}

// discardPlan replaces project p's saved plan with the record of a failed one,
// and removes the plan file: after a failed re-plan, `atoll apply` must not
// apply the plan before it.
func (r *prRun) discardPlan(ctx context.Context, p config.Project, planFile string, log *slog.Logger) {
	rec := locking.Plan{Key: projectKey(r.w.Repo, p), Pull: r.pull.Num, Project: p.Name, HeadSHA: r.codeSHA(),
		Failed: true, Time: r.s.cfg.Now(), MergeSHA: r.mergeSHA}
	r.setArgs(ctx, &rec)
	if err := r.s.cfg.Store.SavePlan(ctx, rec); err != nil {
		log.Error("discard the previous plan", "error", err)
	}
	if err := os.Remove(planFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Error("remove plan file", "error", err)
	}
}

// postResults renders a plan or apply comment (render is templates.Plan or
// templates.Apply) from results; projects without a status yet are listed as
// running.
func (r *prRun) postResults(ctx context.Context, lc *liveComment, render func(templates.Comment) (string, error), results []templates.Project) {
	var running []string
	for _, res := range results {
		if res.Status == "" {
			running = append(running, res.Label())
		}
	}
	body, err := render(templates.Comment{Projects: finished(results), JobURL: r.jobURL(), LocksURL: r.s.locksURL(),
		Now: r.s.cfg.Now(), Running: running, Intro: r.intro, Next: r.next})
	if err != nil {
		r.log.Error("render comment", "error", err)
		return
	}
	lc.setLive(ctx, body, len(running) == 0)
}

// refuse sets a failure status and comments why a command was refused.
func (r *prRun) refuse(ctx context.Context, statusCtx, reason, fix string) {
	r.setStatus(ctx, statusCtx, vcs.StatusFailure, firstLine(reason))
	r.auditRefusal(ctx, r.commandName(), reason)
	body, err := templates.Refused(templates.RefusedData{Command: commandLabel(r.w), Reason: reason, Fix: fix})
	if err != nil {
		r.log.Error("render refusal", "error", err)
		return
	}
	r.comment(ctx, body)
}

func (s *Server) locksURL() string {
	if s.cfg.AtollURL == "" {
		return ""
	}
	return s.cfg.AtollURL + "/"
}

func projectKey(repo vcs.Repo, p config.Project) locking.Key {
	ws := p.Workspace
	if ws == "" {
		ws = "default"
	}
	return locking.Key{Repo: repo.ID(), Dir: p.Dir, Workspace: ws}
}

func projectLabel(p config.Project) string {
	if p.Name != "" {
		return p.Name
	}
	return p.Dir
}

func tmplProject(p config.Project) templates.Project {
	return templates.Project{Name: p.Name, Dir: p.Dir, Workspace: p.Workspace, ApplyCommand: applyCommand(p)}
}

// applyCommand is the comment that applies p, pasted as the next step.
func applyCommand(p config.Project) string {
	if p.Name != "" {
		return "atoll apply -p " + p.Name
	}
	cmd := "atoll apply -d " + p.Dir
	if p.Workspace != "" && p.Workspace != "default" {
		cmd += " -w " + p.Workspace
	}
	return cmd
}

func summary(c templates.Counts) string {
	return fmt.Sprintf("%d to add, %d to change, %d to destroy", c.Add, c.Change, c.Destroy)
}

func allSilenced(projects []config.Project, stage string) bool {
	for _, p := range projects {
		silenced := false
		for _, s := range p.SilencePRComments {
			if s == stage {
				silenced = true
			}
		}
		if !silenced {
			return false
		}
	}
	return len(projects) > 0
}

// finished returns the results whose project has finished (Status set).
func finished(in []templates.Project) []templates.Project {
	var out []templates.Project
	for _, p := range in {
		if p.Status != "" {
			out = append(out, p)
		}
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// countProjects says "1 project" or "N projects".
func countProjects(n int) string {
	if n == 1 {
		return "1 project"
	}
	return fmt.Sprintf("%d projects", n)
}
