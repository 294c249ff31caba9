package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// Audit actions of the state commands.
const (
	AuditImport  = "import"
	AuditStateRm = "state_rm"
)

// discardedSummary starts the Summary of a plan record that a state command
// discarded (a Failed record with no plan): apply says why it refuses.
const discardedSummary = "discarded: the state changed"

// stateCommand runs `atoll import ADDRESS ID` or `atoll state rm ADDRESS...`
// in one project: it checks import_requirements, takes the project's lock as
// plan does, runs the workflow's import or state_rm stage, and discards the
// project's saved plan, which the changed state makes stale.
func (r *prRun) stateCommand(ctx context.Context) bool {
	s := r.s
	cmd := r.w.Command
	what, action := "import", AuditImport
	if cmd.Name == CmdState {
		what, action = "state rm", AuditStateRm
	}
	if !r.checkout(ctx, statusPlan) {
		return false
	}
	defer r.runHooks(ctx, "post", cmd.Name, r.resolved.PostWorkflowHooks)
	projects, err := r.selectProjects(ctx)
	if err != nil {
		r.stateRefusal(ctx, action, err.Error(), "Name the project with `-d DIR` or `-p PROJECT`.")
		return false
	}
	switch len(projects) {
	case 0:
		r.stateRefusal(ctx, action, "No Terraform project matched"+selectionText(cmd)+", so there is no state to change.",
			"Name the project with `-d DIR` (and `-w WORKSPACE`) or `-p PROJECT`.")
		return false
	case 1:
	default:
		var names []string
		for _, p := range projects {
			names = append(names, "`"+projectLabel(p)+"` ("+p.Workspace+")")
		}
		r.stateRefusal(ctx, action, fmt.Sprintf("`%s` changes the state of one project, and %d match: %s.", stateLabel(cmd), len(projects), strings.Join(names, ", ")),
			"Name one with `-d DIR` (and `-w WORKSPACE`) or `-p PROJECT`.")
		return false
	}
	p := projects[0]
	data := templates.StateData{Command: what, Project: tmplProject(p), Addresses: cmd.Addresses, ImportID: cmd.ImportID,
		JobURL: r.jobURL(), LocksURL: s.locksURL(), Now: s.cfg.Now()}
	data.Project.ApplyCommand = ""

	// import_requirements, as Atlantis applies them to import and state rm;
	// policies_passed needs a plan, which neither has.
	reqs := slices.DeleteFunc(slices.Clone(p.ImportRequirements), func(s string) bool { return s == config.ReqPoliciesPassed })
	if len(reqs) > 0 {
		checks, met := (&liveReqs{r: r}).check(ctx, p, locking.Plan{}, reqs)
		if !met {
			src := r.requirementsSource("import_requirements")
			for k := range checks {
				checks[k].Source = src
			}
			data.Status = templates.StatusRefused
			data.Project.Requirements = checks
			data.Project.Reason = requirementsFix(checks, r.pull.BaseBranch)
			r.stateAudit(ctx, action, p, templates.StatusRefused, "import_requirements not met")
			return r.stateComment(ctx, data, false)
		}
	}

	if p.RepoLocking != "disabled" {
		err := s.cfg.Store.Acquire(ctx, []locking.Lock{{Key: projectKey(r.w.Repo, p), Pull: r.pull.Num, PullURL: r.pull.URL,
			HeadSHA: r.pull.HeadSHA, User: r.w.User, Project: p.Name, Time: s.cfg.Now()}})
		var held *locking.HeldError
		if errors.As(err, &held) {
			s.metrics.lockConflict.Inc()
			data.Status = templates.StatusLocked
			data.Project.Lock = &templates.LockInfo{Pull: held.Held.Pull, PullURL: held.Held.PullURL, User: held.Held.User, Since: held.Held.Time}
			r.stateAudit(ctx, action, p, templates.StatusLocked, fmt.Sprintf("locked by #%d", held.Held.Pull))
			return r.stateComment(ctx, data, false)
		}
		if err != nil {
			r.log.Error("acquire lock", "error", err)
			r.stateRefusal(ctx, action, "Atoll could not take the lock of `"+projectLabel(p)+"`.", "Try `"+stateLabel(cmd)+"` again in a minute.")
			return false
		}
	}

	log := r.log.With("project", projectLabel(p), "workspace", p.Workspace)
	fmt.Fprintf(r.job, "\n=== %s %s (workspace %s) ===\n", what, p.Dir, p.Workspace)
	planFile := s.cfg.Runner.PlanPath(r.w.Repo, r.pull.Num, p.Dir, p.Workspace)
	steps, stepKind := p.Workflow.Import, config.StepImport
	if cmd.Name == CmdState {
		steps, stepKind = p.Workflow.StateRm, config.StepStateRm
	}
	if len(steps) == 0 {
		def := config.DefaultWorkflow()
		steps = def.Import
		if cmd.Name == CmdState {
			steps = def.StateRm
		}
	}
	job := runner.Job{Dir: r.dir, ProjectDir: p.Dir, Workspace: p.Workspace, Steps: steps, ExtraArgs: cmd.ExtraArgs,
		PlanFile: planFile, Env: r.runEnv(p, planFile), Log: r.job, Logger: log}
	if cmd.Name == CmdImport {
		job.ImportAddress, job.ImportID = cmd.Addresses[0], cmd.ImportID
	} else {
		job.StateRmAddresses = cmd.Addresses
	}
	tf, err := s.cfg.Runner.Binary(p.TerraformDistribution, p.TerraformVersion)
	if err == nil {
		job.Terraform = tf
		var result runner.Result
		result, err = s.cfg.Runner.Run(ctx, job)
		data.Output = result.Output
	}
	if err != nil {
		data.Status = templates.StatusError
		step, code, out := errorOutput(err)
		if step == "" {
			step = stepKind
		}
		data.Project.Step, data.Project.ExitCode, data.Project.Output = step, code, out
		log.Info(what+" failed", "step", step, "exit_code", code)
		// A state rm of several addresses may have removed some before it
		// failed: the plan is stale then too.
		if step == config.StepStateRm {
			data.PlanDiscarded = r.discardStalePlan(ctx, p, planFile, what)
		}
		r.stateAudit(ctx, action, p, templates.StatusError, fmt.Sprintf("step %s failed (exit code %d)", step, code))
		return r.stateComment(ctx, data, data.PlanDiscarded)
	}
	data.Status = templates.StateDone
	data.PlanDiscarded = r.discardStalePlan(ctx, p, planFile, what)
	result := "imported"
	detail := cmd.Addresses[0] + " = " + cmd.ImportID
	if cmd.Name == CmdState {
		result, detail = "removed", strings.Join(cmd.Addresses, " ")
	}
	if len(cmd.ExtraArgs) > 0 {
		detail += " (" + strings.Join(cmd.ExtraArgs, " ") + ")"
	}
	r.stateAudit(ctx, action, p, result, detail)
	return r.stateComment(ctx, data, data.PlanDiscarded)
}

// stateComment posts the answer to a state command and, when the project's
// plan was discarded, fails the plan status so that nobody merges on the
// strength of a plan that no longer exists. It returns whether the command
// succeeded.
func (r *prRun) stateComment(ctx context.Context, data templates.StateData, discarded bool) bool {
	if discarded {
		r.setStatus(ctx, statusPlan, vcs.StatusFailure, "state changed by atoll "+data.Command+": run atoll plan again")
	}
	body, err := templates.State(data)
	if err != nil {
		r.log.Error("render state comment", "error", err)
		return false
	}
	r.comment(ctx, body)
	return data.Status == templates.StateDone
}

// stateRefusal comments why a state command did not run. It sets no status:
// nothing about the pull request's plans changed.
func (r *prRun) stateRefusal(ctx context.Context, action, reason, fix string) {
	r.auditRefusal(ctx, action, reason)
	r.comment(ctx, refusedBody(stateLabel(r.w.Command), reason, fix))
}

// stateAudit records what a state command did to project p.
func (r *prRun) stateAudit(ctx context.Context, action string, p config.Project, result, detail string) {
	r.s.appendAudit(ctx, locking.AuditEvent{User: r.w.User, Action: action, Via: r.via(), Repo: r.w.Repo.ID(), Pull: r.w.Pull.Num,
		Project: p.Name, Dir: p.Dir, Workspace: p.Workspace, Commit: r.codeSHA(), Result: result, Detail: firstLine(detail), JobID: r.w.ID})
}

// discardStalePlan replaces project p's unapplied saved plan with a record
// saying the state changed, and removes the plan file: `atoll apply` refuses
// until the project is planned again. It reports whether there was a plan to
// discard.
func (r *prRun) discardStalePlan(ctx context.Context, p config.Project, planFile, what string) bool {
	key := projectKey(r.w.Repo, p)
	prev, found := r.previousPlan(ctx, key)
	if !found || prev.Applied || prev.Failed {
		return false
	}
	rec := locking.Plan{Key: key, Pull: r.pull.Num, Project: p.Name, HeadSHA: prev.HeadSHA, Failed: true, Time: r.s.cfg.Now(),
		Summary: fmt.Sprintf("%s by `atoll %s` (@%s)", discardedSummary, what, r.w.User), ExtraArgs: prev.ExtraArgs,
		ArgsChangedAt: prev.ArgsChangedAt, SupersededReviews: prev.SupersededReviews, ChangesDigest: prev.ChangesDigest, MergeSHA: prev.MergeSHA}
	if err := r.s.cfg.Store.SavePlan(ctx, rec); err != nil {
		r.log.Error("discard the stale plan", "error", err)
	}
	r.removePlanFile(planFile)
	if prev.Path != "" && prev.Path != planFile {
		r.removePlanFile(prev.Path)
	}
	return true
}

// staleReason is apply's refusal of a plan a state command discarded, or ""
// when pl is not one.
func staleReason(pl locking.Plan, p config.Project) string {
	if !pl.Failed || !strings.HasPrefix(pl.Summary, discardedSummary) {
		return ""
	}
	return "the plan of this project was " + pl.Summary + " after it was made, so it no longer says what apply would do. Run `atoll plan" +
		projectArgs(p) + "` again and review the new plan."
}

// removePlanFile removes a plan file and its show file, if present.
func (r *prRun) removePlanFile(planFile string) {
	for _, f := range []string{planFile, runner.ShowFile(planFile)} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.log.Error("remove plan file", "error", err)
		}
	}
}
