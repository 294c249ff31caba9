package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/atollhq/atoll/locking"
)

var _ locking.AuditLog = (*Store)(nil)

// auditBucket holds the audit trail: key = 8-byte big-endian UnixNano and
// the bucket's 8-byte sequence (time order, unique), value = JSON.
var auditBucket = []byte("audit")

func auditKey(t time.Time, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

// AppendAudit adds e.
func (s *Store) AppendAudit(ctx context.Context, e locking.AuditEvent) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = e.Time.UTC()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(auditBucket)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		k := auditKey(e.Time, seq)
		e.ID = hex.EncodeToString(k)
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return b.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	return nil
}

// QueryAudit walks the trail backwards from the cursor (or q.To, or the end).
func (s *Store) QueryAudit(ctx context.Context, q locking.AuditQuery) ([]locking.AuditEvent, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("query audit: %w", err)
	}
	var start []byte
	if q.Cursor != "" {
		k, err := hex.DecodeString(q.Cursor)
		if err != nil || len(k) != 16 {
			return nil, "", fmt.Errorf("query audit: bad cursor %q", q.Cursor)
		}
		start = k
	}
	limit := q.PageSize()
	var out []locking.AuditEvent
	next := ""
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(auditBucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		switch {
		case start != nil:
			// Seek finds the cursor's entry or the one after it; the page
			// starts just before.
			if k, _ = c.Seek(start); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		case !q.To.IsZero():
			if k, _ = c.Seek(auditKey(q.To.Add(time.Nanosecond), 0)); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		default:
			k, v = c.Last()
		}
		var prev []byte
		for scanned := 0; k != nil; k, v = c.Prev() {
			var e locking.AuditEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode audit entry: %w", err)
			}
			if !q.From.IsZero() && e.Time.Before(q.From) {
				return nil // older ones are older still
			}
			if scanned++; scanned > locking.MaxAuditScan && prev != nil {
				next = hex.EncodeToString(prev) // the page goes on after the last entry read
				return nil
			}
			prev = append(prev[:0], k...)
			if !q.Match(e) {
				continue
			}
			if len(out) == limit {
				next = out[len(out)-1].ID
				return nil
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("query audit: %w", err)
	}
	return out, next, nil
}

// PruneAudit deletes entries older than before.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	n := 0
	limit := auditKey(before, 0)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(auditBucket)
		if b == nil {
			return nil
		}
		var old [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k, limit) < 0; k, _ = c.Next() {
			old = append(old, append([]byte(nil), k...))
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("prune audit: %w", err)
	}
	return n, nil
}
