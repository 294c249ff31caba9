package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// Commit status contexts.
const (
	statusPlan  = "atoll/plan"
	statusApply = "atoll/apply"
)

// prRun is the state of one job on one pull request.
type prRun struct {
	s    *Server
	w    Work
	job  *Job
	log  *slog.Logger
	pull vcs.PullRequest
	// dir is the checkout of pull's head; resolved is its merged config.
	dir      string
	resolved *config.Resolved

	journalMu  sync.Mutex // guards commentIDs and serialises journal writes
	commentIDs []int64    // comments this job posted

	// statusOrder serialises status writes; heldStatus holds the pending
	// statuses setPendingSoon has not sent yet, by context.
	statusOrder sync.Mutex
	heldStatus  map[string]*time.Timer

	statusMu sync.Mutex // guards unsettled
	// unsettled holds, by status context, the last status this job set or
	// tried to set that is pending or did not reach the VCS. Execute settles
	// each one before the job ends, so no commit status stays pending forever.
	unsettled map[string]vcs.Status

	// lost is why the job's lease was lost (wraps locking.ErrLeaseLost), nil
	// if it was not; set as the job ends, before settle reads it.
	lost error
	// stopper cancels the job when `atoll cancel` or a push marks it
	// (cancel.go).
	stopper *jobStop

	// mergeSHA is set when the job works on the merge commit of a merged
	// pull request (apply_on_merge): it is checked out, planned and
	// applied, and carries the statuses, instead of the PR's head.
	mergeSHA string
	// applyOnly, when set, limits apply to the plans of these projects.
	applyOnly map[locking.Key]bool
	// mergeCommented is set once apply on merge has told the pull request
	// what it did.
	mergeCommented bool
	// intro and next, when set, open and close the plan or apply comment
	// (templates.Comment's Intro and Next).
	intro, next string
}

// codeSHA is the commit the job's code comes from: the pull request's head,
// or its merge commit after the merge (see mergeSHA).
func (r *prRun) codeSHA() string {
	if r.mergeSHA != "" {
		return r.mergeSHA
	}
	return r.pull.HeadSHA
}

// Execute runs one unit of work to completion. It never panics: a panic is logged,
// reported on the PR as an internal error, and the job marked failed.
func (s *Server) Execute(ctx context.Context, w Work) { s.execute(ctx, w) }

// execute is Execute returning why the job's lease was lost (an error wrapping
// locking.ErrLeaseLost) if that stopped it, and nil otherwise.
func (s *Server) execute(ctx context.Context, w Work) (lost error) {
	label := w.Kind
	if w.Kind == WorkCommand {
		label = w.Command.Name
		if w.CommandErr != "" {
			label = "help"
		}
	}
	job := s.jobs.start(w, label)
	log := s.log.With("repo", w.Repo.FullName(), "pull", w.Pull.Num, "job", w.ID, "kind", label)
	r := &prRun{s: s, w: w, job: job, log: log}
	r.journal(ctx)
	defer s.journalDone(ctx, w.ID) // runs last: the job has told its PR how it ended
	ctx, r.stopper = s.watchCancel(ctx, w)
	defer r.stopper.done() // after settle
	ok := false
	stopArchive := s.archiveWhileRunning(ctx, job)
	defer func() { stopArchive(r.lost != nil); lost = r.lost }() // runs after the deferred state change below
	defer func() {
		panicked := false
		if p := recover(); p != nil {
			panicked = true
			log.Error("job panicked", "panic", p, "stack", string(debug.Stack()))
			r.comment(ctx, "**Atoll hit an internal error** running this job and stopped. The server log has the details (job `"+w.ID+"`).")
			ok = false
		}
		r.dropHeldStatuses()
		r.settle(ctx, ok, panicked)
		state := JobSucceeded
		switch {
		case !ok && !panicked && r.stopper.cancelled() != nil:
			state = JobCancelled
		case !ok:
			state = JobFailed
		}
		job.setState(state, s.cfg.Now())
		s.metrics.jobs.WithLabelValues(label, state).Inc()
		snap := job.Snapshot()
		s.metrics.jobSeconds.WithLabelValues(label, state).Observe(snap.Finished.Sub(snap.Started).Seconds())
	}()
	if ctx.Err() != nil {
		return // stopped before it started; settle reports it
	}
	switch {
	case w.Kind == WorkCommand && w.CommandErr == "" && w.Command.Name == CmdCancel:
		// Without the pull request's mutex: it stops the job that holds it.
		ok = r.command(ctx)
		return nil
	case w.Kind == WorkAutoplan:
		// A push makes the plans of older heads useless: stop them rather
		// than wait for them (runatlantis/atlantis#305).
		s.cancelSuperseded(ctx, w)
	}
	// The job runs under held: with replicas, its lease on the PR, which ends
	// it if lost and fences its store writes.
	held, unlock, err := s.lockPull(ctx, w.PullKey())
	if err != nil {
		log.Error("wait for pull request mutex", "error", err)
		return
	}
	defer unlock()
	defer func() { r.lost = leaseLost(held) }() // before unlock: settle reads it
	r.stopper.setHeld()
	log.Info("job started")
	switch {
	case w.Kind == WorkClose:
		ok = r.closed(held)
	case w.Kind == WorkMergeGroup:
		ok = r.mergeGroup(held)
	case w.Kind == WorkAutoplan:
		ok = r.autoplan(held)
	case w.Kind == WorkDriftCheck && s.cfg.Drift != nil:
		ok = r.driftCheck(held)
	case w.Kind == WorkDriftApply && s.cfg.Drift != nil:
		ok = r.driftApply(held)
	case w.CommandErr != "":
		body, err := templates.Help(templates.HelpData{Error: w.CommandErr, AllowedFlags: AllowedExtraFlagNames()})
		if err == nil {
			r.comment(held, body)
		}
		ok = false
	default:
		ok = r.command(held)
	}
	log.Info("job finished", "ok", ok)
	return nil // the deferred functions set lost
}

// command runs a parsed comment command after checking who may run it.
func (r *prRun) command(ctx context.Context) bool {
	cmd := r.w.Command
	if cmd.Name == CmdHelp {
		body, err := templates.Help(templates.HelpData{AllowedFlags: AllowedExtraFlagNames()})
		if err != nil {
			r.log.Error("render help", "error", err)
			return false
		}
		r.comment(ctx, body)
		return true
	}
	// Who is asking comes first: a stranger's command costs no more than one
	// permission lookup, and sets no status.
	if !r.hasPermission(ctx, cmd.Name) {
		return false
	}
	if !r.fetchPull(ctx) {
		return false
	}
	if r.pull.State != vcs.PullOpen {
		switch {
		case cmd.Name == CmdRevert && r.pull.State == vcs.PullMerged:
		case cmd.Name == CmdUnlock:
			// A closed pull request's locks are released already; a merged
			// one may keep them for a plan of its merge commit.
		case cmd.Name == CmdApply && r.pull.State == vcs.PullMerged && r.pull.MergeSHA != "" &&
			r.s.hasPendingMergePlans(ctx, r.w.Repo, r.pull.Num):
			// apply_on_merge found the merge commit's plan differed: a
			// person with permission applies it here.
			r.mergeSHA = r.pull.MergeSHA
			r.next = rollbackNext
		default:
			r.comment(ctx, fmt.Sprintf("`atoll %s` was not run: pull request #%d is %s.", cmd.Name, r.pull.Num, r.pull.State))
			return false
		}
	}
	if reason := r.forkRefusal(); reason != "" {
		r.log.Info("command on a fork pull request refused", "head_repo", r.pull.HeadRepo.FullName(), "user", r.w.User)
		statusCtx := ""
		switch cmd.Name {
		case CmdPlan:
			statusCtx = statusPlan
		case CmdApply:
			statusCtx = statusApply
		}
		if statusCtx != "" {
			r.setStatus(ctx, statusCtx, vcs.StatusFailure, forkStatus(r.pull))
		}
		body, err := templates.Refused(templates.RefusedData{Command: commandLabel(r.w), Reason: reason, Fix: forkFix(r.pull, r.w.Repo)})
		if err == nil {
			r.comment(ctx, body)
		}
		return false
	}
	allowName := cmd.Name
	if allowName == CmdCancel {
		allowName = CmdPlan // who may plan may cancel; the allowlist names no cancel
	}
	if !r.teamAllowed(ctx, allowName) {
		return false
	}
	switch cmd.Name {
	case CmdPlan:
		return r.planCommand(ctx)
	case CmdApply:
		if r.mergeSHA != "" {
			ok := r.apply(ctx)
			r.closeMerged(ctx)
			return ok
		}
		return r.apply(ctx)
	case CmdUnlock:
		return r.unlock(ctx)
	case CmdRevert:
		return r.revert(ctx)
	case CmdApprovePolicies:
		return r.approvePolicies(ctx)
	case CmdImport, CmdState:
		return r.stateCommand(ctx)
	case CmdCancel:
		return r.cancelCommand(ctx)
	}
	return false
}

// pullFromWebhook takes the pull request an autoplan's webhook (or the
// poller's listing) described, saving a GitHub call: it is what GitHub
// signed, and a later push brings its own webhook. It reports false when the
// work carries no full description (then fetchPull reads it).
func (r *prRun) pullFromWebhook(ctx context.Context) bool {
	p := r.w.Pull
	if r.w.Kind != WorkAutoplan || p.HeadSHA == "" || p.State != vcs.PullOpen || p.HeadRepo.Owner == "" || p.BaseBranch == "" {
		return false
	}
	p.BaseRepo = r.w.Repo
	r.usePull(ctx, p)
	return true
}

// fetchPull loads the PR from the VCS; on failure it logs and returns false.
func (r *prRun) fetchPull(ctx context.Context) bool {
	pull, err := r.s.cfg.VCS.GetPullRequest(ctx, r.w.Repo, r.w.Pull.Num)
	if err != nil {
		r.log.Error("get pull request", "error", err)
		if isTimeout(err) {
			r.logf("error: GitHub did not answer in time (see --gh-timeout), so pull request #%d could not be read: %v\n", r.w.Pull.Num, err)
		} else {
			r.logf("error: could not read pull request #%d from GitHub: %v\n", r.w.Pull.Num, err)
		}
		return false
	}
	// Keys and comments use the repo the webhook named (its Host is the configured one).
	pull.BaseRepo = r.w.Repo
	if pull.URL == "" {
		pull.URL = r.w.Pull.URL
	}
	r.usePull(ctx, pull)
	return true
}

// usePull makes p the run's pull request: the journal learns its head
// commit, and the job page its link.
func (r *prRun) usePull(ctx context.Context, p vcs.PullRequest) {
	r.pull = p
	r.journal(ctx)
	r.job.mu.Lock()
	r.job.PullURL = p.URL
	r.job.mu.Unlock()
}

// isTimeout reports whether err is a deadline that passed or a network
// timeout.
func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// checkout prepares the PR head and its config. On failure it has already told
// the PR (status context ctxName and a comment) and returns false.
func (r *prRun) checkout(ctx context.Context, statusCtx string) bool {
	token, err := r.s.cfg.GitToken(ctx)
	if err != nil {
		r.log.Error("get git token", "error", err)
		r.fail(ctx, statusCtx, "could not get a token to clone the repository", "")
		return false
	}
	if r.mergeSHA != "" {
		r.logf("$ git fetch %s %s (%s, the merge commit of #%d)\n", r.w.Repo.CloneURL, r.pull.BaseBranch, short(r.mergeSHA), r.pull.Num)
	} else {
		r.logf("$ git fetch %s %s (%s)\n", r.pull.HeadRepo.CloneURL, r.pull.HeadBranch, short(r.pull.HeadSHA))
	}
	dir, err := r.s.cfg.Runner.Checkout(ctx, r.checkoutSpec(token))
	if err != nil {
		r.log.Error("checkout", "error", err)
		r.fail(ctx, statusCtx, "could not check out the pull request", err.Error())
		return false
	}
	r.dir = dir
	// Pre workflow hooks come from the server's repos.yaml only and run before
	// the repo's config is read, since they often generate it.
	if srv, err := r.s.cfg.RepoCfg.Resolve(r.w.Repo.ID(), r.pull.BaseBranch, nil); err == nil {
		if !r.runHooks(ctx, "pre", r.commandName(), srv.PreWorkflowHooks) {
			return false
		}
	}
	resolved, file, err := r.s.resolveConfig(dir, r.w.Repo, r.pull.BaseBranch)
	if err != nil {
		r.log.Info("repo config refused", "file", file, "error", err)
		r.setStatus(ctx, statusCtx, vcs.StatusFailure, "invalid configuration in "+file)
		body, rerr := templates.Refused(templates.RefusedData{
			Command: commandLabel(r.w),
			Reason:  "The configuration in `" + file + "` is not valid, so nothing ran.",
			Fix:     "Fix the file and push; Atoll plans again on the next push. You can check it locally with `atoll validate " + file + "`.",
			Details: capLines(strings.Split(err.Error(), "\n"), maxDetailLines),
		})
		if rerr == nil {
			r.comment(ctx, body)
		}
		return false
	}
	r.resolved = resolved
	return true
}

func (r *prRun) checkoutSpec(token string) runner.Checkout {
	if r.mergeSHA != "" {
		// The merge commit is on the base branch of the base repository.
		return runner.Checkout{BaseRepo: r.w.Repo, HeadCloneURL: r.w.Repo.CloneURL, HeadBranch: r.pull.BaseBranch,
			HeadSHA: r.mergeSHA, Pull: r.pull.Num, Token: token}
	}
	return runner.Checkout{BaseRepo: r.w.Repo, HeadCloneURL: r.pull.HeadRepo.CloneURL, HeadBranch: r.pull.HeadBranch,
		HeadSHA: r.pull.HeadSHA, Pull: r.pull.Num, Token: token}
}

// resolveConfig reads the repo's config file (if any) at dir and merges it with the
// server's. It returns the file name it read for error messages.
func (s *Server) resolveConfig(dir string, repo vcs.Repo, baseBranch string) (*config.Resolved, string, error) {
	rc, file, err := config.LoadRepoConfig(dir, s.cfg.RepoCfg.RepoConfigFile(repo.ID(), baseBranch))
	if err != nil {
		if file == "" {
			file = "atoll.yaml"
		}
		return nil, file, err
	}
	res, err := s.cfg.RepoCfg.Resolve(repo.ID(), baseBranch, rc)
	if err != nil {
		if file == "" {
			file = "repos.yaml"
		}
		return nil, file, err
	}
	return res, file, nil
}

// fail sets a failure status and comments a short error with detail collapsed.
func (r *prRun) fail(ctx context.Context, statusCtx, msg, detail string) {
	r.setStatus(ctx, statusCtx, vcs.StatusFailure, msg)
	var details []string
	if detail != "" {
		details = strings.Split(strings.TrimRight(detail, "\n"), "\n")
	}
	body, err := templates.Refused(templates.RefusedData{Command: commandLabel(r.w), Reason: msg + ".", Details: details, JobURL: r.jobURL(),
		Fix: "Try again with `atoll plan`; if it keeps failing, an admin can read job `" + r.w.ID + "` in the server log."})
	if err == nil {
		r.comment(ctx, body)
	}
}

// maxDetailLines bounds the error lines a refusal quotes: a hostile config
// can produce thousands of errors, and each comment part is a GitHub call.
const maxDetailLines = 50

// capLines returns the first max lines, and a last line saying how many more
// there were.
func capLines(lines []string, max int) []string {
	if len(lines) <= max {
		return lines
	}
	return append(lines[:max:max], fmt.Sprintf("... and %d more", len(lines)-max))
}

func commandLabel(w Work) string {
	if w.Kind == WorkAutoplan {
		return "autoplan"
	}
	return "atoll " + w.Command.Name
}

func (r *prRun) jobURL() string {
	if r.s.cfg.AtollURL == "" {
		return ""
	}
	return r.s.cfg.AtollURL + "/jobs/" + r.w.ID
}

func (r *prRun) logf(format string, args ...any) { fmt.Fprintf(r.job, format, args...) }

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// runEnv is the Atlantis-style environment of run steps and hooks.
func (r *prRun) runEnv(p config.Project, planFile string) map[string]string {
	return config.RunEnv(config.RunEnvInput{
		Project:       p,
		RepoRoot:      r.dir,
		Command:       r.commandName(),
		Pull:          r.pull.Num,
		PullAuthor:    r.pull.Author,
		PullURL:       r.pull.URL,
		HeadSHA:       r.pull.HeadSHA,
		HeadBranch:    r.pull.HeadBranch,
		BaseBranch:    r.pull.BaseBranch,
		BaseRepoOwner: r.w.Repo.Owner,
		BaseRepoName:  r.w.Repo.Name,
		HeadRepoOwner: r.pull.HeadRepo.Owner,
		HeadRepoName:  r.pull.HeadRepo.Name,
		User:          r.w.User,
		CommentArgs:   r.w.Command.ExtraArgs,
		PlanFile:      planFile,
	})
}

// commandName is the command being run: "plan" for autoplan.
func (r *prRun) commandName() string {
	if r.w.Kind == WorkCommand {
		return r.w.Command.Name
	}
	return CmdPlan
}

// errorOutput returns the output and failing step of a runner error.
func errorOutput(err error) (step string, code int, out string) {
	var se *runner.StepError
	if errors.As(err, &se) {
		return se.Step, se.ExitCode, se.Output
	}
	return "", 0, err.Error()
}
