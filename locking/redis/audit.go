package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atollhq/atoll/locking"
)

var _ locking.AuditLog = (*Store)(nil)

// auditKey is the audit trail: a Redis stream whose entry IDs (milliseconds
// and a sequence) order the entries and serve as cursors.
func (s *Store) auditKey() string { return s.prefix + "audit" }

const auditField = "e"

// AppendAudit adds e.
func (s *Store) AppendAudit(ctx context.Context, e locking.AuditEvent) error {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = e.Time.UTC()
	e.ID = ""
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	// The entry's ID carries its time, so that time ranges and pruning can
	// use IDs; a replica whose clock is behind the last entry's gets the
	// next ID Redis picks instead (IDs must grow).
	args := &goredis.XAddArgs{Stream: s.auditKey(), ID: strconv.FormatInt(e.Time.UnixMilli(), 10) + "-*", Values: map[string]any{auditField: v}}
	err = s.client.XAdd(ctx, args).Err()
	if err != nil && strings.Contains(err.Error(), "equal or smaller") {
		args.ID = "*"
		err = s.client.XAdd(ctx, args).Err()
	}
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	return nil
}

// QueryAudit reads the stream backwards in batches, from the cursor (or
// q.To, or the end), filtering as it goes.
func (s *Store) QueryAudit(ctx context.Context, q locking.AuditQuery) ([]locking.AuditEvent, string, error) {
	end := "+"
	switch {
	case q.Cursor != "":
		end = "(" + q.Cursor // exclusive
	case !q.To.IsZero():
		end = strconv.FormatInt(q.To.UnixMilli(), 10)
	}
	start := "-"
	if !q.From.IsZero() {
		start = strconv.FormatInt(q.From.UnixMilli(), 10)
	}
	limit := q.PageSize()
	var out []locking.AuditEvent
	scanned := 0
	for {
		msgs, err := s.client.XRevRangeN(ctx, s.auditKey(), end, start, 500).Result()
		if err != nil {
			return nil, "", fmt.Errorf("query audit: %w", err)
		}
		for _, m := range msgs {
			scanned++
			var e locking.AuditEvent
			if err := json.Unmarshal([]byte(fmt.Sprint(m.Values[auditField])), &e); err != nil {
				return nil, "", fmt.Errorf("query audit: decode %s: %w", m.ID, err)
			}
			e.ID = m.ID
			if q.Match(e) {
				if len(out) == limit {
					return out, out[len(out)-1].ID, nil
				}
				out = append(out, e)
			}
			if scanned >= locking.MaxAuditScan {
				return out, m.ID, nil
			}
		}
		if len(msgs) < 500 {
			return out, "", nil
		}
		end = "(" + msgs[len(msgs)-1].ID
	}
}

// PruneAudit drops entries older than before (XTRIM MINID).
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	n, err := s.client.XTrimMinID(ctx, s.auditKey(), strconv.FormatInt(before.UnixMilli(), 10)).Result()
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	return int(n), nil
}
