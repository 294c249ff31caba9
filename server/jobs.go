package server

import (
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
	// JobCancelled is a job `atoll cancel` or a push stopped.
	JobCancelled = "cancelled"
)

// jobEnded reports whether state is a finished job's.
func jobEnded(state string) bool {
	return state == JobSucceeded || state == JobFailed || state == JobCancelled
}

// Job is a run of Work, with its live log.
type Job struct {
	ID      string
	Kind    string
	Command string
	Repo    vcs.Repo
	Pull    int
	PullURL string
	// Branch is the merge group's branch of a merge_group job.
	Branch   string
	User     string
	State    string
	Queued   time.Time
	Started  time.Time
	Finished time.Time

	// redact removes secrets from output before it is kept: whole lines at
	// a time, and a private key block whole (see flushLog); nil leaves it
	// as is.
	redact func([]byte) []byte

	// ended is called once the job has finished (the registry bounds the
	// logs of finished jobs); nil for none.
	ended func()

	mu        sync.Mutex // guards log, pending, inKey, State, Started, Finished, listeners
	log       jobLog     // head and tail of the redacted output (see jobLog)
	pending   []byte     // output not redacted yet (see flushLog)
	inKey     bool       // dropping the rest of a key block too long to hold
	listeners []chan struct{}
}

// Write appends to the job's log; it never fails. Past the log's bounds the
// middle of the output is dropped (see jobLog).
func (j *Job) Write(p []byte) (int, error) {
	j.mu.Lock()
	j.pending = append(j.pending, p...)
	j.flushLog(false)
	ls := j.listeners
	j.listeners = nil
	j.mu.Unlock()
	for _, c := range ls {
		close(c)
	}
	return len(p), nil
}

// Log returns a copy of the kept (redacted) log, with a marker line where
// output was dropped, and what was dropped.
func (j *Job) Log() ([]byte, logGap) {
	j.mu.Lock()
	head, tail := j.log.text()
	gap := j.log.gap()
	j.mu.Unlock()
	return j.join(head, tail, gap), gap
}

// readLog returns the (redacted) log from p on, with a marker line where output
// between p and what is kept was dropped, and the position after it. With
// whole set only whole lines are returned.
func (j *Job) readLog(p logPos, whole bool) ([]byte, logPos) {
	j.mu.Lock()
	head, tail, gap, next := j.log.read(p, whole)
	j.mu.Unlock()
	return j.join(head, tail, gap), next
}

// join puts the gap's marker between head and tail.
func (j *Job) join(head, tail []byte, gap logGap) []byte {
	if gap.Bytes == 0 {
		return append(head, tail...)
	}
	out := append(head, gap.marker()...)
	return append(out, tail...)
}

// logSize returns the bytes of log the job keeps.
func (j *Job) logSize() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.log.size()
}

// dropLog forgets the job's kept log if it has finished, and returns the bytes
// freed.
func (j *Job) dropLog() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !jobEnded(j.State) {
		return 0
	}
	n := j.log.size()
	j.log.drop()
	return n
}

// Snapshot returns a copy of the job's fields without its log.
func (j *Job) Snapshot() JobInfo {
	j.mu.Lock()
	defer j.mu.Unlock()
	info := JobInfo{ID: j.ID, Kind: j.Kind, Command: j.Command, Repo: j.Repo.FullName(), Pull: j.Pull, PullURL: j.PullURL,
		User: j.User, State: j.State, Queued: j.Queued, Started: j.Started, Finished: j.Finished, LogDropped: j.log.gap()}
	if j.Kind == WorkMergeGroup {
		info.Branch = j.Branch
	}
	if j.Kind == WorkDriftCheck {
		info.Branch = j.Repo.DefaultBranch
		if info.Branch == "" {
			info.Branch = "main"
		}
	}
	return info
}

func (j *Job) setState(state string, now time.Time) {
	j.mu.Lock()
	j.State = state
	switch state {
	case JobRunning:
		j.Started = now
	case JobSucceeded, JobFailed, JobCancelled:
		j.Finished = now
		j.flushLog(true)
		j.log.shrink()
	}
	ls := j.listeners
	j.listeners = nil
	j.mu.Unlock()
	for _, c := range ls {
		close(c)
	}
	if jobEnded(state) && j.ended != nil {
		j.ended()
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
	// Branch is the default branch a drift check planned (Pull is 0 then).
	Branch string `json:"branch,omitempty"`
	// LogDropped is the output dropped from the middle of the job's log
	// to bound memory (the log has a marker line there).
	LogDropped logGap `json:"log_dropped,omitzero"`
}

// jobRegistry keeps the most recent jobs of this replica: at most limit jobs,
// and at most logTotal bytes of finished jobs' logs.
type jobRegistry struct {
	now      func() time.Time
	redact   func([]byte) []byte // given to every job; nil for none
	limit    int
	logTotal int
	mu       sync.Mutex // guards jobs and order
	jobs     map[string]*Job
	order    []string // oldest first
}

func newJobRegistry(limit int, now func() time.Time, redact func([]byte) []byte) *jobRegistry {
	return &jobRegistry{now: now, redact: redact, limit: limit, logTotal: jobLogsTotal, jobs: map[string]*Job{}}
}

// trimLogs drops the logs of the oldest finished jobs while the kept logs
// together pass logTotal. It runs as each job ends.
func (r *jobRegistry) trimLogs() {
	r.mu.Lock()
	js := make([]*Job, 0, len(r.order))
	for _, id := range r.order {
		js = append(js, r.jobs[id])
	}
	r.mu.Unlock()
	total := 0
	for _, j := range js {
		total += j.logSize()
	}
	for _, j := range js {
		if total <= r.logTotal {
			return
		}
		total -= j.dropLog()
	}
}

// start registers (or returns) the job for w and marks it running.
func (r *jobRegistry) start(w Work, command string) *Job {
	r.mu.Lock()
	j, ok := r.jobs[w.ID]
	if !ok {
		j = &Job{ID: w.ID, Kind: w.Kind, Command: command, Repo: w.Repo, Pull: w.Pull.Num, PullURL: w.Pull.URL,
			User: w.User, State: JobQueued, Queued: w.Queued, redact: r.redact, ended: r.trimLogs}
		if w.Kind == WorkMergeGroup {
			j.Branch = w.Pull.HeadBranch
		}
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
