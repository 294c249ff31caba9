package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/atollhq/atoll/drift"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/notify"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// Notifier sends events to the --notify-url targets and to extra, the
// targets of the event's repository in repos.yaml. It never blocks.
type Notifier interface {
	Notify(e notify.Event, extra ...notify.Target)
}

// staleLocks remembers the locks already reported as held too long.
type staleLocks struct {
	mu       sync.Mutex // guards reported
	reported map[string]time.Time
}

// notify sends e when notifications are configured.
func (s *Server) notify(e notify.Event) {
	if s.cfg.Notifier == nil {
		return
	}
	var extra []notify.Target
	if repo, err := vcs.ParseRepoID(e.Repo); err == nil {
		extra = s.cfg.RepoCfg.NotifyFor(repo.ID())
		e.Repo = repo.FullName()
	}
	s.cfg.Notifier.Notify(e, extra...)
}

// notifyAudit turns an audit entry into the event people asked to hear of:
// an apply that succeeded or failed, a plan that failed.
func (s *Server) notifyAudit(e locking.AuditEvent) {
	var kind string
	switch {
	case e.Action == AuditApply && e.Result == templates.StatusApplied:
		kind = notify.ApplySucceeded
	case e.Action == AuditApply && e.Result == templates.StatusError:
		kind = notify.ApplyFailed
	case e.Action == AuditPlan && e.Result == templates.StatusError:
		kind = notify.PlanFailed
	default:
		return
	}
	repoName := e.Repo
	if r, err := vcs.ParseRepoID(e.Repo); err == nil {
		repoName = r.FullName()
	}
	where := fmt.Sprintf("%s#%d", repoName, e.Pull)
	what := "`" + e.Dir + "`"
	if e.Project != "" {
		what = "`" + e.Project + "`"
	}
	var text string
	switch kind {
	case notify.ApplySucceeded:
		text = fmt.Sprintf("Applied %s · workspace `%s` on %s (by @%s, commit %.7s).", what, e.Workspace, where, e.User, e.Commit)
	case notify.ApplyFailed:
		text = fmt.Sprintf("Apply FAILED for %s · workspace `%s` on %s (by @%s): %s. Resources may be partly changed; see the log.", what, e.Workspace, where, e.User, e.Detail)
	case notify.PlanFailed:
		text = fmt.Sprintf("Plan failed for %s · workspace `%s` on %s: %s.", what, e.Workspace, where, e.Detail)
	}
	url := ""
	if e.JobID != "" && s.cfg.AtollURL != "" {
		url = s.cfg.AtollURL + "/jobs/" + e.JobID
	}
	project := e.Project
	if project == "" {
		project = e.Dir
	}
	s.notify(notify.Event{Kind: kind, Time: e.Time, Repo: e.Repo, Pull: e.Pull, Project: project, Workspace: e.Workspace,
		User: e.User, Commit: e.Commit, Text: text, URL: url})
}

// notifyDrift reports projects whose drift a check just found, or found
// resolved, comparing with the project's previous check.
func (s *Server) notifyDrift(results []drift.Result) {
	for _, r := range results {
		if len(r.History) == 0 || r.Skipped {
			continue
		}
		prev := drift.Status("")
		for i := len(r.History) - 2; i >= 0; i-- {
			if st := r.History[i].Status; st != drift.Failed {
				prev = st // a failed check says nothing about drift
				break
			}
		}
		var kind, text string
		switch {
		case r.Status == drift.Drifted && prev != drift.Drifted:
			kind = notify.DriftOpened
			text = fmt.Sprintf("Drift in `%s` · workspace `%s` of %s (%s): %d changed outside Terraform, %d in Git but not applied.",
				r.Project, r.Workspace, r.Repo.FullName(), r.Branch, len(r.Drift), len(r.Pending))
		case r.Status == drift.InSync && prev == drift.Drifted:
			kind = notify.DriftResolved
			text = fmt.Sprintf("Drift resolved: `%s` · workspace `%s` of %s is back in sync with %s.", r.Project, r.Workspace, r.Repo.FullName(), r.Branch)
		default:
			continue
		}
		s.notify(notify.Event{Kind: kind, Repo: r.Repo.ID(), Issue: r.IssueNum, Project: r.Project, Workspace: r.Workspace,
			Commit: r.SHA, Text: text, URL: r.IssueURL})
	}
}

// notifyStaleLocks reports each lock held longer than --notify-lock-stale-after,
// once per lock.
func (s *Server) notifyStaleLocks(ctx context.Context) {
	after := s.cfg.NotifyLockStaleAfter
	if s.cfg.Notifier == nil || after <= 0 {
		return
	}
	locks, err := s.cfg.Store.List(ctx, locking.Filter{})
	if err != nil {
		return
	}
	now := s.cfg.Now()
	s.stale.mu.Lock()
	defer s.stale.mu.Unlock()
	if s.stale.reported == nil {
		s.stale.reported = map[string]time.Time{}
	}
	held := map[string]bool{}
	for _, l := range locks {
		id := l.ID() + "#" + fmt.Sprint(l.Pull)
		held[id] = true
		if now.Sub(l.Time) < after || !s.stale.reported[id].IsZero() {
			continue
		}
		s.stale.reported[id] = now
		repo, err := vcs.ParseRepoID(l.Key.Repo)
		if err != nil {
			continue
		}
		what := l.Key.Dir
		if l.Project != "" {
			what = l.Project
		}
		s.notify(notify.Event{Kind: notify.LockStale, Repo: l.Key.Repo, Pull: l.Pull, Project: what, Workspace: l.Key.Workspace, User: l.User,
			Text: fmt.Sprintf("`%s` · workspace `%s` of %s has been locked by #%d (@%s) for %s; other pull requests cannot plan it. Merge or close #%d, or comment `atoll unlock` there.",
				what, l.Key.Workspace, repo.FullName(), l.Pull, l.User, strings.TrimSuffix(now.Sub(l.Time).Round(time.Hour).String(), "0m0s"), l.Pull),
			URL: l.PullURL})
	}
	for id := range s.stale.reported {
		if !held[id] {
			delete(s.stale.reported, id) // released: a new lock is new
		}
	}
}
