package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	bbolt "go.etcd.io/bbolt"

	"github.com/atollhq/atoll/locking"
)

var _ locking.Journal = (*Store)(nil)

// SaveJob stores j, replacing the record with the same ID. A zero Updated is
// set from the store's clock.
func (s *Store) SaveJob(ctx context.Context, j locking.JobRecord) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("save job %s: %w", j.ID, err)
	}
	if j.ID == "" {
		return fmt.Errorf("save job: empty id")
	}
	if j.Updated.IsZero() {
		j.Updated = s.now()
	}
	j.Updated = j.Updated.UTC()
	v, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("save job %s: encode: %w", j.ID, err)
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(journalBucket).Put([]byte(j.ID), v) }); err != nil {
		return fmt.Errorf("save job %s: %w", j.ID, err)
	}
	return nil
}

// DeleteJob removes the record of job id.
func (s *Store) DeleteJob(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete job %s: %w", id, err)
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(journalBucket).Delete([]byte(id)) }); err != nil {
		return fmt.Errorf("delete job %s: %w", id, err)
	}
	return nil
}

// Jobs returns every record, oldest update first.
func (s *Store) Jobs(ctx context.Context) ([]locking.JobRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	var out []locking.JobRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(journalBucket).ForEach(func(_, v []byte) error {
			var j locking.JobRecord
			if err := json.Unmarshal(v, &j); err != nil {
				return fmt.Errorf("decode job: %w", err)
			}
			out = append(out, j)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Updated.Before(out[b].Updated) })
	return out, nil
}
