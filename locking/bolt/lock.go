package bolt

import (
	"bytes"
	"context"
	"fmt"
	"net/url"

	bbolt "go.etcd.io/bbolt"

	"github.com/atollhq/atoll/locking"
)

// Acquire takes every lock in locks or none, in one transaction. A lock the same
// PR already holds is refreshed (HeadSHA, PullURL, User, Project) and keeps its
// Time; a new lock gets its Time from the store's clock unless the caller set one.
func (s *Store) Acquire(ctx context.Context, locks []locking.Lock) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("acquire locks: %w", err)
	}
	if err := locking.ValidateLocks(locks); err != nil {
		return fmt.Errorf("acquire locks: %w", err)
	}
	if len(locks) == 0 {
		return nil
	}
	now := s.now().UTC()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(locksBucket)
		// Check every lock before writing any, so the first conflict in the
		// caller's order is the one reported.
		next := make([]locking.Lock, len(locks))
		for i, l := range locks {
			id := []byte(l.Key.String())
			if v := b.Get(id); v != nil {
				held, err := decodeLock(v)
				if err != nil {
					return fmt.Errorf("lock %s: %w", l.Key, err)
				}
				if held.Pull != l.Pull {
					return &locking.HeldError{Held: held}
				}
				l.Time = held.Time
			} else if l.Time.IsZero() {
				l.Time = now
			}
			next[i] = l
		}
		for _, l := range next {
			v, err := encodeLock(l)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(l.Key.String()), v); err != nil {
				return fmt.Errorf("put lock %s: %w", l.Key, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("acquire locks: %w", err)
	}
	return nil
}

// Release releases the lock at key if pull holds it, or whoever holds it when
// pull is 0. It returns the released lock, or the holder with ErrNotOwner.
func (s *Store) Release(ctx context.Context, key locking.Key, pull int) (locking.Lock, error) {
	if err := ctx.Err(); err != nil {
		return locking.Lock{}, fmt.Errorf("release lock %s: %w", key, err)
	}
	var out locking.Lock
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(locksBucket)
		id := []byte(key.String())
		v := b.Get(id)
		if v == nil {
			return locking.ErrNotFound
		}
		held, err := decodeLock(v)
		if err != nil {
			return err
		}
		out = held
		if pull != 0 && held.Pull != pull {
			return locking.ErrNotOwner
		}
		return b.Delete(id)
	})
	if err != nil {
		return out, fmt.Errorf("release lock %s: %w", key, err)
	}
	return out, nil
}

// ReleasePull releases every lock pull holds in repo and returns them sorted by key.
func (s *Store) ReleasePull(ctx context.Context, repo string, pull int) ([]locking.Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("release locks of %s#%d: %w", repo, pull, err)
	}
	out := []locking.Lock{}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(locksBucket)
		var ids [][]byte
		err := scanRepo(b, repo, func(k, v []byte) error {
			l, err := decodeLock(v)
			if err != nil {
				return err
			}
			if l.Pull == pull && l.Key.Repo == repo {
				ids = append(ids, bytes.Clone(k))
				out = append(out, l)
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Delete after the scan: deleting under a live cursor skips entries.
		for _, id := range ids {
			if err := b.Delete(id); err != nil {
				return fmt.Errorf("delete lock %s: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("release locks of %s#%d: %w", repo, pull, err)
	}
	return out, nil
}

// List returns the locks passing f, sorted by key string.
func (s *Store) List(ctx context.Context, f locking.Filter) ([]locking.Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	out := []locking.Lock{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return scanRepo(tx.Bucket(locksBucket), f.Repo, func(_, v []byte) error {
			l, err := decodeLock(v)
			if err != nil {
				return err
			}
			if f.Match(l) {
				out = append(out, l)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	return out, nil
}

// Get returns the lock at key or an error wrapping locking.ErrNotFound.
func (s *Store) Get(ctx context.Context, key locking.Key) (locking.Lock, error) {
	if err := ctx.Err(); err != nil {
		return locking.Lock{}, fmt.Errorf("get lock %s: %w", key, err)
	}
	var out locking.Lock
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(locksBucket).Get([]byte(key.String()))
		if v == nil {
			return locking.ErrNotFound
		}
		var err error
		out, err = decodeLock(v)
		return err
	})
	if err != nil {
		return locking.Lock{}, fmt.Errorf("get lock %s: %w", key, err)
	}
	return out, nil
}

// scanRepo calls fn for every entry of b in key order, only those of repo
// unless repo is empty. Keys start with the query-escaped repo and "|", so a
// repo's entries are one contiguous range.
func scanRepo(b *bbolt.Bucket, repo string, fn func(k, v []byte) error) error {
	var prefix []byte
	if repo != "" {
		prefix = []byte(url.QueryEscape(repo) + "|")
	}
	return scanPrefix(b, prefix, fn)
}

// scanPrefix calls fn for every entry of b whose key starts with prefix.
func scanPrefix(b *bbolt.Bucket, prefix []byte, fn func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}
