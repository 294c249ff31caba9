package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

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
}

// PullKey names a PR for serialisation and logs: "host/owner/name#num".
func (w Work) PullKey() string { return fmt.Sprintf("%s#%d", w.Repo.ID(), w.Pull.Num) }

// newJobID returns a random 16-hex-digit job ID.
func newJobID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// localDispatcher runs work in goroutines of this process, at most limit at once.
type localDispatcher struct {
	ctx  context.Context
	sem  chan struct{}
	run  func(context.Context, Work)
	wg   sync.WaitGroup // owns every goroutine Dispatch starts
	mu   sync.Mutex     // guards done
	done bool
}

func newLocalDispatcher(ctx context.Context, limit int, run func(context.Context, Work)) *localDispatcher {
	return &localDispatcher{ctx: ctx, sem: make(chan struct{}, limit), run: run}
}

// Dispatch starts w in the background. The bound applies to running work; queued
// work waits for a slot. It fails once Drain has begun.
func (d *localDispatcher) Dispatch(_ context.Context, w Work) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return fmt.Errorf("dispatch %s: server is shutting down", w.Kind)
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		select {
		case d.sem <- struct{}{}:
			defer func() { <-d.sem }()
		case <-d.ctx.Done():
			// Shut down before a slot freed: run sees the cancelled context and
			// only reports on the PR that the work was dropped.
		}
		d.run(d.ctx, w)
	}()
	return nil
}

// Drain refuses new work and waits for running work or ctx.
func (d *localDispatcher) Drain(ctx context.Context) error {
	d.mu.Lock()
	d.done = true
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

// Wait waits for every dispatched goroutine to return, or for timeout. Shutdown
// calls it after cancelling work, so cancelled jobs can report on their PRs.
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
