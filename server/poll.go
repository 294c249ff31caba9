package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/vcs"
)

// PullPoller is what the poller needs from the VCS: open pull requests, with
// conditional requests, and a commit's statuses.
type PullPoller interface {
	vcs.OpenPullLister
	vcs.StatusGetter
}

// repoRefresh is how often a repository already recorded as seen is recorded
// again (its default branch or clone URL may have changed).
const repoRefresh = 24 * time.Hour

// pollState is what the poller remembers between rounds, in this process.
type pollState struct {
	mu sync.Mutex // guards everything below
	// noted is when each repository was last recorded as seen, by ID.
	noted map[string]time.Time
	// etags are the ETags of each repository's last full listing, by ID.
	etags map[string]string
	// checked is the head commit last found planned (or planned by the
	// poller), by repository ID and pull request number.
	checked map[string]map[int]string
	// newRepo wakes the drift schedule when a repository is recorded for
	// the first time by this process.
	newRepo chan struct{}
}

func newPollState() *pollState {
	return &pollState{noted: map[string]time.Time{}, etags: map[string]string{}, checked: map[string]map[int]string{}, newRepo: make(chan struct{}, 1)}
}

// noteRepo records that a webhook came from repo, so that the poller lists
// its pull requests even after a restart. It writes to the store at most once
// a day per repository and process.
func (s *Server) noteRepo(ctx context.Context, repo vcs.Repo) {
	now := s.cfg.Now()
	s.poll.mu.Lock()
	last, ok := s.poll.noted[repo.ID()]
	if ok && now.Sub(last) < repoRefresh {
		s.poll.mu.Unlock()
		return
	}
	s.poll.noted[repo.ID()] = now
	s.poll.mu.Unlock()
	data, _ := json.Marshal(repo) // plain data
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	if err := s.cfg.Store.SaveRepo(ctx, locking.RepoRecord{ID: repo.ID(), Repo: data, Seen: now}); err != nil {
		s.log.Warn("record repository seen", "repo", repo.ID(), "error", err)
		s.poll.mu.Lock()
		delete(s.poll.noted, repo.ID()) // try again at the next webhook
		s.poll.mu.Unlock()
		return
	}
	if !ok {
		// A repository new to this process: the drift schedule looks at it now.
		select {
		case s.poll.newRepo <- struct{}{}:
		default:
		}
	}
}

// RunPullPoller polls the open pull requests of every repository seen, at once
// and then every interval until ctx ends. It does nothing without a PullPoller
// or with a non-positive interval.
func (s *Server) RunPullPoller(ctx context.Context, every time.Duration) {
	if every <= 0 || s.cfg.Poller == nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.PollPulls(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("poll pull requests", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PollPulls catches up on webhooks Atoll missed (it was down, or the network
// lost them) for every repository seen: an open pull request whose head
// commit has no atoll/plan status and no job is autoplanned, and the locks of
// a pull request that is no longer open are released. An unchanged repository
// costs one conditional request, which GitHub does not count against the
// rate limit; a new head commit costs one status read.
func (s *Server) PollPulls(ctx context.Context) error {
	if s.cfg.Poller == nil {
		return nil
	}
	recs, err := s.cfg.Store.Repos(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, rec := range recs {
		var repo vcs.Repo
		if err := json.Unmarshal(rec.Repo, &repo); err != nil || repo.ID() != rec.ID {
			s.log.Warn("seen repository record cannot be read; forgotten", "repo", rec.ID, "error", err)
			_ = s.cfg.Store.DeleteRepo(ctx, rec.ID)
			continue
		}
		if !s.allowed(repo) {
			continue // the allowlist changed since
		}
		if err := s.pollRepo(ctx, repo); err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// pollRepo polls one repository.
func (s *Server) pollRepo(ctx context.Context, repo vcs.Repo) error {
	s.poll.mu.Lock()
	etag := s.poll.etags[repo.ID()]
	s.poll.mu.Unlock()
	pulls, newETag, notModified, err := s.cfg.Poller.ListOpenPulls(ctx, repo, etag)
	if err != nil {
		s.metrics.polls.WithLabelValues("error").Inc()
		return err
	}
	if notModified {
		s.metrics.polls.WithLabelValues("unchanged").Inc()
		return nil
	}
	s.metrics.polls.WithLabelValues("changed").Inc()
	active, err := s.activePulls(ctx)
	if err != nil {
		return err
	}
	open := map[int]bool{}
	var errs []error
	for _, p := range pulls {
		open[p.Num] = true
		if err := s.pollPull(ctx, repo, p, active); err != nil {
			errs = append(errs, err)
		}
	}
	s.poll.mu.Lock()
	for num := range s.poll.checked[repo.ID()] {
		if !open[num] {
			delete(s.poll.checked[repo.ID()], num)
		}
	}
	s.poll.mu.Unlock()
	// Locks of pull requests that are not open any more.
	locks, err := s.cfg.Store.List(ctx, locking.Filter{Repo: repo.ID()})
	if err != nil {
		errs = append(errs, fmt.Errorf("list locks of %s: %w", repo.ID(), err))
	}
	done := map[int]bool{}
	for _, l := range locks {
		if open[l.Pull] || done[l.Pull] {
			continue
		}
		done[l.Pull] = true
		if _, err := s.releaseIfNotOpen(ctx, repo, l.Pull); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// Keep the old ETag, so that the next round looks again.
		return errors.Join(errs...)
	}
	s.poll.mu.Lock()
	s.poll.etags[repo.ID()] = newETag
	s.poll.mu.Unlock()
	return nil
}

// pollPull autoplans p when its head commit was neither planned nor is being
// planned. active holds the pull requests with a job in the journal.
func (s *Server) pollPull(ctx context.Context, repo vcs.Repo, p vcs.PullRequest, active map[string]bool) error {
	key := Work{Repo: repo, Pull: p}.PullKey()
	s.poll.mu.Lock()
	seen := s.poll.checked[repo.ID()][p.Num] == p.HeadSHA
	s.poll.mu.Unlock()
	if seen || active[key] {
		return nil
	}
	statuses, err := s.cfg.Poller.CommitStatuses(ctx, repo, p.HeadSHA)
	if err != nil {
		return err
	}
	planned := false
	for _, st := range statuses {
		planned = planned || st.Context == statusPlan
	}
	if !planned && !s.cfg.DisableAutoplan {
		// Replicas poll too: the first to record this head plans it.
		sum := sha256.Sum256([]byte("poll\x00" + key + "\x00" + p.HeadSHA))
		fresh, err := s.cfg.Deliveries.Add(ctx, "", hex.EncodeToString(sum[:]))
		if err != nil {
			return fmt.Errorf("record poll of %s: %w", key, err)
		}
		if fresh {
			w := Work{ID: newJobID(), Kind: WorkAutoplan, Repo: repo, Pull: p, User: p.Author, Queued: s.cfg.Now(), Delivery: "poll"}
			s.journalQueued(ctx, w)
			if err := s.cfg.Dispatcher.Dispatch(ctx, w); err != nil {
				s.journalDone(ctx, w.ID)
				s.cfg.Deliveries.Remove(ctx, "", hex.EncodeToString(sum[:]))
				return fmt.Errorf("dispatch autoplan of %s: %w", key, err)
			}
			s.log.Info("poller found a pull request head with no plan (a missed webhook?); autoplanning it",
				"repo", repo.FullName(), "pull", p.Num, "head", p.HeadSHA, "job", w.ID)
			s.metrics.pollPlans.Inc()
		}
	}
	s.poll.mu.Lock()
	if s.poll.checked[repo.ID()] == nil {
		s.poll.checked[repo.ID()] = map[int]string{}
	}
	s.poll.checked[repo.ID()][p.Num] = p.HeadSHA
	s.poll.mu.Unlock()
	return nil
}

// activePulls returns the pull requests ("repo#num") with a job in the
// journal: queued or running, they set their own statuses.
func (s *Server) activePulls(ctx context.Context) (map[string]bool, error) {
	recs, err := s.cfg.Store.Jobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	out := map[string]bool{}
	for _, r := range recs {
		out[fmt.Sprintf("%s#%d", r.Repo, r.Pull)] = true
	}
	return out, nil
}
