package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/vcs"
)

// Journal states.
const (
	journalQueued  = "queued"
	journalRunning = "running"
	// journalWaiting is work the local dispatcher's queue had no room for:
	// it waits in the journal until the dispatcher's feeder queues it.
	journalWaiting = "waiting"
)

// journalTimeout bounds one journal write: the journal must not hold a job up.
const journalTimeout = 5 * time.Second

// journalQueued records w from the moment its webhook is accepted.
func (s *Server) journalQueued(ctx context.Context, w Work) {
	s.saveJournal(ctx, journalRecord(w, journalQueued))
}

func journalRecord(w Work, state string) locking.JobRecord {
	data, _ := json.Marshal(w) // Work is plain data
	return locking.JobRecord{ID: w.ID, Repo: w.Repo.ID(), Pull: w.Pull.Num, State: state, Work: data, HeadSHA: w.Pull.HeadSHA}
}

func (s *Server) saveJournal(ctx context.Context, rec locking.JobRecord) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	rec.Updated = s.cfg.Now()
	if err := s.cfg.Store.SaveJob(ctx, rec); err != nil {
		s.log.Error("journal job", "job", rec.ID, "state", rec.State, "error", err)
	}
}

// journalDone forgets a job that ended, however it ended: its pull request
// has heard how.
func (s *Server) journalDone(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	if err := s.cfg.Store.DeleteJob(ctx, id); err != nil {
		s.log.Error("journal job end", "job", id, "error", err)
	}
}

// journal records r's job as running, with what is known of it so far: the
// commit it works on and the comments it posted.
func (r *prRun) journal(ctx context.Context) {
	r.journalMu.Lock()
	defer r.journalMu.Unlock()
	rec := journalRecord(r.w, journalRunning)
	if r.pull.HeadSHA != "" {
		rec.HeadSHA = r.pull.HeadSHA
	}
	rec.Comments = append([]int64(nil), r.commentIDs...)
	r.s.saveJournal(ctx, rec)
}

// noteComment records a comment the job posted, so that a crash can be
// explained in it.
func (r *prRun) noteComment(ctx context.Context, id int64) {
	r.journalMu.Lock()
	r.commentIDs = append(r.commentIDs, id)
	r.journalMu.Unlock()
	r.journal(ctx)
}

// newLiveComment is a live comment on the job's pull request whose parts are
// journaled.
func (r *prRun) newLiveComment() *liveComment {
	return &liveComment{s: r.s, repo: r.w.Repo, num: r.w.Pull.Num, log: r.log, created: r.noteComment,
		start: time.Now(), delay: r.s.cfg.LiveCommentDelay}
}

// Recover settles the jobs a crash cut off (journal records left from an
// earlier run of this process; with a shared queue, other replicas take jobs
// over instead, so only a server with its own dispatcher calls it). A plan,
// autoplan, unlock, close or drift check runs again from scratch (they are
// idempotent); an apply never runs again: its status turns to error and a
// comment says what may be partial and what to do. Comments the job had
// posted are edited to say what happened.
func (s *Server) Recover(ctx context.Context) error {
	recs, err := s.cfg.Store.Jobs(ctx)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		log := s.log.With("job", rec.ID, "repo", rec.Repo, "pull", rec.Pull, "state", rec.State)
		var w Work
		if err := json.Unmarshal(rec.Work, &w); err != nil || w.ID == "" {
			log.Error("journal record cannot be read; dropped", "error", err)
			s.journalDone(ctx, rec.ID)
			continue
		}
		apply := isApply(w)
		switch {
		case apply:
			s.reportCutOffApply(ctx, w, rec)
		default:
			log.Info("job cut off by a restart; running it again")
			s.editComments(ctx, w.Repo, rec.Comments, "_Atoll stopped while running this (the server restarted); it runs again, and a new comment follows._")
			again := w
			again.ID, again.Queued = newJobID(), s.cfg.Now()
			s.journalQueued(ctx, again)
			if err := s.cfg.Dispatcher.Dispatch(ctx, again); err != nil {
				log.Error("dispatch recovered job", "error", err)
				s.journalDone(ctx, again.ID)
			}
		}
		s.journalDone(ctx, rec.ID)
	}
	return nil
}

// isApply reports whether w applies: those jobs never run twice by themselves.
func isApply(w Work) bool {
	return (w.Kind == WorkCommand && w.Command.Name == CmdApply && w.CommandErr == "") || w.Kind == WorkDriftApply
}

// reportCutOffApply tells the pull request of an apply a stopped server (or
// replica) cut off that it is not run again, and what to do: rec is its
// journal record (zero when there is none).
func (s *Server) reportCutOffApply(ctx context.Context, w Work, rec locking.JobRecord) {
	s.reportStoppedApply(ctx, w, rec, "the server restarted")
}

// reportStoppedApply is reportCutOffApply saying why the apply stopped.
func (s *Server) reportStoppedApply(ctx context.Context, w Work, rec locking.JobRecord, why string) {
	log := s.log.With("job", w.ID, "repo", w.Repo.FullName(), "pull", w.Pull.Num)
	what := "`" + commandLabel(w) + "`"
	if rec.State == journalQueued || rec.State == journalWaiting {
		log.Warn("server stopped before a queued apply ran; not run")
		s.postComment(ctx, w, "Atoll stopped ("+why+") before it could run "+what+", so nothing was applied. Comment it again to apply.")
		return
	}
	log.Warn("server stopped during an apply; not run again")
	s.editComments(ctx, w.Repo, rec.Comments, "_Atoll stopped while running this apply ("+why+"), so this comment is not complete. See the comment below._")
	if rec.HeadSHA != "" && w.Kind == WorkCommand {
		if err := s.cfg.VCS.SetStatus(ctx, w.Repo, vcs.Status{SHA: rec.HeadSHA, Context: statusApply, State: vcs.StatusError,
			Description: "Atoll stopped during apply; run atoll plan to see what is left"}); err != nil {
			log.Error("set status after interrupted apply", "error", err)
		}
	}
	s.postComment(ctx, w, "**Atoll stopped while it was running "+what+"** ("+why+"), so the apply may have finished, stopped part way, or not started. "+
		"Resources may be partly changed, and terraform's state lock may still be held. Atoll does not run an apply again by itself.\n\n"+
		"**Next:** comment `atoll plan` to see what is left to change, review it, then `atoll apply`. If terraform reports that the state is locked, release it with `terraform force-unlock` once you are sure nothing else is applying.")
}

// journalRecordOf returns job id's journal record, if any.
func (s *Server) journalRecordOf(ctx context.Context, id string) (locking.JobRecord, bool) {
	recs, err := s.cfg.Store.Jobs(ctx)
	if err != nil {
		s.log.Error("read journal", "error", err)
		return locking.JobRecord{}, false
	}
	for _, r := range recs {
		if r.ID == id {
			return r, true
		}
	}
	return locking.JobRecord{}, false
}

func (s *Server) editComments(ctx context.Context, repo vcs.Repo, ids []int64, body string) {
	for _, id := range ids {
		if err := s.cfg.VCS.UpdateComment(ctx, repo, id, body); err != nil {
			s.log.Error("update comment of an interrupted job", "comment", id, "error", err)
		}
	}
}

func (s *Server) postComment(ctx context.Context, w Work, body string) {
	if _, err := s.cfg.VCS.CreateComment(ctx, w.Repo, w.Pull.Num, body); err != nil {
		s.log.Error("comment on an interrupted job", "error", err)
	}
}
