package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/drift"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// Work kinds of drift detection.
const (
	WorkDriftCheck = "drift_check"
	WorkDriftApply = "drift_apply"
)

// DriftDetector checks default branches for drift and restores Git's state.
type DriftDetector interface {
	CheckRepo(ctx context.Context, repo vcs.Repo) ([]drift.Result, error)
	Remediate(ctx context.Context, repo vcs.Repo, issueNum int) (drift.Remediation, error)
	Results() []drift.Result
}

// ScheduleDrift queues a drift check of repo for the schedule tick at. With
// several replicas each runs the schedule, and only the first to claim the
// tick queues the check.
func (s *Server) ScheduleDrift(ctx context.Context, repo vcs.Repo, at time.Time) error {
	if s.cfg.Drift == nil {
		return errors.New("drift detection is not configured")
	}
	fresh, err := s.cfg.Deliveries.Add(ctx, fmt.Sprintf("drift-tick|%s|%d", repo.ID(), at.Unix()), "")
	if err != nil {
		return fmt.Errorf("claim drift tick: %w", err)
	}
	if !fresh {
		return nil
	}
	return s.cfg.Dispatcher.Dispatch(ctx, Work{ID: newJobID(), Kind: WorkDriftCheck, Repo: repo, User: "schedule", Queued: s.cfg.Now()})
}

// driftCheck runs a drift check job.
func (r *prRun) driftCheck(ctx context.Context) bool {
	results, err := r.s.cfg.Drift.CheckRepo(ctx, r.w.Repo)
	if err != nil {
		r.log.Error("drift check", "error", err)
		r.logf("drift check failed: %v\n", err)
		return false
	}
	r.s.notifyDrift(results)
	ok := true
	for _, res := range results {
		if res.Skipped {
			r.logf("%s (workspace %s): not checked, a pull request holds the workspace (last result: %s)\n", res.Project, res.Workspace, res.Status)
			continue
		}
		r.logf("%s (workspace %s): %s\n", res.Project, res.Workspace, res.Status)
		if res.Status == drift.Failed {
			r.logf("%s\n", res.Error)
			ok = false
		}
	}
	why := "Atoll restored Git's state on its own (`--drift-auto-remediate`)."
	if st, ok := r.s.driftSettings(r.w.Repo, false, ""); ok && st.Remediate == config.RemediateApply {
		why = "Atoll restored Git's state on its own (`remediate: apply` in the server's repos.yaml)."
	} else if !r.s.cfg.DriftAutoRemediate {
		why = ""
	}
	if why != "" {
		for _, res := range results {
			if res.Status != drift.Drifted || res.IssueNum == 0 || res.Skipped {
				continue // a skipped project's workspace is held by a pull request
			}
			// Remediation runs on the drift issue, as if someone commented `atoll apply`.
			r.w.Pull.Num = res.IssueNum
			r.logf("auto-remediating %s (workspace %s), issue #%d\n", res.Project, res.Workspace, res.IssueNum)
			ok = r.remediate(ctx, why) && ok
		}
	}
	return ok
}

// driftApply runs `atoll apply` commented on a drift issue.
func (r *prRun) driftApply(ctx context.Context) bool {
	// Issues of repositories that are not watched are not drift issues:
	// remediating there would check (and open issues in) a repository nobody
	// asked Atoll to watch.
	watched, ok := r.s.driftRepo(ctx, r.w.Repo.ID())
	if !ok {
		r.log.Info("command on an issue of a repository not checked for drift ignored", "user", r.w.User)
		return false
	}
	if r.w.CommandErr != "" || r.w.Command.Name != CmdApply {
		r.comment(ctx, "On a drift issue Atoll runs only `atoll apply`, which restores the state written in Git.")
		return false
	}
	// The apply is to the default branch: the team allowlist of that branch
	// (repos.yaml entries match by branch) decides who may run it. Without a
	// branch every entry would match, a permissive one for other branches too.
	r.pull.BaseBranch = watched.DefaultBranch
	if r.pull.BaseBranch == "" {
		r.pull.BaseBranch = "main" // what drift.Detector checks then
	}
	if !r.authorized(ctx, CmdApply) {
		return false
	}
	r.w.Repo = watched
	return r.remediate(ctx, "")
}

// remediate restores Git's state for the project of drift issue r.w.Pull.Num
// and comments the outcome on the issue, led by intro when set.
func (r *prRun) remediate(ctx context.Context, intro string) bool {
	rem, err := r.s.cfg.Drift.Remediate(ctx, r.w.Repo, r.w.Pull.Num)
	switch {
	case errors.Is(err, drift.ErrUnknownIssue):
		r.comment(ctx, "This issue is not about a drifting project Atoll knows of, so nothing was applied.")
		return false
	case err != nil:
		r.log.Error("drift remediation", "error", err)
		r.comment(ctx, "Atoll could not check the project again, so nothing was applied (job `"+r.w.ID+"`).")
		return false
	}
	if rem.Changed {
		r.comment(ctx, "The drift is not what this issue showed when `atoll apply` was asked for (it changed, or Atoll restarted since it wrote the issue), so nothing was applied. The issue now shows the current difference: review it and comment `atoll apply` again.")
		return false
	}
	b := rem.Before
	res := templates.Project{Name: b.Project, Dir: b.Dir, Workspace: b.Workspace, ApplyCommand: "atoll apply", PlanCommand: "atoll apply"}
	switch {
	case b.Status == drift.InSync:
		r.comment(ctx, "The project is back in sync already, so there was nothing to apply.")
		return true
	case b.Status == drift.Failed:
		res.Status, res.Step, res.Output = templates.StatusError, "plan", b.Error
	case rem.LockedBy != nil:
		res.Status = templates.StatusLocked
		res.Lock = &templates.LockInfo{Pull: rem.LockedBy.Pull, PullURL: rem.LockedBy.PullURL, User: rem.LockedBy.User, Since: rem.LockedBy.Time}
	case rem.Err != nil:
		res.Status, res.Output = templates.StatusError, rem.Output
		res.Step, res.ExitCode, _ = errorOutput(rem.Err)
	default:
		res.Status, res.Output = templates.StatusApplied, rem.Output
	}
	r.audit(ctx, AuditDriftRemediate, []templates.Project{res})
	next := "Atoll checked again: this issue closes itself once the project is back in sync."
	if res.Status == templates.StatusApplied && rem.After.Status == drift.Failed {
		next = "The check after the apply failed, so this issue stays as it is until a check finds the project in sync."
	}
	if intro != "" {
		next = intro + " " + next
	}
	body, err := templates.Apply(templates.Comment{Projects: []templates.Project{res}, JobURL: r.jobURL(), Now: r.s.cfg.Now(), Next: next})
	if err == nil {
		r.comment(ctx, body)
	}
	return res.Status == templates.StatusApplied
}

// DriftView is a drift result as the page and API show it.
type DriftView struct {
	Repo      string    `json:"repo"`
	Project   string    `json:"project"`
	Workspace string    `json:"workspace"`
	Branch    string    `json:"branch"`
	Commit    string    `json:"commit"`
	Status    string    `json:"status"`
	Drifted   int       `json:"drifted_resources"`
	Pending   int       `json:"pending_changes"`
	Error     string    `json:"error,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	Checked   time.Time `json:"checked"`
	IssueURL  string    `json:"issue_url,omitempty"`
	IssueNum  int       `json:"issue,omitempty"`
	// History is the project's recent checks, oldest first.
	History []drift.Check `json:"history"`
}

func (s *Server) driftViews() []DriftView {
	if s.cfg.Drift == nil {
		return nil
	}
	var out []DriftView
	for _, r := range s.cfg.Drift.Results() {
		out = append(out, DriftView{Repo: r.Repo.FullName(), Project: r.Project, Workspace: r.Workspace, Branch: r.Branch,
			Commit: short(r.SHA), Status: string(r.Status), Drifted: len(r.Drift), Pending: len(r.Pending), Error: r.Error,
			Since: r.Since, Checked: r.Checked, IssueURL: r.IssueURL, IssueNum: r.IssueNum, History: r.History})
	}
	return out
}

func (s *Server) pageDrift(c echo.Context) error {
	return s.render(c, "drift.html", map[string]any{"Title": "Drift", "Results": s.driftViews(), "Enabled": s.cfg.Drift != nil})
}

func (s *Server) apiDrift(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"results": s.driftViews()})
}

// apiDriftRun queues a drift check of ?repo=owner/name now.
func (s *Server) apiDriftRun(c echo.Context) error {
	if s.cfg.Drift == nil {
		return echo.NewHTTPError(http.StatusNotFound, "drift detection is not configured (--drift-repos)")
	}
	repo, ok := s.driftRepo(c.Request().Context(), c.QueryParam("repo"))
	if !ok {
		return echo.NewHTTPError(http.StatusBadRequest, "repo must be one of --drift-repos, or a repository a repos.yaml drift block covers")
	}
	w := Work{ID: newJobID(), Kind: WorkDriftCheck, Repo: repo, User: "api", Queued: s.cfg.Now()}
	if err := s.cfg.Dispatcher.Dispatch(c.Request().Context(), w); err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "cannot queue the check")
	}
	return c.JSON(http.StatusAccepted, map[string]string{"job": w.ID, "job_url": s.cfg.AtollURL + "/jobs/" + w.ID})
}

// driftRepo finds a watched repo by "owner/name" or its full id.
func (s *Server) driftRepo(ctx context.Context, name string) (vcs.Repo, bool) {
	for _, r := range s.driftWatched(ctx) {
		if r.FullName() == name || r.ID() == name {
			return r, true
		}
	}
	return vcs.Repo{}, false
}
