package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atollhq/atoll/locking"
)

var _ locking.Journal = (*Store)(nil)

// journalKey is the hash of unfinished jobs, by ID.
func (s *Store) journalKey() string { return s.prefix + "journal" }

// SaveJob stores j, replacing the record with the same ID. A zero Updated is
// set from the store's clock.
func (s *Store) SaveJob(ctx context.Context, j locking.JobRecord) error {
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
	err = s.write(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, s.journalKey(), j.ID, v)
		return nil
	})
	if err != nil {
		return fmt.Errorf("save job %s: %w", j.ID, err)
	}
	return nil
}

// DeleteJob removes the record of job id.
func (s *Store) DeleteJob(ctx context.Context, id string) error {
	err := s.write(ctx, func(p goredis.Pipeliner) error {
		p.HDel(ctx, s.journalKey(), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete job %s: %w", id, err)
	}
	return nil
}

// Jobs returns every record, oldest update first.
func (s *Store) Jobs(ctx context.Context) ([]locking.JobRecord, error) {
	all, err := s.client.HGetAll(ctx, s.journalKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	out := make([]locking.JobRecord, 0, len(all))
	for _, v := range all {
		var j locking.JobRecord
		if err := json.Unmarshal([]byte(v), &j); err != nil {
			return nil, fmt.Errorf("list jobs: decode: %w", err)
		}
		out = append(out, j)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Updated.Before(out[b].Updated) })
	return out, nil
}
