package server

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/atollhq/atoll/vcs"
)

// Enqueuer adds a job to a queue shared by replicas.
type Enqueuer interface {
	Enqueue(ctx context.Context, payload []byte) (string, error)
}

// QueueDispatcher dispatches work through a shared queue, so any replica may
// run it. Replicas consume the queue and call HandleQueued.
func QueueDispatcher(q Enqueuer) Dispatcher { return queueDispatcher{q} }

type queueDispatcher struct{ q Enqueuer }

func (d queueDispatcher) Dispatch(ctx context.Context, w Work) error {
	b, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("encode work: %w", err)
	}
	if _, err := d.q.Enqueue(ctx, b); err != nil {
		return err
	}
	return nil
}

// HandleQueued runs a job taken from the shared queue. attempt > 1 means
// another replica started it and stopped; the job runs again from the start
// (plans are repeatable), except an apply, which is reported and not run again.
// It returns an error wrapping locking.ErrLeaseLost when the job stopped
// because this replica lost its lease on the pull request: the queue then
// leaves the job for the replica that takes it over.
func (s *Server) HandleQueued(ctx context.Context, payload []byte, attempt int) error {
	var w Work
	if err := json.Unmarshal(payload, &w); err != nil {
		s.log.Error("decode queued work", "error", err)
		return nil
	}
	if attempt > 1 {
		s.log.Warn("resuming work taken over from a stopped replica", "job", w.ID, "kind", w.Kind, "repo", w.Repo.FullName(),
			"pull", w.Pull.Num, "attempt", attempt)
		if isApply(w) {
			// An apply never runs twice: the replica that stopped may have
			// applied part of it. Its pull request hears what to do.
			rec, _ := s.journalRecordOf(ctx, w.ID)
			if rec.State == "" {
				rec.State = journalRunning // claimed by a replica; assume it started
			}
			s.reportStoppedApply(ctx, w, rec, "the replica running it stopped or lost contact with Redis")
			s.journalDone(ctx, w.ID)
			return nil
		}
	}
	return s.execute(ctx, w)
}

// GiveUpQueued reports on the PR a job that no replica could finish.
func (s *Server) GiveUpQueued(ctx context.Context, payload []byte, attempts int) {
	var w Work
	if err := json.Unmarshal(payload, &w); err != nil {
		s.log.Error("decode queued work", "error", err)
		return
	}
	s.log.Error("work given up", "job", w.ID, "kind", w.Kind, "repo", w.Repo.FullName(), "pull", w.Pull.Num, "attempts", attempts)
	if w.Kind == WorkClose {
		return // the lock reconciler releases what this would have
	}
	body := fmt.Sprintf("**Atoll gave up on this job** (`%s`) after %d attempts: the Atoll replicas running it stopped before it finished. Nothing more will run for it; comment the command again (for example `atoll plan`) to retry.", w.ID, attempts)
	if _, err := s.cfg.VCS.CreateComment(ctx, w.Repo, w.Pull.Num, body); err != nil {
		s.log.Error("comment given-up work", "error", err)
	}
	// The job may have left its check pending: plan jobs on atoll/plan, apply on
	// atoll/apply. A comment's work does not carry the head commit, so it is
	// read from GitHub.
	statusCtx := statusPlan
	if w.Kind == WorkCommand {
		switch {
		case w.CommandErr != "":
			return
		case w.Command.Name == CmdApply:
			statusCtx = statusApply
		case w.Command.Name != CmdPlan:
			return // unlock, approve_policies and help set no pending status
		}
	}
	sha := w.Pull.HeadSHA
	if sha == "" {
		pull, err := s.cfg.VCS.GetPullRequest(ctx, w.Repo, w.Pull.Num)
		if err != nil {
			s.log.Error("get pull request of given-up work", "error", err)
			return
		}
		sha = pull.HeadSHA
	}
	if err := s.cfg.VCS.SetStatus(ctx, w.Repo, vcs.Status{SHA: sha, Context: statusCtx, State: vcs.StatusError,
		Description: "Atoll replicas stopped before finishing"}); err != nil {
		s.log.Error("set status of given-up work", "error", err)
	}
}
