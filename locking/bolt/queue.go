package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/atollhq/atoll/locking"
)

var _ locking.LockQueue = (*Store)(nil)

// queuesBucket holds, per lock key string, the JSON list of its queue.
var queuesBucket = []byte("queues")

// queueRecord is one stored queue entry.
type queueRecord struct {
	Pull    int       `json:"pull"`
	PullURL string    `json:"pull_url,omitempty"`
	User    string    `json:"user,omitempty"`
	HeadSHA string    `json:"head_sha,omitempty"`
	Project string    `json:"project,omitempty"`
	Time    time.Time `json:"time"`
	Comment int64     `json:"comment_id,omitempty"`
}

func (r queueRecord) entry() locking.QueueEntry {
	return locking.QueueEntry{Pull: r.Pull, PullURL: r.PullURL, User: r.User, HeadSHA: r.HeadSHA, Project: r.Project, Time: r.Time,
		CommentID: r.Comment}
}

// queueBucket returns the queues bucket, creating it in a write transaction
// (a database made before queues existed has none), nil in a read one.
func queueBucket(tx *bbolt.Tx) (*bbolt.Bucket, error) {
	if b := tx.Bucket(queuesBucket); b != nil || !tx.Writable() {
		return b, nil
	}
	b, err := tx.CreateBucket(queuesBucket)
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", queuesBucket, err)
	}
	return b, nil
}

func readQueue(b *bbolt.Bucket, id []byte) ([]queueRecord, error) {
	if b == nil {
		return nil, nil
	}
	v := b.Get(id)
	if v == nil {
		return nil, nil
	}
	var q []queueRecord
	if err := json.Unmarshal(v, &q); err != nil {
		return nil, fmt.Errorf("decode queue %s: %w", id, err)
	}
	return q, nil
}

func writeQueue(b *bbolt.Bucket, id []byte, q []queueRecord) error {
	if len(q) == 0 {
		return b.Delete(id)
	}
	v, err := json.Marshal(q)
	if err != nil {
		return fmt.Errorf("encode queue %s: %w", id, err)
	}
	return b.Put(id, v)
}

// Enqueue adds e to the queue of key, or updates pull's entry in place.
func (s *Store) Enqueue(ctx context.Context, key locking.Key, e locking.QueueEntry) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("enqueue #%d for %s: %w", e.Pull, key, err)
	}
	if err := locking.ValidateKey(key); err != nil {
		return 0, fmt.Errorf("enqueue #%d for %s: %w", e.Pull, key, err)
	}
	if e.Pull <= 0 {
		return 0, fmt.Errorf("enqueue for %s: pull %d is not a pull request number", key, e.Pull)
	}
	pos := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := queueBucket(tx)
		if err != nil {
			return err
		}
		id := []byte(key.String())
		q, err := readQueue(b, id)
		if err != nil {
			return err
		}
		rec := queueRecord{Pull: e.Pull, PullURL: e.PullURL, User: e.User, HeadSHA: e.HeadSHA, Project: e.Project, Time: e.Time.UTC(),
			Comment: e.CommentID}
		if rec.Time.IsZero() {
			rec.Time = s.now().UTC()
		}
		i := slices.IndexFunc(q, func(r queueRecord) bool { return r.Pull == e.Pull })
		if i >= 0 {
			rec.Time = q[i].Time
			if rec.Comment == 0 {
				rec.Comment = q[i].Comment
			}
			q[i] = rec
		} else {
			q = append(q, rec)
			i = len(q) - 1
		}
		pos = i + 1
		return writeQueue(b, id, q)
	})
	if err != nil {
		return 0, fmt.Errorf("enqueue #%d for %s: %w", e.Pull, key, err)
	}
	return pos, nil
}

// Queue returns the entries waiting for key.
func (s *Store) Queue(ctx context.Context, key locking.Key) ([]locking.QueueEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read queue of %s: %w", key, err)
	}
	out := []locking.QueueEntry{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		q, err := readQueue(tx.Bucket(queuesBucket), []byte(key.String()))
		for _, r := range q {
			out = append(out, r.entry())
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read queue of %s: %w", key, err)
	}
	return out, nil
}

// Queues returns every non-empty queue of repo ("" for all), sorted by key.
func (s *Store) Queues(ctx context.Context, repo string) ([]locking.KeyQueue, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	out := []locking.KeyQueue{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(queuesBucket)
		if b == nil {
			return nil
		}
		return scanRepo(b, repo, func(k, _ []byte) error {
			key, err := locking.ParseKey(string(k))
			if err != nil {
				return err
			}
			if repo != "" && key.Repo != repo {
				return nil
			}
			q, err := readQueue(b, k)
			if err != nil || len(q) == 0 {
				return err
			}
			kq := locking.KeyQueue{Key: key}
			for _, r := range q {
				kq.Entries = append(kq.Entries, r.entry())
			}
			out = append(out, kq)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	return out, nil
}

// Dequeue removes pull from the queue of key.
func (s *Store) Dequeue(ctx context.Context, key locking.Key, pull int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dequeue #%d from %s: %w", pull, key, err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := queueBucket(tx)
		if err != nil {
			return err
		}
		id := []byte(key.String())
		q, err := readQueue(b, id)
		if err != nil {
			return err
		}
		left := slices.DeleteFunc(q, func(r queueRecord) bool { return r.Pull == pull })
		return writeQueue(b, id, left)
	})
	if err != nil {
		return fmt.Errorf("dequeue #%d from %s: %w", pull, key, err)
	}
	return nil
}

// DequeuePull removes pull from every queue of repo.
func (s *Store) DequeuePull(ctx context.Context, repo string, pull int) ([]locking.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dequeue %s#%d: %w", repo, pull, err)
	}
	if repo == "" {
		return nil, fmt.Errorf("dequeue #%d: no repo", pull)
	}
	out := []locking.Key{}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := queueBucket(tx)
		if err != nil {
			return err
		}
		type change struct {
			id []byte
			q  []queueRecord
		}
		var changes []change
		err = scanRepo(b, repo, func(k, _ []byte) error {
			key, err := locking.ParseKey(string(k))
			if err != nil || key.Repo != repo {
				return err
			}
			q, err := readQueue(b, k)
			if err != nil {
				return err
			}
			n := len(q)
			q = slices.DeleteFunc(q, func(r queueRecord) bool { return r.Pull == pull })
			if len(q) != n {
				changes = append(changes, change{bytes.Clone(k), q})
				out = append(out, key)
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Written after the scan: changing the bucket under a live cursor
		// skips entries.
		for _, c := range changes {
			if err := writeQueue(b, c.id, c.q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dequeue %s#%d: %w", repo, pull, err)
	}
	slices.SortFunc(out, func(a, b locking.Key) int { return strings.Compare(a.String(), b.String()) })
	return out, nil
}

// Handover gives the free lock at key to the first PR in its queue, in one
// transaction.
func (s *Store) Handover(ctx context.Context, key locking.Key) (locking.Lock, bool, error) {
	if err := ctx.Err(); err != nil {
		return locking.Lock{}, false, fmt.Errorf("hand over lock %s: %w", key, err)
	}
	var out locking.Lock
	ok := false
	err := s.db.Update(func(tx *bbolt.Tx) error {
		id := []byte(key.String())
		if tx.Bucket(locksBucket).Get(id) != nil {
			return nil
		}
		b, err := queueBucket(tx)
		if err != nil {
			return err
		}
		q, err := readQueue(b, id)
		if err != nil || len(q) == 0 {
			return err
		}
		first := q[0]
		out = locking.Lock{Key: key, Pull: first.Pull, PullURL: first.PullURL, HeadSHA: first.HeadSHA, User: first.User,
			Project: first.Project, Time: s.now().UTC()}
		v, err := encodeLock(out)
		if err != nil {
			return err
		}
		if err := tx.Bucket(locksBucket).Put(id, v); err != nil {
			return fmt.Errorf("put lock %s: %w", key, err)
		}
		ok = true
		return writeQueue(b, id, q[1:])
	})
	if err != nil {
		return locking.Lock{}, false, fmt.Errorf("hand over lock %s: %w", key, err)
	}
	return out, ok, nil
}
