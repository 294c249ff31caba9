package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/vcs"
)

// Reconcile releases the locks and plans of every pull request that is no longer
// open, asking the VCS for the state of each PR holding a lock. It repairs what a
// missed "closed" webhook (server down, delivery lost) would otherwise leak.
func (s *Server) Reconcile(ctx context.Context) (int, error) {
	locks, err := s.cfg.Store.List(ctx, locking.Filter{})
	if err != nil {
		return 0, fmt.Errorf("list locks: %w", err)
	}
	type pr struct {
		repo string
		num  int
	}
	seen := map[pr]bool{}
	released := 0
	var errs []error
	for _, l := range locks {
		k := pr{l.Key.Repo, l.Pull}
		if seen[k] {
			continue
		}
		seen[k] = true
		repo, err := vcs.ParseRepoID(l.Key.Repo)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pull, err := s.cfg.VCS.GetPullRequest(ctx, repo, l.Pull)
		gone := errors.Is(err, vcs.ErrNotFound)
		if err != nil && !gone {
			errs = append(errs, fmt.Errorf("get %s#%d: %w", l.Key.Repo, l.Pull, err))
			continue
		}
		if !gone && pull.State == vcs.PullOpen {
			continue
		}
		rel, err := s.cfg.Store.ReleasePull(ctx, l.Key.Repo, l.Pull)
		if err != nil {
			errs = append(errs, fmt.Errorf("release %s#%d: %w", l.Key.Repo, l.Pull, err))
			continue
		}
		if err := s.cfg.Store.DeletePlans(ctx, l.Key.Repo, l.Pull); err != nil {
			errs = append(errs, fmt.Errorf("delete plans of %s#%d: %w", l.Key.Repo, l.Pull, err))
		}
		if err := s.cfg.Runner.RemovePull(ctx, repo, l.Pull); err != nil {
			s.log.Warn("remove working copy of closed pull request", "repo", l.Key.Repo, "pull", l.Pull, "error", err)
		}
		state := string(pull.State)
		if gone {
			state = "deleted"
		}
		s.log.Info("reconciler released locks of a pull request that is no longer open",
			"repo", l.Key.Repo, "pull", l.Pull, "state", state, "locks", len(rel))
		s.metrics.locksLeaked.Add(float64(len(rel)))
		released += len(rel)
	}
	return released, errors.Join(errs...)
}

// RunReconciler reconciles at once and then every interval until ctx ends.
func (s *Server) RunReconciler(ctx context.Context, every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.Reconcile(ctx); err != nil {
			s.log.Error("reconcile locks", "error", err, "released", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
