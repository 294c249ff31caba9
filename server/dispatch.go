package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/vcs"
)

// Work kinds.
const (
	WorkAutoplan = "autoplan"
	WorkCommand  = "command"
	WorkClose    = "close"
)

// Work is one unit of background work for a pull request. It is plain data so a
// shared dispatcher can queue it for another replica.
type Work struct {
	// ID is the job ID, used in the job page URL and statuses.
	ID   string
	Kind string
	Repo vcs.Repo
	// Pull carries what the webhook said about the PR (only Num for comments).
	Pull vcs.PullRequest
	// Command is set for WorkCommand; CommandErr holds a malformed command's message.
	Command    Command
	CommandErr string
	// User is the login that caused the work.
	User     string
	Queued   time.Time
	Delivery string
	// BodyDigest is the hex SHA-256 of the webhook's body, for the replay
	// log (set only while the webhook waits in the spool).
	BodyDigest string `json:",omitempty"`
	// Handover is set on the autoplan of a pull request whose queued plan
	// runs now: a lock it waited for was handed over to it.
	Handover *Handover `json:",omitempty"`
}

// PullKey names a PR for serialisation and logs: "host/owner/name#num".
func (w Work) PullKey() string { return fmt.Sprintf("%s#%d", w.Repo.ID(), w.Pull.Num) }

// newJobID returns a random 16-hex-digit job ID.
func newJobID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// localQueueLen bounds the work waiting in memory for one of this process's
// workers. Past it, work waits in the job journal (the store), and a feeder
// brings it in, oldest first, as the queue empties: a burst of webhooks costs
// journal records, not goroutines or memory.
const localQueueLen = 256

// localJournal is the part of the job journal the local dispatcher uses for
// work that does not fit its queue.
type localJournal interface {
	SaveJob(ctx context.Context, j locking.JobRecord) error
	Jobs(ctx context.Context) ([]locking.JobRecord, error)
}

// localDispatcher runs work in a fixed number of worker goroutines of this
// process, from a bounded queue; what does not fit waits in the journal as
// journalWaiting until the feeder moves it into the queue.
type localDispatcher struct {
	ctx     context.Context
	run     func(context.Context, Work)
	journal localJournal // nil: a full queue refuses work
	now     func() time.Time
	log     *slog.Logger
	// since is when the dispatcher started: waiting records older than it
	// are an earlier process's, which Recover runs again (with new IDs).
	since time.Time
	queue chan Work
	kick  chan struct{}  // holds one token: the feeder should look at the journal
	stop  chan struct{}  // closed by Drain: the feeder returns
	wg    sync.WaitGroup // owns the workers and the feeder

	feedMu  sync.Mutex // held by a feeder pass and while a finished job's ID is forgotten, so a pass never runs a job that just ended
	mu      sync.Mutex // guards done, ids, backlog, and sends on and the close of queue
	done    bool
	ids     map[string]bool // work in the queue or running
	backlog bool            // work may wait in the journal
}

// newLocalDispatcher starts workers goroutines (the bound on jobs running at
// once) and the feeder; they end after Drain.
func newLocalDispatcher(ctx context.Context, workers, queueLen int, journal localJournal, now func() time.Time, log *slog.Logger, run func(context.Context, Work)) *localDispatcher {
	d := &localDispatcher{ctx: ctx, run: run, journal: journal, now: now, log: log, since: now(),
		queue: make(chan Work, queueLen), kick: make(chan struct{}, 1), stop: make(chan struct{}), ids: map[string]bool{}}
	d.wg.Add(workers + 1)
	for range workers {
		go d.work()
	}
	go d.feed()
	return d
}

// Dispatch queues w. When the queue is full it saves w in the journal, where
// it waits for the feeder. It fails once Drain has begun, or if w can neither
// be queued nor journaled.
func (d *localDispatcher) Dispatch(ctx context.Context, w Work) error {
	d.mu.Lock()
	if d.done {
		d.mu.Unlock()
		return fmt.Errorf("dispatch %s: server is shutting down", w.Kind)
	}
	if d.ids[w.ID] { // the feeder found its journal record first
		d.mu.Unlock()
		return nil
	}
	select {
	case d.queue <- w:
		d.ids[w.ID] = true
		d.mu.Unlock()
		return nil
	default:
	}
	d.mu.Unlock()
	if d.journal == nil {
		return fmt.Errorf("dispatch %s: %d jobs are waiting already", w.Kind, cap(d.queue))
	}
	rec := journalRecord(w, journalWaiting)
	rec.Updated = d.now()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	if err := d.journal.SaveJob(sctx, rec); err != nil {
		return fmt.Errorf("dispatch %s: queue full and journal failed: %w", w.Kind, err)
	}
	d.mu.Lock()
	d.backlog = true
	d.mu.Unlock()
	d.poke()
	return nil
}

func (d *localDispatcher) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// work runs queued work until Drain closes the queue. After shutdown began,
// run sees the cancelled context and only reports on the PR that the work was
// dropped.
func (d *localDispatcher) work() {
	defer d.wg.Done()
	for w := range d.queue {
		d.run(d.ctx, w)
		// run has deleted the job's journal record; only now may a
		// feeder pass that read it earlier see the ID as unknown.
		d.feedMu.Lock()
		d.mu.Lock()
		delete(d.ids, w.ID)
		backlog := d.backlog
		d.mu.Unlock()
		d.feedMu.Unlock()
		if backlog {
			d.poke()
		}
	}
}

// feedEvery is how often the feeder looks at the journal while work waits
// there, besides each time a worker frees up.
const feedEvery = 5 * time.Second

// feed moves waiting journal records into the queue while it has room.
func (d *localDispatcher) feed() {
	defer d.wg.Done()
	t := time.NewTicker(feedEvery)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-d.ctx.Done():
			return
		case <-d.kick:
		case <-t.C:
			d.mu.Lock()
			backlog := d.backlog
			d.mu.Unlock()
			if !backlog {
				continue
			}
		}
		d.feedOnce()
	}
}

// feedOnce queues the oldest waiting journal records of this process that are
// not queued or running yet, as many as fit.
func (d *localDispatcher) feedOnce() {
	if d.journal == nil {
		return
	}
	d.feedMu.Lock()
	defer d.feedMu.Unlock()
	d.mu.Lock()
	room := cap(d.queue) - len(d.queue)
	d.mu.Unlock()
	if room == 0 {
		return // a worker that frees up pokes again
	}
	ctx, cancel := context.WithTimeout(d.ctx, journalTimeout)
	defer cancel()
	recs, err := d.journal.Jobs(ctx) // oldest update first
	if err != nil {
		d.log.Error("read journal for waiting jobs", "error", err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return
	}
	left := false
	for _, rec := range recs {
		if rec.State != journalWaiting || rec.Updated.Before(d.since) || d.ids[rec.ID] {
			continue
		}
		var w Work
		if err := json.Unmarshal(rec.Work, &w); err != nil || w.ID != rec.ID {
			d.log.Error("waiting journal record cannot be read; left for Recover", "job", rec.ID, "error", err)
			continue
		}
		select {
		case d.queue <- w:
			d.ids[w.ID] = true
			continue
		default:
		}
		// Full: stop here, so waiting work keeps its order when a worker
		// makes room before the next record.
		left = true
		break
	}
	d.backlog = left
}

// Drain refuses new work, lets the workers finish what is queued, and waits
// for them or ctx. Work still waiting in the journal stays there: Recover runs
// it at the next start.
func (d *localDispatcher) Drain(ctx context.Context) error {
	d.mu.Lock()
	if !d.done {
		d.done = true
		close(d.queue)
		close(d.stop)
	}
	d.mu.Unlock()
	finished := make(chan struct{})
	go func() { d.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("drain jobs: %w", ctx.Err())
	}
}

// Wait waits for the workers to return, or for timeout. Shutdown calls it
// after Drain and cancelling work, so cancelled jobs can report on their PRs.
func (d *localDispatcher) Wait(timeout time.Duration) bool {
	finished := make(chan struct{})
	go func() { d.wg.Wait(); close(finished) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-finished:
		return true
	case <-t.C:
		return false
	}
}

// localPullMutex serialises work per PR inside one process.
type localPullMutex struct {
	mu    sync.Mutex // guards locks
	locks map[string]*pullLock
}

type pullLock struct {
	ch   chan struct{} // holds one token while free
	refs int
}

func newLocalPullMutex() *localPullMutex { return &localPullMutex{locks: map[string]*pullLock{}} }

func (m *localPullMutex) LockPull(ctx context.Context, key string) (func(), error) {
	m.mu.Lock()
	l, ok := m.locks[key]
	if !ok {
		l = &pullLock{ch: make(chan struct{}, 1)}
		l.ch <- struct{}{}
		m.locks[key] = l
	}
	l.refs++
	m.mu.Unlock()
	release := func() {
		m.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(m.locks, key)
		}
		m.mu.Unlock()
	}
	select {
	case <-l.ch:
		return func() { l.ch <- struct{}{}; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
