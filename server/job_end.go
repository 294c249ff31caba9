package server

import (
	"context"
	"strings"
	"time"

	"github.com/atollhq/atoll/vcs"
)

// settleTimeout bounds the GitHub calls that report how a job ended after its
// own context was cancelled (shutdown): long enough for a retry, short enough
// that a stopping server is not held up.
const settleTimeout = 10 * time.Second

// settle runs when a job ends, however it ends. Every commit status the job left
// pending (a panic, a shutdown, a path that forgot) becomes an error, and every
// status that did not reach GitHub is sent again, so no PR waits forever on a
// pending check. A job cut off by this process shutting down says so on the PR,
// since nothing will run it again. With a shared queue another replica takes
// such a job over, so its statuses are left for that replica.
func (r *prRun) settle(ctx context.Context, ok, panicked bool) {
	// A job that finished well just as it was cancelled keeps its report.
	if c := r.stopper.cancelled(); c != nil && !ok && !panicked {
		r.settleCancelled(ctx, c)
		return
	}
	if r.lost != nil && !panicked {
		r.settleLost(ctx)
		return
	}
	stopped := ctx.Err() != nil
	if stopped && r.s.local == nil && !panicked {
		r.log.Warn("job stopped before it finished; another replica takes it over")
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if stopped && !ok {
		r.log.Error("job stopped by shutdown before it finished", "delivery", r.w.Delivery, "user", r.w.User)
		if r.w.Kind != WorkClose { // the lock reconciler releases what a close job would have
			r.comment(sctx, stoppedMessage(r.w))
		}
	}
	r.statusMu.Lock()
	var left []vcs.Status
	for _, st := range r.unsettled {
		left = append(left, st)
	}
	r.unsettled = nil
	r.statusMu.Unlock()
	for _, st := range left {
		if st.State == vcs.StatusPending {
			st.State = vcs.StatusError
			switch {
			case panicked:
				st.Description = "Atoll hit an internal error (job " + r.w.ID + ")"
			case stopped:
				st.Description = "Atoll shut down before finishing; comment the command again"
			default:
				st.Description = "Atoll stopped before finishing (job " + r.w.ID + ")"
			}
		}
		if err := r.s.cfg.VCS.SetStatus(sctx, r.w.Repo, st); err != nil {
			r.log.Error("settle commit status", "context", st.Context, "error", err)
		}
	}
}

// stoppedMessage tells the PR that w was cut off by a shutdown and how to retry.
func stoppedMessage(w Work) string {
	what, retry := "this job", "`atoll plan`"
	switch {
	case w.Kind == WorkAutoplan:
		what = "planning this push"
	case w.Kind == WorkCommand && w.CommandErr == "":
		cmd := "`" + strings.ReplaceAll("atoll "+w.Command.Name+selectionArgs(w.Command), "`", "'") + "`"
		what, retry = cmd, cmd
	}
	msg := "**Atoll shut down before finishing " + what + "** (job `" + w.ID + "`), and will not run it again. Comment " + retry + " to retry."
	if w.Kind == WorkCommand && w.Command.Name == CmdApply {
		msg += " The apply may have been cut off part-way: read the job log and run `atoll plan` to see what is left before applying again."
	}
	return msg
}

// settleLost ends a job stopped because its replica lost the lease on the PR
// (r.lost): the PR hears why from this replica, which may still reach GitHub
// though not Redis. Its statuses are left to the replica that takes the job
// over (see HandleQueued): this replica cannot know when that happens, and a
// late status from it could overwrite a newer job's.
func (r *prRun) settleLost(ctx context.Context) {
	r.log.Error("job stopped: this replica lost its lease on the pull request", "error", r.lost)
	r.logf("\nstopped: this replica lost its lease on the pull request (%v)\n", r.lost)
	if r.w.Kind == WorkClose {
		return // the lock reconciler releases what a close job would have
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	r.comment(sctx, leaseLostMessage(r.w, r.lost))
}
