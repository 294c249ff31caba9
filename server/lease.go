package server

import (
	"context"
	"errors"
	"strings"

	"github.com/atollhq/atoll/locking"
)

// PullLeaser is a PullMutex whose holding is a lease that can be lost, as
// between replicas sharing Redis (cluster.Mutex). Execute uses LeasePull when
// the configured PullMutex has it.
type PullLeaser interface {
	// LeasePull blocks until the caller holds the PR's mutex. The job runs
	// under the returned context: it carries the holding's fence
	// (locking.WithFence), so the job's store writes are refused once another
	// replica holds the mutex, and it ends with a cause wrapping
	// locking.ErrLeaseLost when the holding may be lost.
	LeasePull(ctx context.Context, key string) (held context.Context, unlock func(), err error)
}

// FenceChecker is a store that can tell whether the fence a context carries
// is still the current holder's (locking/redis).
type FenceChecker interface {
	CheckFence(ctx context.Context) error
}

// lockPull takes the PR's mutex and returns the context the job runs under.
func (s *Server) lockPull(ctx context.Context, key string) (context.Context, func(), error) {
	if l, ok := s.cfg.PullMutex.(PullLeaser); ok {
		return l.LeasePull(ctx, key)
	}
	unlock, err := s.cfg.PullMutex.LockPull(ctx, key)
	return ctx, unlock, err
}

// checkFence is the last check before terraform applies: a replica whose
// lease another replica took over does not start an apply.
func (s *Server) checkFence(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil && errors.Is(err, locking.ErrLeaseLost) {
		return err
	}
	if fc, ok := s.cfg.Store.(FenceChecker); ok {
		return fc.CheckFence(ctx)
	}
	return nil
}

// leaseLost returns why ctx, a job's context, ended if it ended because the
// job's lease was lost, and nil otherwise.
func leaseLost(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil && errors.Is(err, locking.ErrLeaseLost) {
		return err
	}
	return nil
}

// leaseLostMessage tells the PR that this replica stopped w because it lost
// its lease, and what happens next.
func leaseLostMessage(w Work, cause error) string {
	what := "this job"
	switch {
	case w.Kind == WorkAutoplan:
		what = "planning this push"
	case w.Kind == WorkCommand && w.CommandErr == "":
		what = "`" + strings.ReplaceAll("atoll "+w.Command.Name+selectionArgs(w.Command), "`", "'") + "`"
	}
	// cause is Atoll's own text (durations, key names), never a Redis error.
	msg := "**Atoll stopped " + what + "** (job `" + w.ID + "`): the replica running it lost its lease (" +
		cause.Error() + "), so it stopped terraform and records nothing more for this job: another replica may hold the pull request now."
	if isApply(w) {
		msg += " The apply may have been cut off part-way, and it is not run again by itself: run `atoll plan` to see what is left, then `atoll apply`."
	} else {
		msg += " It runs again on a replica that can reach Redis; if no new comment follows, comment the command again."
	}
	return msg
}
