package server

import (
	"context"
	"time"

	"github.com/atollhq/atoll/vcs"
)

func (r *prRun) setStatus(ctx context.Context, statusCtx string, state vcs.StatusState, desc string) {
	r.statusOrder.Lock()
	defer r.statusOrder.Unlock()
	if t, ok := r.heldStatus[statusCtx]; ok {
		t.Stop() // a later status replaces the one held back
		delete(r.heldStatus, statusCtx)
	}
	r.setStatusLocked(ctx, statusCtx, state, desc)
}

// setPendingSoon sets a pending status once the job has run for the live
// comment delay, unless another status of statusCtx comes first: a quick
// apply then costs one GitHub call fewer, as its comment does.
func (r *prRun) setPendingSoon(ctx context.Context, statusCtx, desc string) {
	delay := r.s.cfg.LiveCommentDelay
	if delay <= 0 {
		r.setStatus(ctx, statusCtx, vcs.StatusPending, desc)
		return
	}
	r.statusOrder.Lock()
	defer r.statusOrder.Unlock()
	if r.heldStatus == nil {
		r.heldStatus = map[string]*time.Timer{}
	}
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		r.statusOrder.Lock()
		defer r.statusOrder.Unlock()
		if r.heldStatus[statusCtx] != t || ctx.Err() != nil {
			return // replaced, or the job is over
		}
		delete(r.heldStatus, statusCtx)
		r.setStatusLocked(ctx, statusCtx, vcs.StatusPending, desc)
	})
	r.heldStatus[statusCtx] = t
}

// dropHeldStatuses cancels the pending statuses still held back: the job is
// over, and its final statuses are set (or settle sets them).
func (r *prRun) dropHeldStatuses() {
	r.statusOrder.Lock()
	defer r.statusOrder.Unlock()
	for k, t := range r.heldStatus {
		t.Stop()
		delete(r.heldStatus, k)
	}
}

// setStatusLocked sets a commit status; r.statusOrder is held, so statuses
// reach GitHub in the order the job set them.
func (r *prRun) setStatusLocked(ctx context.Context, statusCtx string, state vcs.StatusState, desc string) {
	sha := r.codeSHA()
	if sha == "" {
		sha = r.w.Pull.HeadSHA
	}
	if sha == "" {
		return
	}
	st := vcs.Status{SHA: sha, Context: statusCtx, State: state, Description: desc, TargetURL: r.jobURL()}
	err := r.s.cfg.VCS.SetStatus(ctx, r.w.Repo, st)
	if err != nil {
		r.log.Error("set commit status", "context", statusCtx, "error", err)
	}
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	if r.unsettled == nil {
		r.unsettled = map[string]vcs.Status{}
	}
	if err != nil || state == vcs.StatusPending {
		r.unsettled[statusCtx] = st
	} else {
		delete(r.unsettled, statusCtx)
	}
}

// logf writes a line to the job's live log.
