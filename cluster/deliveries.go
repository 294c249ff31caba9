package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// DefaultDeliveryRetention is how long NewDeliveries remembers a delivery when
// its ttl is zero or negative. GitHub redelivers a webhook for a few days.
const DefaultDeliveryRetention = 72 * time.Hour

// errNoDeliveryKey is returned by Add when both the ID and the digest are empty:
// there is nothing to recognise a replay by, so the delivery is refused.
var errNoDeliveryKey = errors.New("no delivery id and no body digest")

// addDelivery sets every key in KEYS (with value ARGV[1], expiring after
// ARGV[2] milliseconds) when none of them exists, and returns 1; else it sets
// nothing and returns 0. As a script it runs atomically, so of several replicas
// adding the same ID or digest at once exactly one gets 1.
var addDelivery = goredis.NewScript(`
for _, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then return 0 end
end
for _, k in ipairs(KEYS) do
  redis.call('SET', k, ARGV[1], 'PX', ARGV[2])
end
return 1
`)

// Deliveries records handled webhook deliveries in Redis for a while, so a
// replayed delivery is refused by every replica, across restarts. A delivery is
// remembered by its ID and by the SHA-256 of its body, so a captured delivery
// sent again under a new (unsigned) delivery ID is refused too.
//
// Keys, under the prefix P given to NewDeliveries (each expiring after the ttl):
//
//	P delivery:<id>               a delivery ID (the key layout of earlier releases)
//	P delivery-sha256:<digest>    a body digest, lower-case hex
//
// Add touches two keys in one script, so like the lock store it needs a single
// Redis server (or primary), not Redis Cluster.
type Deliveries struct {
	rdb    goredis.UniversalClient
	prefix string
	ttl    time.Duration
	log    *slog.Logger
}

// NewDeliveries returns a delivery log whose entries expire after ttl
// (DefaultDeliveryRetention when ttl <= 0). log receives Remove's errors; nil
// discards them.
func NewDeliveries(rdb goredis.UniversalClient, prefix string, ttl time.Duration, log *slog.Logger) *Deliveries {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if ttl <= 0 {
		ttl = DefaultDeliveryRetention
	}
	return &Deliveries{rdb: rdb, prefix: prefix, ttl: ttl, log: log}
}

// keys returns the Redis keys of a delivery, skipping empty parts.
func (d *Deliveries) keys(id, digest string) []string {
	var keys []string
	if id != "" {
		keys = append(keys, d.prefix+"delivery:"+id)
	}
	if digest != "" {
		keys = append(keys, d.prefix+"delivery-sha256:"+strings.ToLower(digest))
	}
	return keys
}

// Add records a delivery by its ID (X-GitHub-Delivery; may be empty) and the hex
// SHA-256 of its body (compared without regard to case; may be empty for an
// internal event that has only an ID), and reports whether it is new: false when
// the ID or the digest was recorded within the ttl. Only a new delivery is
// recorded, both keys atomically. With both empty it returns an error.
func (d *Deliveries) Add(ctx context.Context, id, digest string) (bool, error) {
	keys := d.keys(id, digest)
	if len(keys) == 0 {
		return false, fmt.Errorf("record delivery: %w", errNoDeliveryKey)
	}
	ms := d.ttl.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	n, err := addDelivery.Run(ctx, d.rdb, keys, 1, ms).Int()
	if err != nil {
		return false, fmt.Errorf("record delivery %q: %w", id, err)
	}
	return n == 1, nil
}

// Remove forgets the ID and the digest, so GitHub's redelivery of a delivery
// that was not acted on after all is. It runs even when ctx is done and logs
// what fails: the entries would otherwise expire with the ttl.
func (d *Deliveries) Remove(ctx context.Context, id, digest string) {
	keys := d.keys(id, digest)
	if len(keys) == 0 {
		return
	}
	if err := d.rdb.Del(context.WithoutCancel(ctx), keys...).Err(); err != nil {
		d.log.Error("forget delivery", "id", id, "digest", digest, "error", err)
	}
}
