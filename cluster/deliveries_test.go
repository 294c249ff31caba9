package cluster

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/locking/deliverytest"
)

// deliveryPrefixes hands each log of a test its own key prefix on one server.
var deliveryPrefixes atomic.Int64

func TestDeliveriesConformance(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	deliverytest.Run(t, deliverytest.Backend{
		New: func(t *testing.T, retention time.Duration, _ func() time.Time) deliverytest.Log {
			prefix := fmt.Sprintf("t%d:", deliveryPrefixes.Add(1))
			return NewDeliveries(rdb, prefix, retention, nil)
		},
		RealTime: true,
	})
}

// TestDeliveriesReopen: deliveries outlive the client that recorded them, as
// across a replica's restart.
func TestDeliveriesReopen(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisServer(t)
	deliverytest.RunReopen(t, func(t *testing.T) (deliverytest.Log, func() error) {
		rdb := goredis.NewClient(&goredis.Options{Addr: addr})
		return NewDeliveries(rdb, "t:", time.Hour, nil), rdb.Close
	})
}

// TestDeliveriesReplicas: two replicas, each with its own client, race for the
// same delivery: exactly one acts on it.
func TestDeliveriesReplicas(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisServer(t)
	deliverytest.RunReplicas(t, func(t *testing.T) (deliverytest.Log, func() error) {
		rdb := goredis.NewClient(&goredis.Options{Addr: addr})
		return NewDeliveries(rdb, "t:", time.Hour, nil), rdb.Close
	})
}

// TestDeliveriesKeys checks the key layout and that both keys expire with the
// ttl: a delivery ID keeps the key of earlier releases, so IDs they recorded
// are still refused during a rolling upgrade.
func TestDeliveriesKeys(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	const ttl = 72 * time.Hour
	d := NewDeliveries(rdb, "t:", ttl, nil)
	digest := deliverytest.Digest("body")
	if ok, err := d.Add(ctx, "id-1", digest); err != nil || !ok {
		t.Fatalf("Add = %t, %v; want true", ok, err)
	}
	for _, key := range []string{"t:delivery:id-1", "t:delivery-sha256:" + digest} {
		got, err := rdb.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got > ttl || got < ttl-time.Minute {
			t.Errorf("PTTL(%s) = %s, want about %s", key, got, ttl)
		}
	}
	// An ID an earlier release recorded (SET NX of "P delivery:<id>").
	if err := rdb.Set(ctx, "t:delivery:old-id", 1, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Add(ctx, "old-id", deliverytest.Digest("other body")); err != nil || ok {
		t.Errorf("Add of an ID recorded by an earlier release = %t, %v; want false", ok, err)
	}
}

// TestDeliveriesDefaultTTL: a zero ttl means DefaultDeliveryRetention, not
// keys that never expire or a failing SET.
func TestDeliveriesDefaultTTL(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	d := NewDeliveries(rdb, "t:", 0, nil)
	if ok, err := d.Add(ctx, "", deliverytest.Digest("body")); err != nil || !ok {
		t.Fatalf("Add = %t, %v; want true", ok, err)
	}
	got, err := rdb.PTTL(ctx, "t:delivery-sha256:"+deliverytest.Digest("body")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if got > DefaultDeliveryRetention || got < DefaultDeliveryRetention-time.Minute {
		t.Errorf("PTTL = %s, want about %s", got, DefaultDeliveryRetention)
	}
}

// TestDeliveriesRedisDown: with Redis unreachable Add fails, so the server
// refuses the webhook instead of acting on a possible replay.
func TestDeliveriesRedisDown(t *testing.T) {
	t.Parallel()
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	d := NewDeliveries(rdb, "t:", time.Hour, nil)
	if ok, err := d.Add(context.Background(), "id-1", deliverytest.Digest("body")); err == nil || ok {
		t.Errorf("Add with Redis down = %t, %v; want false and an error", ok, err)
	}
	d.Remove(context.Background(), "id-1", deliverytest.Digest("body")) // logs, does not panic
}
