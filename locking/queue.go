package locking

import (
	"context"
	"time"
)

// QueueEntry is a pull request waiting for a lock another pull request holds:
// its plan was queued instead of refused, and runs when the lock is handed
// over to it.
type QueueEntry struct {
	// Pull is the number of the waiting PR.
	Pull int
	// PullURL links to the PR, for pages.
	PullURL string
	// User is the login whose plan was queued.
	User string
	// HeadSHA is the PR head the queued plan was for (the plan that runs on
	// handover plans the PR's head at that time).
	HeadSHA string
	// Project is the project name, "" when the project has none; the lock
	// handed over carries it.
	Project string
	// Time is when the PR first joined the queue.
	Time time.Time
	// CommentID is the comment that said the plan is queued, edited into
	// the plan when it runs; 0 when none.
	CommentID int64
}

// KeyQueue is the queue of one lock.
type KeyQueue struct {
	Key Key
	// Entries are in queue order: the first is handed the lock next.
	Entries []QueueEntry
}

// Position returns pull's 1-based position in q, 0 when it is not queued.
func (q KeyQueue) Position(pull int) int {
	for i, e := range q.Entries {
		if e.Pull == pull {
			return i + 1
		}
	}
	return 0
}

// LockQueue keeps, per lock, the pull requests waiting for it, first come
// first served. Queues live in the lock store, so they survive restarts and
// are shared by replicas.
type LockQueue interface {
	// Enqueue adds e to the queue of key and returns its 1-based position.
	// A PR queued already keeps its place (and its Time); its entry's
	// PullURL, User, HeadSHA and Project are updated, and its CommentID
	// unless e's is 0. A zero Time is set from the store's clock.
	Enqueue(ctx context.Context, key Key, e QueueEntry) (int, error)
	// Queue returns the entries waiting for key, in order (none: empty).
	Queue(ctx context.Context, key Key) ([]QueueEntry, error)
	// Queues returns every non-empty queue of repo (every repo when ""),
	// sorted by key.
	Queues(ctx context.Context, repo string) ([]KeyQueue, error)
	// Dequeue removes pull from the queue of key; removing none is no error.
	Dequeue(ctx context.Context, key Key, pull int) error
	// DequeuePull removes pull from every queue of repo and returns the
	// keys it left, sorted.
	DequeuePull(ctx context.Context, repo string, pull int) ([]Key, error)
	// Handover gives the lock at key to the first PR in its queue, in one
	// atomic step: the entry leaves the queue and the PR holds the lock
	// (Time from the store's clock). ok is false, and nothing changes, when
	// the lock is held or the queue is empty.
	Handover(ctx context.Context, key Key) (l Lock, ok bool, err error)
}
