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
// It also drops those pull requests from the lock queues, and hands each
// free lock with a queue to its first pull request.
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
	// The queues first: a lock released below goes to a pull request that
	// is still open.
	if _, err := s.reconcileQueues(ctx); err != nil {
		errs = append(errs, err)
	}
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
		n, err := s.releaseIfNotOpen(ctx, repo, l.Pull)
		released += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return released, errors.Join(errs...)
}

// releaseIfNotOpen asks the VCS for pull request num and, unless it is open,
// releases its locks and forgets its plans and working copy. It returns how
// many locks it released.
func (s *Server) releaseIfNotOpen(ctx context.Context, repo vcs.Repo, num int) (int, error) {
	pull, err := s.cfg.VCS.GetPullRequest(ctx, repo, num)
	gone := errors.Is(err, vcs.ErrNotFound)
	if err != nil && !gone {
		return 0, fmt.Errorf("get %s#%d: %w", repo.ID(), num, err)
	}
	if !gone && pull.State == vcs.PullOpen {
		return 0, nil
	}
	if !gone && pull.State == vcs.PullMerged && s.hasPendingMergePlans(ctx, repo, num) {
		return 0, nil // apply_on_merge: its merge commit's plan waits for `atoll apply`
	}
	s.leaveQueues(ctx, repo, num)
	rel, err := s.cfg.Store.ReleasePull(ctx, repo.ID(), num)
	if err != nil {
		return 0, fmt.Errorf("release %s#%d: %w", repo.ID(), num, err)
	}
	why := whyClosed(pull.State)
	if gone {
		why = "was deleted"
	}
	s.handOver(ctx, repo, releasedKeys(rel), num, why)
	var errs []error
	if err := s.cfg.Store.DeletePlans(ctx, repo.ID(), num); err != nil {
		errs = append(errs, fmt.Errorf("delete plans of %s#%d: %w", repo.ID(), num, err))
	}
	if err := s.cfg.Runner.RemovePull(ctx, repo, num); err != nil {
		s.log.Warn("remove working copy of closed pull request", "repo", repo.ID(), "pull", num, "error", err)
	}
	state := string(pull.State)
	if gone {
		state = "deleted"
	}
	s.log.Info("reconciler released locks of a pull request that is no longer open",
		"repo", repo.ID(), "pull", num, "state", state, "locks", len(rel))
	s.metrics.locksLeaked.Add(float64(len(rel)))
	return len(rel), errors.Join(errs...)
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
		s.pruneAudit(ctx)
		s.notifyStaleLocks(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
