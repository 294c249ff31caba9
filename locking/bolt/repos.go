package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/atollhq/atoll/locking"
)

var _ locking.RepoRegistry = (*Store)(nil)

// SaveRepo stores r, replacing the record with the same ID. A zero Seen is
// set from the store's clock.
func (s *Store) SaveRepo(ctx context.Context, r locking.RepoRecord) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("save repo %s: %w", r.ID, err)
	}
	if r.ID == "" {
		return fmt.Errorf("save repo: empty id")
	}
	if r.Seen.IsZero() {
		r.Seen = s.now()
	}
	r.Seen = r.Seen.UTC()
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("save repo %s: encode: %w", r.ID, err)
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(reposBucket).Put([]byte(r.ID), v) }); err != nil {
		return fmt.Errorf("save repo %s: %w", r.ID, err)
	}
	return nil
}

// Repos returns every record, sorted by ID (bbolt keeps keys sorted).
func (s *Store) Repos(ctx context.Context) ([]locking.RepoRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list repos: %w", err)
	}
	var out []locking.RepoRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(reposBucket).ForEach(func(_, v []byte) error {
			var r locking.RepoRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode repo: %w", err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list repos: %w", err)
	}
	return out, nil
}

// DeleteRepo forgets repository id.
func (s *Store) DeleteRepo(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete repo %s: %w", id, err)
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(reposBucket).Delete([]byte(id)) }); err != nil {
		return fmt.Errorf("delete repo %s: %w", id, err)
	}
	return nil
}
