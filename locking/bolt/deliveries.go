package bolt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// DefaultDeliveryRetention is how long a Deliveries log remembers a delivery
// when DeliveryOptions.Retention is zero. GitHub redelivers a webhook for a
// few days, so a replay must be refused for at least that long.
const DefaultDeliveryRetention = 72 * time.Hour

// DefaultMaxDeliveries is how many deliveries a Deliveries log keeps at most
// when DeliveryOptions.Max is zero: several days of a busy installation.
const DefaultMaxDeliveries = 100_000

// deliveryPruneBatch bounds how many expired deliveries one Add deletes, so an
// Add after a long quiet spell stays cheap; one a call keeps up with the rate
// deliveries arrive at, so the backlog drains over the next few Adds.
const deliveryPruneBatch = 64

// Bucket layout of a delivery log, all under the top-level deliveriesBucket:
//
//	keys/  'i'+sha256(id) or 'd'+sha256(lower(digest)) -> time key of its entry
//	times/ time key (8-byte big-endian UnixNano, 8-byte sequence) -> the entry's keys, 33 bytes each
//	count  8-byte big-endian number of entries in times/
//
// times/ is in time order, so pruning reads from its start. Hashing gives every
// key a fixed size whatever the (unsigned, client-chosen) delivery ID holds, and
// the kind byte keeps an ID from ever matching a digest.
var (
	deliveriesBucket    = []byte("deliveries")
	deliveryKeysBucket  = []byte("keys")
	deliveryTimesBucket = []byte("times")
	deliveryCountKey    = []byte("count")
)

const (
	deliveryKeyLen  = 1 + sha256.Size
	deliveryTimeLen = 16
)

// errNoDeliveryKey is returned by Add when both the ID and the digest are empty:
// there is nothing to recognise a replay by, so the delivery is refused.
var errNoDeliveryKey = errors.New("no delivery id and no body digest")

// DeliveryOptions configures a Deliveries log.
type DeliveryOptions struct {
	// Retention is how long a delivery is remembered; DefaultDeliveryRetention
	// when zero or negative.
	Retention time.Duration
	// Max is how many deliveries are kept at most, the oldest dropped first;
	// DefaultMaxDeliveries when zero or negative.
	Max int
	// Now returns the current time; the store's clock when nil.
	Now func() time.Time
}

// Deliveries records the webhook deliveries already acted on, in the store's
// bbolt file beside the locks, so a replayed delivery is refused after a
// restart too. Every delivery is remembered by its ID and by the digest of its
// body, for Retention and at most Max of them. It is safe for concurrent use,
// and several Deliveries on one Store share one log.
type Deliveries struct {
	db        *bbolt.DB
	retention time.Duration
	max       int
	now       func() time.Time
}

// Deliveries returns the store's webhook delivery log. It uses the store's
// open database, so it works until the store is closed.
func (s *Store) Deliveries(opts DeliveryOptions) *Deliveries {
	d := &Deliveries{db: s.db, retention: opts.Retention, max: opts.Max, now: opts.Now}
	if d.retention <= 0 {
		d.retention = DefaultDeliveryRetention
	}
	if d.max <= 0 {
		d.max = DefaultMaxDeliveries
	}
	if d.now == nil {
		d.now = s.now
	}
	return d
}

// Add records a delivery by its ID (X-GitHub-Delivery; may be empty) and the hex
// SHA-256 of its body (compared without regard to case; may be empty for an
// internal event that has only an ID), and reports whether it is new: false when
// the ID or the digest was recorded within the retention. Only a new delivery is
// recorded, both keys in one transaction. With both empty it returns an error.
func (d *Deliveries) Add(ctx context.Context, id, digest string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("record delivery %q: %w", id, err)
	}
	keys := deliveryKeys(id, digest)
	if len(keys) == 0 {
		return false, fmt.Errorf("record delivery: %w", errNoDeliveryKey)
	}
	now := d.now()
	cutoff := timeNanos(now.Add(-d.retention))
	fresh := false
	err := d.db.Update(func(tx *bbolt.Tx) error {
		l, err := openDeliveryLog(tx)
		if err != nil {
			return err
		}
		if err := l.pruneExpired(cutoff, deliveryPruneBatch); err != nil {
			return err
		}
		for _, k := range keys {
			// An entry older than the retention that pruning has not reached
			// yet no longer counts.
			if tk := l.keys.Get(k); tk != nil && timeOf(tk) > cutoff {
				return nil
			}
		}
		for l.count >= uint64(d.max) {
			tk, _ := l.times.Cursor().First()
			if tk == nil {
				l.count = 0 // the count was off; the log is empty
				break
			}
			if err := l.deleteEntry(bytes.Clone(tk)); err != nil {
				return err
			}
		}
		for _, k := range keys {
			// An expired record of the same key still sits in an older entry.
			if err := l.detach(k); err != nil {
				return err
			}
		}
		seq, err := l.times.NextSequence()
		if err != nil {
			return fmt.Errorf("next delivery sequence: %w", err)
		}
		tk := make([]byte, deliveryTimeLen)
		binary.BigEndian.PutUint64(tk, timeNanos(now))
		binary.BigEndian.PutUint64(tk[8:], seq)
		if err := l.times.Put(tk, bytes.Join(keys, nil)); err != nil {
			return fmt.Errorf("put delivery time: %w", err)
		}
		for _, k := range keys {
			if err := l.keys.Put(k, tk); err != nil {
				return fmt.Errorf("put delivery key: %w", err)
			}
		}
		l.count++
		fresh = true
		return l.saveCount()
	})
	if err != nil {
		return false, fmt.Errorf("record delivery %q: %w", id, err)
	}
	return fresh, nil
}

// Remove forgets the ID and the digest, for a delivery that was not acted on
// after all, so GitHub's redelivery is. Errors are not returned: the caller
// can do nothing about them and the entry ages out anyway.
func (d *Deliveries) Remove(ctx context.Context, id, digest string) {
	keys := deliveryKeys(id, digest)
	if len(keys) == 0 {
		return
	}
	// Best effort even when ctx is done: the delivery was not acted on, and
	// keeping it would refuse GitHub's redelivery.
	_ = d.db.Update(func(tx *bbolt.Tx) error {
		l, err := openDeliveryLog(tx)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := l.detach(k); err != nil {
				return err
			}
		}
		return l.saveCount()
	})
}

// deliveryKeys returns the keys-bucket keys of a delivery, skipping empty parts.
func deliveryKeys(id, digest string) [][]byte {
	var keys [][]byte
	if id != "" {
		keys = append(keys, deliveryKey('i', id))
	}
	if digest != "" {
		keys = append(keys, deliveryKey('d', strings.ToLower(digest)))
	}
	return keys
}

func deliveryKey(kind byte, s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return append([]byte{kind}, sum[:]...)
}

// timeNanos is t as the unsigned big-endian-sortable number stored in time keys.
func timeNanos(t time.Time) uint64 {
	n := t.UnixNano()
	if n < 0 {
		return 0
	}
	return uint64(n)
}

// timeOf returns the time part of a time key.
func timeOf(tk []byte) uint64 {
	if len(tk) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(tk)
}

// deliveryLog is the delivery buckets within one write transaction.
type deliveryLog struct {
	root, keys, times *bbolt.Bucket
	count             uint64
}

func openDeliveryLog(tx *bbolt.Tx) (*deliveryLog, error) {
	root, err := tx.CreateBucketIfNotExists(deliveriesBucket)
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", deliveriesBucket, err)
	}
	l := &deliveryLog{root: root}
	if l.keys, err = root.CreateBucketIfNotExists(deliveryKeysBucket); err != nil {
		return nil, fmt.Errorf("create bucket %s/%s: %w", deliveriesBucket, deliveryKeysBucket, err)
	}
	if l.times, err = root.CreateBucketIfNotExists(deliveryTimesBucket); err != nil {
		return nil, fmt.Errorf("create bucket %s/%s: %w", deliveriesBucket, deliveryTimesBucket, err)
	}
	if v := root.Get(deliveryCountKey); v != nil {
		if len(v) != 8 {
			return nil, fmt.Errorf("decode delivery count: %d bytes", len(v))
		}
		l.count = binary.BigEndian.Uint64(v)
	}
	return l, nil
}

func (l *deliveryLog) saveCount() error {
	if err := l.root.Put(deliveryCountKey, binary.BigEndian.AppendUint64(nil, l.count)); err != nil {
		return fmt.Errorf("put delivery count: %w", err)
	}
	return nil
}

// pruneExpired deletes up to limit of the oldest entries recorded at or before cutoff.
func (l *deliveryLog) pruneExpired(cutoff uint64, limit int) error {
	var old [][]byte
	c := l.times.Cursor()
	// Collect first: deleting under a live cursor skips entries.
	for tk, _ := c.First(); tk != nil && len(old) < limit && timeOf(tk) <= cutoff; tk, _ = c.Next() {
		old = append(old, bytes.Clone(tk))
	}
	for _, tk := range old {
		if err := l.deleteEntry(tk); err != nil {
			return err
		}
	}
	return nil
}

// deleteEntry deletes the entry at time key tk and those of its keys that
// still point at it (a key recorded again later points at its newer entry).
func (l *deliveryLog) deleteEntry(tk []byte) error {
	v := l.times.Get(tk)
	if v == nil {
		return nil
	}
	for _, k := range splitKeys(bytes.Clone(v)) {
		if bytes.Equal(l.keys.Get(k), tk) {
			if err := l.keys.Delete(k); err != nil {
				return fmt.Errorf("delete delivery key: %w", err)
			}
		}
	}
	if err := l.times.Delete(tk); err != nil {
		return fmt.Errorf("delete delivery entry: %w", err)
	}
	if l.count > 0 {
		l.count--
	}
	return nil
}

// detach deletes key k, and its entry once no key points at that entry any more.
func (l *deliveryLog) detach(k []byte) error {
	tk := bytes.Clone(l.keys.Get(k))
	if tk == nil {
		return nil
	}
	if err := l.keys.Delete(k); err != nil {
		return fmt.Errorf("delete delivery key: %w", err)
	}
	v := l.times.Get(tk)
	if v == nil {
		return nil
	}
	for _, other := range splitKeys(v) {
		if bytes.Equal(l.keys.Get(other), tk) {
			return nil // the entry's other key is still recorded
		}
	}
	return l.deleteEntry(tk)
}

// splitKeys splits an entry's value into its keys.
func splitKeys(v []byte) [][]byte {
	var keys [][]byte
	for len(v) >= deliveryKeyLen {
		keys = append(keys, v[:deliveryKeyLen])
		v = v[deliveryKeyLen:]
	}
	return keys
}
