package server

import (
	"bytes"
	"sort"
	"sync"
	"time"

	"github.com/atollhq/atoll/vcs"
)

// Job states.
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
)

// maxJobLog bounds one job's kept log; older output is dropped from the front and
// the page says so. Terraform output of a large plan is a few MiB at most.
const maxJobLog = 8 << 20

// Job is a run of Work, with its live log.
type Job struct {
	ID       string
	Kind     string
	Command  string
	Repo     vcs.Repo
	Pull     int
	PullURL  string
	User     string
	State    string
	Queued   time.Time
	Started  time.Time
	Finished time.Time

	// redact removes secrets from the log as it is read (a secret can span
	// two writes, so it is not done per write); nil leaves it as is.
	redact func([]byte) []byte

	mu        sync.Mutex // guards log, dropped, State, Started, Finished
	log       []byte
	dropped   int
	listeners []chan struct{}
}

// Write appends to the job's log; it never fails.
func (j *Job) Write(p []byte) (int, error) {
	j.mu.Lock()
	j.log = append(j.log, p...)
	if over := len(j.log) - maxJobLog; over > 0 {
		// Drop whole lines, so no secret is cut in half and left where the
		// redaction cannot recognise it.
		if nl := bytes.IndexByte(j.log[over:], '\n'); nl >= 0 {
			over += nl + 1
		}
		j.dropped += over
		j.log = append(j.log[:0], j.log[over:]...)
	}
	ls := j.listeners
	j.listeners = nil
	j.mu.Unlock()
	for _, c := range ls {
		close(c)
	}
	return len(p), nil
}

// Log returns a copy of the kept log, with secrets redacted, and how many
// earlier bytes were dropped.
func (j *Job) Log() ([]byte, int) {
	j.mu.Lock()
	out, dropped := append([]byte(nil), j.log...), j.dropped
	j.mu.Unlock()
	if j.redact != nil {
		out = j.redact(out)
	}
	return out, dropped
}

// Snapshot returns a copy of the job's fields without its log.
func (j *Job) Snapshot() JobInfo {
	j.mu.Lock()
	defer j.mu.Unlock()
	return JobInfo{ID: j.ID, Kind: j.Kind, Command: j.Command, Repo: j.Repo.FullName(), Pull: j.Pull, PullURL: j.PullURL,
		User: j.User, State: j.State, Queued: j.Queued, Started: j.Started, Finished: j.Finished}
}

func (j *Job) setState(state string, now time.Time) {
	j.mu.Lock()
	j.State = state
	switch state {
	case JobRunning:
		j.Started = now
	case JobSucceeded, JobFailed:
		j.Finished = now
	}
	ls := j.listeners
	j.listeners = nil
	j.mu.Unlock()
	for _, c := range ls {
		close(c)
	}
}

// changed returns a channel closed at the next log write or state change.
func (j *Job) changed() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	c := make(chan struct{})
	j.listeners = append(j.listeners, c)
	return c
}

// JobInfo is a job as the web UI and API show it.
type JobInfo struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Command  string    `json:"command"`
	Repo     string    `json:"repo"`
	Pull     int       `json:"pull"`
	PullURL  string    `json:"pull_url"`
	User     string    `json:"user"`
	State    string    `json:"state"`
	Queued   time.Time `json:"queued"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
}

// jobRegistry keeps the most recent jobs of this replica.
type jobRegistry struct {
	now    func() time.Time
	redact func([]byte) []byte // given to every job; nil for none
	limit  int
	mu     sync.Mutex // guards jobs and order
	jobs   map[string]*Job
	order  []string // oldest first
}

func newJobRegistry(limit int, now func() time.Time, redact func([]byte) []byte) *jobRegistry {
	return &jobRegistry{now: now, redact: redact, limit: limit, jobs: map[string]*Job{}}
}

// start registers (or returns) the job for w and marks it running.
func (r *jobRegistry) start(w Work, command string) *Job {
	r.mu.Lock()
	j, ok := r.jobs[w.ID]
	if !ok {
		j = &Job{ID: w.ID, Kind: w.Kind, Command: command, Repo: w.Repo, Pull: w.Pull.Num, PullURL: w.Pull.URL,
			User: w.User, State: JobQueued, Queued: w.Queued, redact: r.redact}
		r.jobs[w.ID] = j
		r.order = append(r.order, w.ID)
		for len(r.order) > r.limit {
			delete(r.jobs, r.order[0])
			r.order = r.order[1:]
		}
	}
	r.mu.Unlock()
	j.setState(JobRunning, r.now())
	return j
}

func (r *jobRegistry) get(id string) (*Job, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, ok := r.jobs[id]
	return j, ok
}

// list returns jobs newest first.
func (r *jobRegistry) list() []JobInfo {
	r.mu.Lock()
	js := make([]*Job, 0, len(r.jobs))
	for _, id := range r.order {
		js = append(js, r.jobs[id])
	}
	r.mu.Unlock()
	out := make([]JobInfo, 0, len(js))
	for _, j := range js {
		out = append(out, j.Snapshot())
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Queued.After(out[b].Queued) })
	return out
}
