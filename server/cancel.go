package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// AuditCancel is the audit action of a job cancelled by `atoll cancel`.
const AuditCancel = "cancel"

// Cancellation marks a job as cancelled: by a person (`atoll cancel`) or by
// a push that makes the job's plan useless. The job that finds it stops
// (terraform gets SIGINT, then SIGKILL after the runner's kill grace) and
// writes Ack back, so the canceller can say what it stopped.
type Cancellation struct {
	// By is the login that commented `atoll cancel`; empty for a push.
	By string `json:"by,omitempty"`
	// HeadSHA is the new head commit of a push that cancelled the job.
	HeadSHA string    `json:"head_sha,omitempty"`
	Time    time.Time `json:"time"`
	// Ack is set by the cancelled job once it has seen the mark.
	Ack *CancelAck `json:"ack,omitempty"`
}

// CancelAck is what a cancelled job was doing when it saw its mark.
type CancelAck struct {
	// What names it: "plan of `network` (default)". Markdown.
	What string `json:"what"`
	// Running is set when the job held its pull request (it was running,
	// not waiting for another job of the pull request to end).
	Running bool `json:"running"`
	// Ran is how long the job had run.
	Ran time.Duration `json:"ran"`
}

// CancelBoard keeps the cancellation marks of jobs (a Cancellation as JSON),
// shared by the replicas that may run them (cluster.CancelBoard, in Redis); a
// process without replicas keeps them in memory.
type CancelBoard interface {
	// PutCancel stores mark as job id's mark, replacing any.
	PutCancel(ctx context.Context, id string, mark []byte) error
	// GetCancel returns job id's mark, if any.
	GetCancel(ctx context.Context, id string) ([]byte, bool, error)
}

// cancelPoll is how often a running job looks for its mark on a shared
// board; a job of this process is stopped at once.
const cancelPoll = time.Second

// cancelAckWait bounds how long `atoll cancel` waits for running jobs to
// confirm, before it answers with what it knows.
const cancelAckWait = 3*cancelPoll + 2*time.Second

// memCancelBoard is the CancelBoard of a single process.
type memCancelBoard struct {
	mu    sync.Mutex // guards marks
	marks map[string]memMark
}

type memMark struct {
	mark []byte
	put  time.Time
}

var _ CancelBoard = (*memCancelBoard)(nil)

// memCancelTTL is how long an in-memory mark is kept: a queued job that
// starts later than this runs.
const memCancelTTL = 24 * time.Hour

func (b *memCancelBoard) PutCancel(_ context.Context, id string, mark []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.marks == nil {
		b.marks = map[string]memMark{}
	}
	for k, m := range b.marks {
		if time.Since(m.put) > memCancelTTL {
			delete(b.marks, k)
		}
	}
	b.marks[id] = memMark{mark: append([]byte(nil), mark...), put: time.Now()}
	return nil
}

func (b *memCancelBoard) GetCancel(_ context.Context, id string) ([]byte, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.marks[id]
	return m.mark, ok, nil
}

// putMark stores c on the board as job id's mark.
func (cs *cancelState) putMark(ctx context.Context, id string, c Cancellation) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode cancellation: %w", err)
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	return cs.board.PutCancel(pctx, id, b)
}

// getMark reads job id's mark from the board.
func (cs *cancelState) getMark(ctx context.Context, id string) (Cancellation, bool, error) {
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	b, ok, err := cs.board.GetCancel(gctx, id)
	if err != nil || !ok {
		return Cancellation{}, false, err
	}
	var c Cancellation
	if err := json.Unmarshal(b, &c); err != nil {
		return Cancellation{}, false, fmt.Errorf("decode cancellation of job %s: %w", id, err)
	}
	return c, true, nil
}

// cancelState is the server's side of cancellation: the board, and the
// jobs running in this process, which are stopped without waiting for a poll.
type cancelState struct {
	board  CancelBoard
	shared bool       // board is shared with other replicas: running jobs poll it
	mu     sync.Mutex // guards jobs
	jobs   map[string]*jobStop
}

func newCancelState(board CancelBoard) *cancelState {
	if board == nil {
		return &cancelState{board: &memCancelBoard{}, jobs: map[string]*jobStop{}}
	}
	return &cancelState{board: board, shared: true, jobs: map[string]*jobStop{}}
}

// jobStop is one running job's cancellation handle.
type jobStop struct {
	s       *Server
	id      string
	w       Work
	started time.Time
	cancel  context.CancelCauseFunc
	ctx     context.Context
	stop    chan struct{}  // closed by done: the poller returns
	wg      sync.WaitGroup // owns the poller

	mu       sync.Mutex // guards activity, held, mark
	activity string     // what terraform runs now, "" between runs
	held     bool       // the job holds its pull request
	mark     *Cancellation
}

// errJobCancelled is the cause of a cancelled job's context.
var errJobCancelled = errors.New("job cancelled")

type jobStopKey struct{}

// watchCancel returns ctx made cancellable by a mark on the board, and the
// job's handle. A mark already there (a job cancelled while queued) cancels
// it at once. Call done when the job has ended.
func (s *Server) watchCancel(ctx context.Context, w Work) (context.Context, *jobStop) {
	st := &jobStop{s: s, id: w.ID, w: w, started: s.cfg.Now(), stop: make(chan struct{})}
	ctx = context.WithValue(ctx, jobStopKey{}, st)
	st.ctx, st.cancel = context.WithCancelCause(ctx)
	cs := s.cancels
	cs.mu.Lock()
	cs.jobs[w.ID] = st
	cs.mu.Unlock()
	if c, ok := st.lookup(ctx); ok {
		st.trigger(ctx, c)
	} else if cs.shared {
		st.wg.Add(1)
		go st.poll() // waited for by done
	}
	return st.ctx, st
}

// lookup reads the job's mark; a board error counts as none.
func (st *jobStop) lookup(ctx context.Context) (Cancellation, bool) {
	c, ok, err := st.s.cancels.getMark(ctx, st.id)
	if err != nil {
		st.s.log.Warn("read cancellation mark", "job", st.id, "error", err)
		return Cancellation{}, false
	}
	return c, ok && c.Ack == nil
}

// poll looks for the job's mark every cancelPoll until done.
func (st *jobStop) poll() {
	defer st.wg.Done()
	t := time.NewTicker(cancelPoll)
	defer t.Stop()
	for {
		select {
		case <-st.stop:
			return
		case <-t.C:
			if c, ok := st.lookup(st.ctx); ok {
				st.trigger(st.ctx, c)
				return
			}
		}
	}
}

// trigger cancels the job for c, once, and acknowledges on the board.
func (st *jobStop) trigger(ctx context.Context, c Cancellation) {
	st.mu.Lock()
	if st.mark != nil {
		st.mu.Unlock()
		return
	}
	st.mark = &c
	ack := &CancelAck{What: st.activity, Running: st.held, Ran: st.s.cfg.Now().Sub(st.started)}
	st.mu.Unlock()
	if ack.What == "" {
		ack.What = jobWhat(st.w)
	}
	st.s.log.Info("job cancelled", "job", st.id, "by", c.By, "head", c.HeadSHA, "doing", ack.What)
	st.cancel(errJobCancelled)
	c.Ack = ack
	if err := st.s.cancels.putMark(ctx, st.id, c); err != nil {
		st.s.log.Warn("acknowledge cancellation", "job", st.id, "error", err)
	}
}

// setHeld records that the job holds its pull request now.
func (st *jobStop) setHeld() {
	st.mu.Lock()
	st.held = true
	st.mu.Unlock()
}

// cancelled returns the mark that cancelled the job, or nil.
func (st *jobStop) cancelled() *Cancellation {
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.mark
}

// done stops watching; the job has ended.
func (st *jobStop) done() {
	close(st.stop)
	st.wg.Wait()
	cs := st.s.cancels
	cs.mu.Lock()
	delete(cs.jobs, st.id)
	cs.mu.Unlock()
	st.cancel(context.Canceled)
}

// trackingRunner notes, on the job's handle, what terraform runs, so a
// cancellation can say what it stopped.
type trackingRunner struct{ Runner }

func (t trackingRunner) Run(ctx context.Context, job runner.Job) (runner.Result, error) {
	if st, ok := ctx.Value(jobStopKey{}).(*jobStop); ok {
		st.mu.Lock()
		st.activity = activityOf(job)
		st.mu.Unlock()
		defer func() {
			st.mu.Lock()
			st.activity = ""
			st.mu.Unlock()
		}()
	}
	return t.Runner.Run(ctx, job)
}

// activityOf names a runner job: "plan of `network` (default)".
func activityOf(job runner.Job) string {
	stage := "plan"
	for _, s := range job.Steps {
		switch s.Kind {
		case config.StepApply:
			stage = "apply"
		case config.StepImport:
			stage = "import"
		case config.StepStateRm:
			stage = "state rm"
		}
	}
	name := job.Env["PROJECT_NAME"]
	if name == "" {
		name = job.ProjectDir
	}
	ws := job.Workspace
	if ws == "" {
		ws = "default"
	}
	return fmt.Sprintf("%s of `%s` (%s)", stage, strings.ReplaceAll(name, "`", "'"), ws)
}

// jobWhat names a job by its kind: "plan", "apply", "import", "state rm".
func jobWhat(w Work) string {
	switch {
	case w.Kind == WorkAutoplan:
		return "plan"
	case w.Kind == WorkCommand && w.Command.Name == CmdState:
		return "state rm"
	case w.Kind == WorkCommand:
		return w.Command.Name
	}
	return w.Kind
}

// cancellable reports whether `atoll cancel` stops w: the jobs that run
// terraform for the pull request.
func cancellable(w Work) bool {
	if w.CommandErr != "" {
		return false
	}
	switch w.Kind {
	case WorkAutoplan:
		return true
	case WorkCommand:
		switch w.Command.Name {
		case CmdPlan, CmdApply, CmdImport, CmdState:
			return true
		}
	}
	return false
}

// pullJobs returns the journal's jobs of the pull request w is for, but w.
func (s *Server) pullJobs(ctx context.Context, w Work) ([]locking.JobRecord, []Work, error) {
	jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	recs, err := s.cfg.Store.Jobs(jctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read job journal: %w", err)
	}
	var outR []locking.JobRecord
	var outW []Work
	for _, rec := range recs {
		if rec.ID == w.ID || rec.Repo != w.Repo.ID() || rec.Pull != w.Pull.Num {
			continue
		}
		var o Work
		if err := json.Unmarshal(rec.Work, &o); err != nil || o.ID != rec.ID {
			continue
		}
		outR, outW = append(outR, rec), append(outW, o)
	}
	return outR, outW, nil
}

// mark puts c on job id's mark and, when the job runs in this process,
// stops it at once.
func (s *Server) mark(ctx context.Context, id string, c Cancellation) error {
	if err := s.cancels.putMark(ctx, id, c); err != nil {
		return err
	}
	s.cancels.mu.Lock()
	st := s.cancels.jobs[id]
	s.cancels.mu.Unlock()
	if st != nil {
		st.trigger(ctx, c)
	}
	return nil
}

// cancelCommand runs `atoll cancel`: it marks every queued and running job
// of the pull request that runs terraform, waits a few seconds for the
// running ones to confirm, and comments what was cancelled. Locks stay.
func (r *prRun) cancelCommand(ctx context.Context) bool {
	s := r.s
	recs, works, err := s.pullJobs(ctx, r.w)
	if err != nil {
		r.log.Error("list the pull request's jobs", "error", err)
		r.comment(ctx, refusedBody("atoll cancel", "Atoll could not read this pull request's jobs, so nothing was cancelled.", "Try `atoll cancel` again in a minute."))
		return false
	}
	c := Cancellation{By: r.w.User, Time: s.cfg.Now()}
	type target struct {
		rec locking.JobRecord
		w   Work
	}
	var targets []target
	for i, w := range works {
		if !cancellable(w) {
			continue
		}
		if err := s.mark(ctx, w.ID, c); err != nil {
			r.log.Error("mark job cancelled", "job", w.ID, "error", err)
			continue
		}
		targets = append(targets, target{recs[i], w})
	}
	// Running jobs confirm with what they were doing; queued ones stop
	// when they would start.
	acks := map[string]*CancelAck{}
	deadline := time.Now().Add(cancelAckWait)
	for {
		waiting := false
		for _, t := range targets {
			if t.rec.State != journalRunning || acks[t.w.ID] != nil {
				continue
			}
			m, ok, err := s.cancels.getMark(ctx, t.w.ID)
			if err == nil && ok && m.Ack != nil {
				acks[t.w.ID] = m.Ack
				continue
			}
			waiting = true
		}
		if !waiting || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
	data := templates.CancelData{User: r.w.User, LocksURL: s.locksURL()}
	queued := map[string]int{}
	for _, t := range targets {
		ack := acks[t.w.ID]
		detail := ""
		switch {
		case ack != nil && ack.Running:
			data.Jobs = append(data.Jobs, templates.CancelledJob{What: ack.What, Running: true, Ran: ack.Ran})
			detail = fmt.Sprintf("%s, running %s", ack.What, ack.Ran.Round(time.Second))
		case ack == nil && t.rec.State == journalRunning:
			data.Unanswered++
			detail = jobWhat(t.w) + ", running on another replica"
		default:
			queued[jobWhat(t.w)]++
			detail = "queued " + jobWhat(t.w)
		}
		s.appendAudit(ctx, locking.AuditEvent{User: r.w.User, Action: AuditCancel, Via: r.via(), Repo: r.w.Repo.ID(), Pull: r.w.Pull.Num,
			Commit: t.rec.HeadSHA, Result: "cancelled", Detail: strings.ReplaceAll(detail, "`", ""), JobID: t.w.ID})
	}
	kinds := make([]string, 0, len(queued))
	for k := range queued {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		n := queued[k]
		what := fmt.Sprintf("%d queued %s", n, k)
		if n > 1 {
			what += "s"
		}
		data.Jobs = append(data.Jobs, templates.CancelledJob{What: what})
	}
	r.log.Info("jobs cancelled", "count", len(targets))
	body, err := templates.Cancel(data)
	if err != nil {
		r.log.Error("render cancel comment", "error", err)
		return false
	}
	r.comment(ctx, body)
	return true
}

// cancelSuperseded cancels the plans of w's pull request that a new push
// (w, an autoplan of the new head) makes useless: running plans of another
// head, and autoplans queued before w. Applies, imports and state changes
// are never cancelled by a push.
func (s *Server) cancelSuperseded(ctx context.Context, w Work) {
	if w.Pull.HeadSHA == "" {
		return
	}
	recs, works, err := s.pullJobs(ctx, w)
	if err != nil {
		s.log.Warn("list the pull request's jobs to cancel superseded plans", "job", w.ID, "error", err)
		return
	}
	c := Cancellation{HeadSHA: w.Pull.HeadSHA, Time: s.cfg.Now()}
	for i, o := range works {
		rec := recs[i]
		plan := o.Kind == WorkAutoplan || (o.Kind == WorkCommand && o.CommandErr == "" && o.Command.Name == CmdPlan)
		switch {
		case !plan, o.Queued.After(w.Queued), rec.HeadSHA == w.Pull.HeadSHA:
			continue
		case o.Kind == WorkCommand && rec.HeadSHA == "":
			// A plan comment that has not started plans the new head.
			continue
		}
		if err := s.mark(ctx, o.ID, c); err != nil {
			s.log.Warn("cancel a superseded plan", "job", o.ID, "error", err)
			continue
		}
		s.log.Info("plan superseded by a push; cancelled", "job", o.ID, "pull", w.Pull.Num, "head", short(w.Pull.HeadSHA))
	}
}

// settleCancelled ends a cancelled job: the comments it posted say it was
// cancelled, and its statuses that are pending or did not reach GitHub
// turn to error saying by whom. Its context is cancelled, so these calls
// run under a fresh one.
func (r *prRun) settleCancelled(ctx context.Context, c *Cancellation) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	ran := r.s.cfg.Now().Sub(r.stopper.started)
	if c.By != "" {
		r.logf("\ncancelled by @%s after %s\n", c.By, ran.Round(time.Second))
	} else {
		r.logf("\ncancelled after %s: a push of %s is planned instead\n", ran.Round(time.Second), short(c.HeadSHA))
	}
	r.journalMu.Lock()
	ids := append([]int64(nil), r.commentIDs...)
	r.journalMu.Unlock()
	what := commandLabel(r.w)
	if r.w.Kind == WorkCommand {
		what = stateLabel(r.w.Command) + selectionArgs(r.w.Command)
	}
	body, err := templates.JobCancelled(templates.JobCancelledData{Command: "`" + strings.ReplaceAll(what, "`", "'") + "`",
		By: c.By, HeadSHA: c.HeadSHA, Ran: ran, Apply: isApply(r.w)})
	if err == nil && len(ids) > 0 {
		r.s.editComments(sctx, r.w.Repo, ids, body)
	}
	desc := "Cancelled by @" + c.By
	if c.By == "" {
		desc = "Cancelled: a newer push (" + short(c.HeadSHA) + ") is planned"
	}
	r.statusMu.Lock()
	var left []vcs.Status
	for _, st := range r.unsettled {
		left = append(left, st)
	}
	r.unsettled = nil
	r.statusMu.Unlock()
	for _, st := range left {
		st.State, st.Description = vcs.StatusError, desc
		if err := r.s.cfg.VCS.SetStatus(sctx, r.w.Repo, st); err != nil {
			r.log.Error("settle commit status of a cancelled job", "context", st.Context, "error", err)
		}
	}
}
