package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/vcs"
)

// driftRescan is how often the schedule looks for repositories that gained
// (or lost) drift checks: repositories seen for the first time, or a
// --drift-repos list read again.
const driftRescan = 30 * time.Second

// DriftSchedule says when repositories are checked for drift.
type DriftSchedule struct {
	// Default is the schedule of --drift-repos repositories that no repos.yaml
	// drift block covers (--drift-schedule).
	Default string
	// Refresh looks a repository up again before its check (its default
	// branch may have been renamed); nil checks it as known.
	Refresh func(ctx context.Context, repo vcs.Repo) (vcs.Repo, error)
}

// driftSettings returns repo's drift settings and whether it is checked at
// all: a repos.yaml drift block covering its default branch, or else
// --drift-repos with the default schedule.
func (s *Server) driftSettings(repo vcs.Repo, listed bool, defaultSchedule string) (config.DriftSettings, bool) {
	branch := repo.DefaultBranch
	if branch == "" {
		branch = "main"
	}
	if st, ok := s.cfg.RepoCfg.DriftFor(repo.ID(), branch); ok {
		return st, true
	}
	if listed {
		return config.DefaultDriftSettings(defaultSchedule), true
	}
	return config.DriftSettings{}, false
}

// driftWatched returns the repositories checked for drift: --drift-repos,
// plus every allowed repository Atoll has had a webhook from whose default
// branch a repos.yaml drift block covers.
func (s *Server) driftWatched(ctx context.Context) []vcs.Repo {
	out := append([]vcs.Repo(nil), s.cfg.DriftRepos...)
	if !s.cfg.RepoCfg.HasDrift() {
		return out
	}
	listed := map[string]bool{}
	for _, r := range out {
		listed[r.ID()] = true
	}
	recs, err := s.cfg.Store.Repos(ctx)
	if err != nil {
		s.log.Warn("list repositories seen for drift checks", "error", err)
		return out
	}
	for _, rec := range recs {
		var repo vcs.Repo
		if json.Unmarshal(rec.Repo, &repo) != nil || listed[repo.ID()] || !s.allowed(repo) {
			continue
		}
		if _, ok := s.driftSettings(repo, false, ""); ok {
			out = append(out, repo)
		}
	}
	return out
}

// RunDriftSchedule queues a drift check of each watched repository at its
// schedule's ticks (each repository's delayed by a few seconds or minutes of
// its own, see config.DriftSettings.Next) until ctx ends. With replicas, each
// runs the schedule and the first to claim a tick queues the check.
func (s *Server) RunDriftSchedule(ctx context.Context, sched DriftSchedule) {
	if s.cfg.Drift == nil {
		return
	}
	listed := map[string]bool{}
	for _, r := range s.cfg.DriftRepos {
		listed[r.ID()] = true
	}
	type entry struct {
		repo     vcs.Repo
		settings config.DriftSettings
		next     time.Time
	}
	due := map[string]*entry{}
	rescan := time.Time{}
	for {
		now := time.Now()
		if !now.Before(rescan) {
			seen := map[string]bool{}
			for _, repo := range s.driftWatched(ctx) {
				st, ok := s.driftSettings(repo, listed[repo.ID()], sched.Default)
				if !ok {
					continue
				}
				seen[repo.ID()] = true
				if e, ok := due[repo.ID()]; ok && e.settings.Schedule == st.Schedule {
					e.repo, e.settings = repo, st
					continue
				}
				next := st.Next(repo.ID(), now)
				if next.IsZero() {
					s.log.Error("drift schedule cannot be read", "repo", repo.FullName(), "schedule", st.Schedule)
					continue
				}
				if _, known := due[repo.ID()]; !known {
					s.log.Info("drift checks scheduled", "repo", repo.FullName(), "schedule", st.Schedule, "next", next.Format(time.RFC3339))
				}
				due[repo.ID()] = &entry{repo: repo, settings: st, next: next}
			}
			for id := range due {
				if !seen[id] {
					delete(due, id)
				}
			}
			rescan = now.Add(driftRescan)
		}
		wake := rescan
		for _, e := range due {
			if e.next.Before(wake) {
				wake = e.next
			}
		}
		t := time.NewTimer(time.Until(wake))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.poll.newRepo:
			t.Stop()
			rescan = time.Time{}
			continue
		case <-t.C:
		}
		now = time.Now()
		for _, e := range due {
			if e.next.After(now) {
				continue
			}
			repo := e.repo
			if sched.Refresh != nil {
				if fresh, err := sched.Refresh(ctx, repo); err == nil {
					repo = fresh
				} else {
					s.log.Warn("refresh drift repo; using the one known", "repo", repo.FullName(), "error", err)
				}
			}
			if err := s.ScheduleDrift(ctx, repo, e.next); err != nil {
				s.log.Error("schedule drift check", "repo", repo.FullName(), "error", err)
			}
			e.next = e.settings.Next(repo.ID(), now)
		}
	}
}
