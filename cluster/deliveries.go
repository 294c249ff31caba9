package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Deliveries records handled webhook delivery IDs in Redis for a while, so a
// replayed delivery is refused by every replica, across restarts.
type Deliveries struct {
	rdb    goredis.UniversalClient
	prefix string
	ttl    time.Duration
	log    *slog.Logger
}

// NewDeliveries returns a delivery log whose entries expire after ttl.
func NewDeliveries(rdb goredis.UniversalClient, prefix string, ttl time.Duration, log *slog.Logger) *Deliveries {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Deliveries{rdb: rdb, prefix: prefix + "delivery:", ttl: ttl, log: log}
}

// Add records id and reports whether it is new. An empty id is always new.
func (d *Deliveries) Add(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return true, nil
	}
	ok, err := d.rdb.SetNX(ctx, d.prefix+id, 1, d.ttl).Result()
	if err != nil {
		return false, fmt.Errorf("record delivery %s: %w", id, err)
	}
	return ok, nil
}

// Remove forgets id, so a redelivery is acted on.
func (d *Deliveries) Remove(ctx context.Context, id string) {
	if err := d.rdb.Del(context.WithoutCancel(ctx), d.prefix+id).Err(); err != nil {
		d.log.Error("forget delivery", "id", id, "error", err)
	}
}
