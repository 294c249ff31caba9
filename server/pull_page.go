package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/vcs"
)

// jobFilter keeps the jobs of ?repo=owner/name, ?pull=N and ?state=S.
func jobFilter(c echo.Context) (func(JobInfo) bool, error) {
	repo, state := strings.TrimSpace(c.QueryParam("repo")), c.QueryParam("state")
	pull := 0
	if v := c.QueryParam("pull"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, echo.NewHTTPError(http.StatusBadRequest, "pull must be a pull request number")
		}
		pull = n
	}
	switch state {
	case "", JobQueued, JobRunning, JobSucceeded, JobFailed, JobCancelled:
	default:
		return nil, echo.NewHTTPError(http.StatusBadRequest, "state must be queued, running, succeeded, failed or cancelled")
	}
	return func(j JobInfo) bool {
		return (repo == "" || strings.EqualFold(j.Repo, repo)) && (pull == 0 || j.Pull == pull) && (state == "" || j.State == state)
	}, nil
}

func filterJobs(jobs []JobInfo, keep func(JobInfo) bool) []JobInfo {
	out := []JobInfo{}
	for _, j := range jobs {
		if keep(j) {
			out = append(out, j)
		}
	}
	return out
}

// pullView is what the pull request page shows.
type pullView struct {
	Repo    string
	Num     int
	URL     string
	Plans   []locking.Plan
	Locks   []locking.Lock
	Queued  []pullQueued
	Jobs    []JobInfo
	Audit   []locking.AuditEvent
	Running int
}

// pullQueued is a lock queue a pull request waits in.
type pullQueued struct {
	Key      locking.Key
	Project  string
	Position int
	// Holder is the pull request holding the lock, 0 when it is free for
	// the moment (being handed over).
	Holder int
}

// pullData gathers a pull request's plans, locks, jobs (newest first) and
// audit entries from the store and the job lists.
func (s *Server) pullData(ctx context.Context, repo vcs.Repo, num int) (pullView, error) {
	v := pullView{Repo: repo.FullName(), Num: num}
	var err error
	if v.Plans, err = s.cfg.Store.Plans(ctx, repo.ID(), num); err != nil {
		return v, err
	}
	if v.Locks, err = s.cfg.Store.List(ctx, locking.Filter{Repo: repo.ID(), Pull: num}); err != nil {
		return v, err
	}
	queues, err := s.cfg.Store.Queues(ctx, repo.ID())
	if err != nil {
		return v, err
	}
	for _, q := range queues {
		pos := q.Position(num)
		if pos == 0 {
			continue
		}
		pq := pullQueued{Key: q.Key, Project: q.Entries[pos-1].Project, Position: pos}
		if l, err := s.cfg.Store.Get(ctx, q.Key); err == nil {
			pq.Holder = l.Pull
		}
		v.Queued = append(v.Queued, pq)
	}
	v.Jobs = filterJobs(s.allJobs(ctx), func(j JobInfo) bool { return j.Repo == repo.FullName() && j.Pull == num && j.Kind != WorkDriftCheck })
	for _, j := range v.Jobs {
		if v.URL == "" {
			v.URL = j.PullURL
		}
		if j.State == JobRunning || j.State == JobQueued {
			v.Running++
		}
	}
	for _, l := range v.Locks {
		if v.URL == "" {
			v.URL = l.PullURL
		}
	}
	// The audit trail of the repository, newest first, this pull request's
	// entries only (one page of the repository's is enough for a page).
	events, _, err := s.cfg.Store.QueryAudit(ctx, locking.AuditQuery{Repo: repo.ID(), Limit: 500})
	if err != nil {
		return v, err
	}
	for _, e := range events {
		if e.Pull == num && !e.Issue {
			v.Audit = append(v.Audit, e)
		}
	}
	return v, nil
}

// pullParams reads /pulls/:owner/:name/:num; the host is the server's.
func (s *Server) pullParams(c echo.Context) (vcs.Repo, int, error) {
	num, err := strconv.Atoi(c.Param("num"))
	if err != nil || num < 1 {
		return vcs.Repo{}, 0, echo.NewHTTPError(http.StatusBadRequest, "not a pull request number")
	}
	repo, err := vcs.ParseRepoID(s.host() + "/" + c.Param("owner") + "/" + c.Param("name"))
	if err != nil {
		return vcs.Repo{}, 0, echo.NewHTTPError(http.StatusBadRequest, "not a repository")
	}
	return repo, num, nil
}

// host is the VCS host of the repositories this server serves: the one of
// the allowlist's first exact pattern, github.com otherwise.
func (s *Server) host() string {
	for _, p := range s.cfg.RepoAllowlist {
		if h, _, ok := strings.Cut(p, "/"); ok && !strings.ContainsAny(h, "*?") {
			return h
		}
	}
	return "github.com"
}

// pullFor reads /pulls/:owner/:name/:num (page or API) and gathers its view.
func (s *Server) pullFor(c echo.Context) (pullView, error) {
	repo, num, err := s.pullParams(c)
	if err != nil {
		return pullView{}, err
	}
	v, err := s.pullData(c.Request().Context(), repo, num)
	if err != nil {
		s.log.Error("read pull request page", "repo", repo.ID(), "pull", num, "error", err)
		return v, echo.NewHTTPError(http.StatusServiceUnavailable, "the store could not be read")
	}
	return v, nil
}

func (s *Server) pagePull(c echo.Context) error {
	v, err := s.pullFor(c)
	if err != nil {
		return err
	}
	return s.render(c, "pull.html", map[string]any{"Title": v.Repo + " #" + strconv.Itoa(v.Num), "P": v})
}

func (s *Server) apiPull(c echo.Context) error {
	v, err := s.pullFor(c)
	if err != nil {
		return err
	}
	plans := make([]map[string]any, 0, len(v.Plans))
	for _, p := range v.Plans {
		// The plan file itself stays out of the API.
		plans = append(plans, map[string]any{"dir": p.Key.Dir, "workspace": p.Key.Workspace, "project": p.Project, "commit": p.HeadSHA,
			"summary": p.Summary, "has_changes": p.HasChanges, "applied": p.Applied, "failed": p.Failed, "time": p.Time})
	}
	if v.Audit == nil {
		v.Audit = []locking.AuditEvent{}
	}
	return c.JSON(http.StatusOK, map[string]any{"repo": v.Repo, "pull": v.Num, "url": v.URL, "plans": plans, "locks": v.Locks,
		"jobs": v.Jobs, "audit": v.Audit})
}
