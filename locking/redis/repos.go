package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/atollhq/atoll/locking"
)

var _ locking.RepoRegistry = (*Store)(nil)

// reposKey is the hash of repositories seen, by ID.
func (s *Store) reposKey() string { return s.prefix + "repos" }

// SaveRepo stores r, replacing the record with the same ID. A zero Seen is
// set from the store's clock.
func (s *Store) SaveRepo(ctx context.Context, r locking.RepoRecord) error {
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
	if err := s.client.HSet(ctx, s.reposKey(), r.ID, v).Err(); err != nil {
		return fmt.Errorf("save repo %s: %w", r.ID, err)
	}
	return nil
}

// Repos returns every record, sorted by ID.
func (s *Store) Repos(ctx context.Context) ([]locking.RepoRecord, error) {
	all, err := s.client.HGetAll(ctx, s.reposKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list repos: %w", err)
	}
	out := make([]locking.RepoRecord, 0, len(all))
	for _, v := range all {
		var r locking.RepoRecord
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, fmt.Errorf("list repos: decode: %w", err)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out, nil
}

// DeleteRepo forgets repository id.
func (s *Store) DeleteRepo(ctx context.Context, id string) error {
	if err := s.client.HDel(ctx, s.reposKey(), id).Err(); err != nil {
		return fmt.Errorf("delete repo %s: %w", id, err)
	}
	return nil
}
