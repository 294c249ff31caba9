package server

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

//go:embed web/*.html
var webFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"ago":  templates.Ago,
	"iso":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"zero": func(t time.Time) bool { return t.IsZero() },
	// repoName shows a lock's "host/owner/name" repo as "owner/name", as the
	// jobs page and PR comments name it.
	"repoName": func(id string) string {
		if r, err := vcs.ParseRepoID(id); err == nil {
			return r.FullName()
		}
		return id
	},
	// dict2 packs the page's Now and a time for the "time" template.
	"dict2": func(now, t time.Time) map[string]time.Time { return map[string]time.Time{"Now": now, "T": t} },
}).ParseFS(webFS, "web/*.html"))

// LockView is a lock as the web page and API show it.
type LockView struct {
	ID        string    `json:"id"`
	Repo      string    `json:"repo"`
	Dir       string    `json:"dir"`
	Workspace string    `json:"workspace"`
	Project   string    `json:"project,omitempty"`
	Pull      int       `json:"pull"`
	PullURL   string    `json:"pull_url,omitempty"`
	User      string    `json:"user"`
	HeadSHA   string    `json:"head_sha"`
	Since     time.Time `json:"since"`
	// Queue are the pull requests whose plans wait for this lock, first
	// first (repos.yaml lock_queue).
	Queue []QueueView `json:"queue"`
}

// QueueView is a pull request waiting in a lock's queue, as the web page and
// API show it.
type QueueView struct {
	Position int       `json:"position"`
	Pull     int       `json:"pull"`
	PullURL  string    `json:"pull_url,omitempty"`
	User     string    `json:"user"`
	HeadSHA  string    `json:"head_sha"`
	Since    time.Time `json:"since"`
}

func queueViews(entries []locking.QueueEntry) []QueueView {
	out := make([]QueueView, 0, len(entries))
	for i, e := range entries {
		out = append(out, QueueView{Position: i + 1, Pull: e.Pull, PullURL: e.PullURL, User: e.User, HeadSHA: e.HeadSHA, Since: e.Time})
	}
	return out
}

func lockView(l locking.Lock) LockView {
	return LockView{ID: l.ID(), Repo: l.Key.Repo, Dir: l.Key.Dir, Workspace: l.Key.Workspace, Project: l.Project,
		Pull: l.Pull, PullURL: l.PullURL, User: l.User, HeadSHA: l.HeadSHA, Since: l.Time, Queue: []QueueView{}}
}

// locks lists the locks of ?repo= (all when unset) with their queues. A
// queue whose lock is free for the moment (between a release and its
// handover) is not shown.
func (s *Server) locks(c echo.Context) ([]LockView, error) {
	ctx := c.Request().Context()
	repo := c.QueryParam("repo")
	ls, err := s.cfg.Store.List(ctx, locking.Filter{Repo: repo})
	if err != nil {
		return nil, err
	}
	queues, err := s.cfg.Store.Queues(ctx, repo)
	if err != nil {
		return nil, err
	}
	byKey := make(map[locking.Key][]locking.QueueEntry, len(queues))
	for _, q := range queues {
		byKey[q.Key] = q.Entries
	}
	out := make([]LockView, 0, len(ls))
	for _, l := range ls {
		v := lockView(l)
		v.Queue = queueViews(byKey[l.Key])
		out = append(out, v)
	}
	return out, nil
}

func (s *Server) render(c echo.Context, name string, data map[string]any) error {
	data["Now"] = s.cfg.Now()
	c.Response().Header().Set("Content-Type", "text/html; charset=utf-8")
	c.Response().Header().Set("X-Frame-Options", "DENY")
	c.Response().Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; form-action 'self'")
	return pages.ExecuteTemplate(c.Response(), name, data)
}

func (s *Server) pageLocks(c echo.Context) error {
	ls, err := s.locks(c)
	if err != nil {
		return err
	}
	return s.render(c, "locks.html", map[string]any{"Title": "Locks", "Locks": ls, "Flash": c.QueryParam("unlocked")})
}

// formUnlock releases a lock from the web page's button (POST, so no link
// prefetcher can unlock by accident), then redirects back.
func (s *Server) formUnlock(c echo.Context) error {
	id := c.FormValue("id")
	l, err := s.unlockByID(c, id, whyLocksPage)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/?unlocked="+url.QueryEscape(l.Key.Dir+" ("+l.Key.Workspace+")"))
}

// sameOrigin reports whether a browser form post comes from Atoll's own pages,
// so another site cannot make a logged-in browser (basic auth credentials go
// along with any request) release locks: cross-site request forgery. The
// browser's Sec-Fetch-Site, else Origin, else Referer must name this server,
// by the request's Host or by --atoll-url's. A request with none of them is not
// from a browser form and is let through, as the API is.
func (s *Server) sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	from := r.Header.Get("Origin")
	if from == "" {
		from = r.Header.Get("Referer")
		if from == "" {
			return true
		}
	}
	u, err := url.Parse(from)
	if err != nil || u.Host == "" {
		return false // includes Origin: null
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if own, err := url.Parse(s.cfg.AtollURL); err == nil && own.Host != "" && strings.EqualFold(u.Host, own.Host) {
		return true
	}
	return false
}

// unlockByID releases the lock with id for the Locks page or the API, and
// hands it to its queue; why says how, for the comment of the pull request
// planned next.
func (s *Server) unlockByID(c echo.Context, id, why string) (locking.Lock, error) {
	key, err := locking.ParseKey(id)
	if err != nil {
		return locking.Lock{}, echo.NewHTTPError(http.StatusBadRequest, "bad lock id")
	}
	ctx := c.Request().Context()
	l, err := s.cfg.Store.Release(ctx, key, 0)
	if errors.Is(err, locking.ErrNotFound) {
		return locking.Lock{}, echo.NewHTTPError(http.StatusNotFound, "no such lock")
	}
	if err != nil {
		return locking.Lock{}, err
	}
	// The PR's plan for this workspace cannot be applied without its lock; apply
	// checks that, so the plan record may stay for the record.
	s.log.Info("lock released from web/API", "repo", key.Repo, "dir", key.Dir, "workspace", key.Workspace, "pull", l.Pull)
	s.auditLocks(ctx, webActor(c, s.cfg.WebUser), webVia(c), "", []locking.Lock{l})
	s.handOver(ctx, vcs.Repo{}, []locking.Key{key}, l.Pull, why)
	return l, nil
}

func (s *Server) apiLocks(c echo.Context) error {
	ls, err := s.locks(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"locks": ls})
}

func (s *Server) apiUnlock(c echo.Context) error {
	id, err := url.PathUnescape(c.Param("id"))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "bad lock id")
	}
	l, err := s.unlockByID(c, id, whyAPI)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"unlocked": lockView(l)})
}

func (s *Server) pageJobs(c echo.Context) error {
	keep, err := jobFilter(c)
	if err != nil {
		return err
	}
	return s.render(c, "jobs.html", map[string]any{"Title": "Jobs", "Jobs": filterJobs(s.allJobs(c.Request().Context()), keep),
		"Query": c.QueryParams(), "States": []string{JobQueued, JobRunning, JobSucceeded, JobFailed, JobCancelled}})
}

func (s *Server) apiJobs(c echo.Context) error {
	keep, err := jobFilter(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"jobs": filterJobs(s.allJobs(c.Request().Context()), keep)})
}

func (s *Server) pageJob(c echo.Context) error {
	var (
		info    JobInfo
		log     []byte
		dropped logGap
	)
	if j, ok := s.jobs.get(c.Param("id")); ok {
		log, dropped = j.Log()
		info = j.Snapshot()
	} else if info, log, ok = s.archivedJob(c.Request().Context(), c.Param("id")); !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no such job (jobs are kept for the last 500 runs)")
	}
	running := info.State == JobRunning || info.State == JobQueued
	if running {
		log = log[:bytes.LastIndexByte(log, '\n')+1] // whole lines only, as jobLogText
	}
	if dropped.Bytes == 0 {
		// Another replica ran it: its record says, or else the archive
		// capped the log and its marker line says.
		if dropped = info.LogDropped; dropped.Bytes == 0 {
			dropped = archivedGap(log)
		}
	}
	return s.render(c, "job.html", map[string]any{"Title": "Job " + info.ID, "Job": info, "Log": string(log), "Dropped": dropped,
		"Running": running})
}

// jobLogText streams the job's log as plain text until the job ends, so
// `curl -N` follows it live.
func (s *Server) jobLogText(c echo.Context) error {
	j, ok := s.jobs.get(c.Param("id"))
	if !ok {
		// Another replica ran it: what the archive has, at once.
		if _, log, ok := s.archivedJob(c.Request().Context(), c.Param("id")); ok {
			return c.Blob(http.StatusOK, "text/plain; charset=utf-8", log)
		}
		return echo.NewHTTPError(http.StatusNotFound, "no such job")
	}
	w := c.Response()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	var pos logPos
	for {
		changed := j.changed()
		st := j.Snapshot().State
		done := jobEnded(st)
		// Only whole lines while the job runs: a secret half written
		// cannot be recognised, so it must not be sent yet.
		var chunk []byte
		chunk, pos = j.readLog(pos, !done)
		if len(chunk) > 0 {
			if _, err := w.Write(chunk); err != nil {
				return nil
			}
			w.Flush()
		}
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-c.Request().Context().Done():
			return nil
		case <-time.After(30 * time.Second):
		}
	}
}
