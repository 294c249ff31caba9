package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/templates"
)

// Audit actions.
const (
	AuditPlan            = "plan"
	AuditApply           = "apply"
	AuditUnlock          = "unlock"
	AuditApprovePolicies = "approve_policies"
	AuditDriftRemediate  = "drift_remediate"
	AuditRevert          = "revert"
)

// auditActions are the actions the /audit page's filter offers.
var auditActions = []string{AuditPlan, AuditApply, AuditUnlock, AuditApprovePolicies, AuditDriftRemediate, AuditImport, AuditStateRm, AuditCancel}

// auditResults are the results the /audit page's filter offers.
var auditResults = []string{templates.StatusPlanned, templates.StatusApplied, templates.StatusError, templates.StatusRefused,
	templates.StatusLocked, "released", "approved", "imported", "removed", "cancelled"}

// DefaultAuditRetention is how long audit entries are kept unless
// configured: a little over a year, for yearly audits.
const DefaultAuditRetention = 400 * 24 * time.Hour

// appendAudit writes e; the audit trail must not hold a job up, and a
// failure is logged (the job's own log and comments still say what ran).
func (s *Server) appendAudit(ctx context.Context, e locking.AuditEvent) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	if e.Time.IsZero() {
		e.Time = s.cfg.Now()
	}
	if s.cfg.Redact != nil && e.Detail != "" {
		// A refusal's reason can quote an error; the trail keeps no secret.
		e.Detail = string(s.cfg.Redact([]byte(e.Detail)))
	}
	if err := s.cfg.Store.AppendAudit(ctx, e); err != nil {
		s.log.Error("write audit entry", "action", e.Action, "repo", e.Repo, "pull", e.Pull, "error", err)
		s.metrics.auditErrors.Inc()
	}
	s.notifyAudit(e)
}

// via says how r's work was asked for.
func (r *prRun) via() string {
	switch r.w.Kind {
	case WorkAutoplan:
		if r.w.Delivery == "poll" {
			return "poller"
		}
		if r.w.Handover != nil {
			return "lock queue"
		}
		return "autoplan"
	case WorkDriftCheck:
		return "schedule"
	}
	return "comment"
}

// audit records one entry per project of results that has an outcome.
func (r *prRun) audit(ctx context.Context, action string, results []templates.Project) {
	for _, res := range results {
		if res.Status == "" {
			continue
		}
		detail := res.Reason
		if res.Status == templates.StatusError {
			detail = "step " + res.Step + " failed"
			if res.ExitCode != 0 {
				detail += " (exit code " + strconv.Itoa(res.ExitCode) + ")"
			}
		}
		if res.Lock != nil {
			detail = "locked by #" + strconv.Itoa(res.Lock.Pull)
			if res.Lock.QueuePosition > 0 {
				detail = "queued behind #" + strconv.Itoa(res.Lock.Pull) + " (position " + strconv.Itoa(res.Lock.QueuePosition) + ")"
			}
		}
		r.s.appendAudit(ctx, locking.AuditEvent{User: r.w.User, Action: action, Via: r.via(), Repo: r.w.Repo.ID(), Pull: r.w.Pull.Num,
			Issue: r.w.Kind == WorkDriftApply || r.w.Kind == WorkDriftCheck, Project: res.Name, Dir: res.Dir, Workspace: res.Workspace,
			Commit: r.codeSHA(), Result: res.Status, Detail: firstLine(detail), JobID: r.w.ID})
	}
}

// auditLocks records locks released by hand.
func (s *Server) auditLocks(ctx context.Context, user, via, jobID string, released []locking.Lock) {
	for _, l := range released {
		s.appendAudit(ctx, locking.AuditEvent{User: user, Action: AuditUnlock, Via: via, Repo: l.Key.Repo, Pull: l.Pull,
			Project: l.Project, Dir: l.Key.Dir, Workspace: l.Key.Workspace, Commit: l.HeadSHA, Result: "released", JobID: jobID})
	}
}

// pruneAudit drops entries past the retention.
func (s *Server) pruneAudit(ctx context.Context) {
	keep := s.cfg.AuditRetention
	if keep <= 0 {
		keep = DefaultAuditRetention
	}
	n, err := s.cfg.Store.PruneAudit(ctx, s.cfg.Now().Add(-keep))
	if err != nil {
		s.log.Error("prune audit trail", "error", err)
		return
	}
	if n > 0 {
		s.log.Info("audit entries past the retention dropped", "count", n, "retention", keep.String())
	}
}

// auditQuery reads the filters of /audit and /api/audit.
func auditQuery(c echo.Context) (locking.AuditQuery, error) {
	q := locking.AuditQuery{Repo: strings.TrimSpace(c.QueryParam("repo")), User: strings.TrimSpace(c.QueryParam("user")),
		Action: c.QueryParam("action"), Result: c.QueryParam("result"), Cursor: c.QueryParam("cursor")}
	if q.Repo != "" && strings.Count(q.Repo, "/") == 1 {
		q.Repo = "github.com/" + q.Repo // owner/name
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
		end  bool
	}{{"from", &q.From, false}, {"to", &q.To, true}} {
		v := c.QueryParam(f.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			d, derr := time.Parse("2006-01-02", v)
			if derr != nil {
				return q, echo.NewHTTPError(http.StatusBadRequest, f.name+" must be a date (2026-12-04) or an RFC 3339 time")
			}
			t = d
			if f.end {
				t = d.Add(24*time.Hour - time.Nanosecond) // the whole day
			}
		}
		*f.dst = t
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return q, echo.NewHTTPError(http.StatusBadRequest, "limit must be a positive number")
		}
		q.Limit = n
	}
	return q, nil
}

// queryAudit reads the filters of /audit or /api/audit and runs them.
func (s *Server) queryAudit(c echo.Context) (locking.AuditQuery, []locking.AuditEvent, string, error) {
	q, err := auditQuery(c)
	if err != nil {
		return q, nil, "", err
	}
	events, next, err := s.cfg.Store.QueryAudit(c.Request().Context(), q)
	if err != nil {
		s.log.Error("query audit", "error", err)
		return q, nil, "", echo.NewHTTPError(http.StatusBadRequest, "the audit trail could not be read with these filters")
	}
	return q, events, next, nil
}

// apiAudit is GET /api/audit: entries newest first, with the next page's cursor.
func (s *Server) apiAudit(c echo.Context) error {
	_, events, next, err := s.queryAudit(c)
	if err != nil {
		return err
	}
	if events == nil {
		events = []locking.AuditEvent{}
	}
	return c.JSON(http.StatusOK, map[string]any{"events": events, "next_cursor": next})
}

// pageAudit is /audit.
func (s *Server) pageAudit(c echo.Context) error {
	q, events, next, err := s.queryAudit(c)
	if err != nil {
		return err
	}
	nextURL := ""
	if next != "" {
		v := c.QueryParams()
		v.Set("cursor", next)
		nextURL = "/audit?" + v.Encode()
	}
	return s.render(c, "audit.html", map[string]any{"Title": "Audit", "Events": events, "Query": c.QueryParams(),
		"Actions": auditActions, "Results": auditResults, "NextURL": nextURL, "Paged": q.Cursor != "", "AtollURL": s.cfg.AtollURL})
}

// auditRefusal records a command refused before any project ran (no
// permission, no plan to apply, a bad selection): who asked, and why not.
func (r *prRun) auditRefusal(ctx context.Context, command, reason string) {
	r.s.appendAudit(ctx, locking.AuditEvent{User: r.w.User, Action: command, Via: r.via(), Repo: r.w.Repo.ID(), Pull: r.w.Pull.Num,
		Issue: r.w.Kind == WorkDriftApply, Commit: r.pull.HeadSHA, Result: templates.StatusRefused, Detail: firstLine(reason), JobID: r.w.ID})
}

// webVia says whether a web or API request made a change.
func webVia(c echo.Context) string {
	if strings.HasPrefix(c.Path(), "/api/") {
		return "api"
	}
	return "web"
}

// webActor names who made a change from the web UI or API: the basic-auth
// user when the UI has one, else "web" or "api" (a shared token names no one;
// a client on the server's own machine neither).
func webActor(c echo.Context, webUser string) string {
	if user, _, ok := c.Request().BasicAuth(); ok && webUser != "" && user != "" {
		return user
	}
	return webVia(c)
}
