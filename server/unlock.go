package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// unlock runs `atoll unlock [-d DIR -w WS]`: it releases this PR's locks and
// discards their plans.
func (r *prRun) unlock(ctx context.Context) bool {
	s := r.s
	cmd := r.w.Command
	var released []locking.Lock
	if cmd.Dir == "" {
		// Discarding its plans includes the plans queued behind other
		// pull requests' locks.
		s.leaveQueues(ctx, r.w.Repo, r.pull.Num)
		ls, err := s.cfg.Store.ReleasePull(ctx, r.w.Repo.ID(), r.pull.Num)
		if err != nil {
			r.log.Error("release locks", "error", err)
			r.comment(ctx, "Atoll could not release the locks of this pull request. Try `atoll unlock` again, or use the Locks page.")
			return false
		}
		released = ls
		if err := s.cfg.Store.DeletePlans(ctx, r.w.Repo.ID(), r.pull.Num); err != nil {
			r.log.Error("delete plans", "error", err)
		}
	} else {
		ws := cmd.Workspace
		if ws == "" {
			ws = "default"
		}
		l, err := s.cfg.Store.Release(ctx, locking.Key{Repo: r.w.Repo.ID(), Dir: cmd.Dir, Workspace: ws}, r.pull.Num)
		switch {
		case errors.Is(err, locking.ErrNotOwner):
			r.comment(ctx, fmt.Sprintf("`%s` (workspace `%s`) is not locked by this pull request, so it was left alone. Only the pull request that holds a lock can release it from a comment; admins can use the Locks page.", cmd.Dir, ws))
			return false
		case errors.Is(err, locking.ErrNotFound):
		case err != nil:
			r.log.Error("release lock", "error", err)
			return false
		default:
			released = append(released, l)
		}
	}
	r.log.Info("locks released by unlock", "count", len(released))
	handed := s.handOver(ctx, r.w.Repo, releasedKeys(released), r.pull.Num, whyUnlocked)
	s.auditLocks(ctx, r.w.User, "comment", r.w.ID, released)
	data := unlockData(released, handed)
	data.Dir, data.Workspace, data.LocksURL = cmd.Dir, cmd.Workspace, s.locksURL()
	body, err := templates.Unlock(data)
	if err != nil {
		r.log.Error("render unlock", "error", err)
		return false
	}
	r.comment(ctx, body)
	return true
}

// closed releases the locks and plans of a merged or closed PR and removes its
// working copy.
func (r *prRun) closed(ctx context.Context) bool {
	s := r.s
	ok := true
	// It leaves the lock queues first: a lock released before could be
	// handed to it.
	s.leaveQueues(ctx, r.w.Repo, r.w.Pull.Num)
	if r.w.Pull.State == vcs.PullMerged {
		applied, applyOK := r.mergeApply(ctx)
		ok = applyOK
		if s.hasPendingMergePlans(ctx, r.w.Repo, r.w.Pull.Num) {
			// A plan of the merge commit waits for `atoll apply`: the pull
			// request keeps its locks until then (or `atoll unlock`).
			r.log.Info("merged pull request keeps its locks until its merge commit's plan is applied")
			if !r.mergeCommented {
				// This close job ran again after a stop: the merge commit
				// was planned before, and maybe partly applied.
				r.comment(ctx, "This pull request keeps its lock: the plan of its merge commit was not applied, and Atoll does not apply it by itself now "+
					"(Atoll may have stopped while applying it). Comment `atoll apply` to apply that plan, or `atoll unlock` to drop it and release the lock.")
			}
			return ok
		}
		if applied {
			// The apply comment said what happened; the locks go quietly.
			return r.closeMerged(ctx) && ok
		}
	}
	released, err := s.cfg.Store.ReleasePull(ctx, r.w.Repo.ID(), r.w.Pull.Num)
	if err != nil {
		r.log.Error("release locks", "error", err)
		ok = false
	}
	handed := s.handOver(ctx, r.w.Repo, releasedKeys(released), r.w.Pull.Num, whyClosed(r.w.Pull.State))
	if err := s.cfg.Store.DeletePlans(ctx, r.w.Repo.ID(), r.w.Pull.Num); err != nil {
		r.log.Error("delete plans", "error", err)
		ok = false
	}
	if err := s.cfg.Runner.RemovePull(ctx, r.w.Repo, r.w.Pull.Num); err != nil {
		r.log.Error("remove working copy", "error", err)
	}
	r.log.Info("pull request closed; locks released", "count", len(released), "state", r.w.Pull.State)
	if len(released) > 0 {
		data := unlockData(released, handed)
		data.Closed = string(r.w.Pull.State)
		data.LocksURL = s.locksURL()
		body, err := templates.Unlock(data)
		if err == nil {
			r.comment(ctx, body)
		}
	}
	return ok
}

// unlockData describes released locks; handed says which pull request
// each lock passed to from its queue.
func unlockData(released []locking.Lock, handed map[locking.Key]int) templates.UnlockData {
	var d templates.UnlockData
	for _, l := range released {
		d.Released = append(d.Released, templates.Released{Name: l.Project, Dir: l.Key.Dir, Workspace: l.Key.Workspace, Lock: true, Plan: true,
			HandedTo: handed[l.Key]})
	}
	return d
}
