// Package bolt is Atoll's embedded lock store: locking.Store on a single bbolt
// database file. It is the default backend for a single replica. Locks and plan
// records survive restarts; every change is one bbolt transaction, so Acquire is
// all-or-nothing. bbolt takes an exclusive file lock, so only one process can
// have the file open at a time; New waits up to Options.Timeout for it.
package bolt

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/atollhq/atoll/locking"
)

// DefaultTimeout is how long New waits for another process to release the
// database file when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

var (
	locksBucket = []byte("locks")
	plansBucket = []byte("plans")
	// journalBucket holds unfinished jobs by ID.
	journalBucket = []byte("journal")
	// reposBucket holds the repositories seen, by ID.
	reposBucket = []byte("repos")
)

// Options configures a Store.
type Options struct {
	// Now returns the current time; time.Now when nil. Used for lock and plan times.
	Now func() time.Time
	// Timeout is how long New waits for the database file while another process
	// holds it; DefaultTimeout when zero.
	Timeout time.Duration
}

// Store is a locking.Store in a bbolt file. It is safe for concurrent use.
type Store struct {
	db   *bbolt.DB
	path string
	now  func() time.Time
}

var _ locking.Store = (*Store)(nil)

// New opens (creating if needed) the lock database at path.
func New(path string, opts Options) (*Store, error) {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open lock db %q: another process has it open (waited %s): %w", path, timeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open lock db %q: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{locksBucket, plansBucket, journalBucket, reposBucket, queuesBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open lock db %q: %w", path, err)
	}
	return &Store{db: db, path: path, now: now}, nil
}

// Close closes the database file, releasing it for other processes.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close lock db %q: %w", s.path, err)
	}
	return nil
}

// lockRecord is a lock's stored JSON form.
type lockRecord struct {
	Repo      string    `json:"repo"`
	Dir       string    `json:"dir"`
	Workspace string    `json:"workspace"`
	Pull      int       `json:"pull"`
	PullURL   string    `json:"pull_url,omitempty"`
	HeadSHA   string    `json:"head_sha,omitempty"`
	User      string    `json:"user,omitempty"`
	Project   string    `json:"project,omitempty"`
	Time      time.Time `json:"time"`
}

func toLockRecord(l locking.Lock) lockRecord {
	return lockRecord{
		Repo: l.Key.Repo, Dir: l.Key.Dir, Workspace: l.Key.Workspace,
		Pull: l.Pull, PullURL: l.PullURL, HeadSHA: l.HeadSHA, User: l.User, Project: l.Project,
		Time: l.Time.UTC(),
	}
}

func (r lockRecord) lock() locking.Lock {
	return locking.Lock{
		Key:  locking.Key{Repo: r.Repo, Dir: r.Dir, Workspace: r.Workspace},
		Pull: r.Pull, PullURL: r.PullURL, HeadSHA: r.HeadSHA, User: r.User, Project: r.Project,
		Time: r.Time,
	}
}

func decodeLock(v []byte) (locking.Lock, error) {
	var r lockRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return locking.Lock{}, fmt.Errorf("decode lock: %w", err)
	}
	return r.lock(), nil
}

func encodeLock(l locking.Lock) ([]byte, error) {
	b, err := json.Marshal(toLockRecord(l))
	if err != nil {
		return nil, fmt.Errorf("encode lock: %w", err)
	}
	return b, nil
}
