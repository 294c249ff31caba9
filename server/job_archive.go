package server

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"time"
)

// JobArchive keeps job records and logs where every replica can read them.
type JobArchive interface {
	SaveJob(ctx context.Context, id string, info, log []byte) error
	GetJob(ctx context.Context, id string) (info, log []byte, err error)
	// RecentJobs returns the records of the most recent jobs, newest first.
	RecentJobs(ctx context.Context, n int) ([][]byte, error)
}

// allJobs lists this replica's jobs merged with the archive's (every
// replica's), newest first, each once.
func (s *Server) allJobs(ctx context.Context) []JobInfo {
	local := s.jobs.list()
	if s.cfg.Jobs == nil {
		return local
	}
	recs, err := s.cfg.Jobs.RecentJobs(ctx, 500)
	if err != nil {
		s.log.Warn("list archived jobs", "error", err)
		return local
	}
	seen := map[string]bool{}
	for _, j := range local {
		seen[j.ID] = true
	}
	out := local
	for _, rec := range recs {
		var j JobInfo
		if json.Unmarshal(rec, &j) != nil || seen[j.ID] {
			continue
		}
		seen[j.ID] = true
		out = append(out, j)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Queued.After(out[b].Queued) })
	return out
}

// archiveEvery is how often a running job's log is copied to the archive, so a
// replica that did not run it shows it nearly live.
const archiveEvery = 2 * time.Second

// archiveJob saves the job's record and log now, and reports whether it did.
func (s *Server) archiveJob(ctx context.Context, j *Job) bool {
	if s.cfg.Jobs == nil {
		return true
	}
	snap := j.Snapshot()
	info, err := json.Marshal(snap)
	if err != nil {
		return false
	}
	log, _ := j.Log()
	if snap.State == JobRunning || snap.State == JobQueued {
		// Whole lines only while it runs: a secret half written could not
		// be recognised by the redaction.
		log = log[:bytes.LastIndexByte(log, '\n')+1]
	}
	if err := s.cfg.Jobs.SaveJob(ctx, j.ID, info, log); err != nil {
		s.log.Warn("archive job", "job", j.ID, "error", err)
		return false
	}
	return true
}

// lostArchiveRetry bounds how long a job stopped by a lost lease keeps trying
// to archive its final record: its replica lost contact with Redis, and
// without the final copy every replica would list the job as running forever.
const lostArchiveRetry = 30 * time.Second

// archiveWhileRunning copies the job to the archive every archiveEvery until
// the returned stop is called, which waits for the copier and saves once more;
// with lost set (the job's lease was lost with contact to Redis) it retries
// that final copy every second for up to lostArchiveRetry.
func (s *Server) archiveWhileRunning(ctx context.Context, j *Job) (stop func(lost bool)) {
	if s.cfg.Jobs == nil {
		return func(bool) {}
	}
	s.archiveJob(ctx, j)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(archiveEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.archiveJob(ctx, j)
			}
		}
	}()
	return func(lost bool) {
		close(done)
		<-finished
		// The final copy must land even if the job's context was cancelled.
		deadline := time.Now().Add(lostArchiveRetry)
		for {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			ok := s.archiveJob(fctx, j)
			cancel()
			if ok || !lost || time.Now().After(deadline) {
				return
			}
			time.Sleep(time.Second)
		}
	}
}

// archivedJob returns a job this replica did not run, from the archive.
func (s *Server) archivedJob(ctx context.Context, id string) (JobInfo, []byte, bool) {
	if s.cfg.Jobs == nil {
		return JobInfo{}, nil, false
	}
	infoJSON, log, err := s.cfg.Jobs.GetJob(ctx, id)
	if err != nil {
		return JobInfo{}, nil, false
	}
	var info JobInfo
	if err := json.Unmarshal(infoJSON, &info); err != nil {
		return JobInfo{}, nil, false
	}
	return info, log, true
}
