package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Mutex is a lease lock per name in Redis: held by one replica at a time, kept
// alive by a heartbeat, and freed by expiry if its holder dies.
type Mutex struct {
	rdb    goredis.UniversalClient
	prefix string
	lease  time.Duration
	log    *slog.Logger
}

// NewMutex returns a Mutex whose keys start with prefix+"mutex:".
func NewMutex(rdb goredis.UniversalClient, prefix string, lease time.Duration, log *slog.Logger) *Mutex {
	if lease <= 0 {
		lease = DefaultLease
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mutex{rdb: rdb, prefix: prefix + "mutex:", lease: lease, log: log}
}

// releaseScript deletes the key only if this holder still owns it.
var releaseScript = goredis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// extendScript renews the lease only if this holder still owns it.
var extendScript = goredis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)

// LockPull blocks until it holds the mutex named key or ctx ends, and returns
// the function that releases it.
func (m *Mutex) LockPull(ctx context.Context, key string) (func(), error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	rkey := m.prefix + key
	wait := 50 * time.Millisecond
	for {
		ok, err := m.rdb.SetNX(ctx, rkey, token, m.lease).Result()
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", key, err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock %s: %w", key, ctx.Err())
		case <-time.After(wait):
		}
		if wait < time.Second {
			wait *= 2
		}
	}
	hbCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(m.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
				n, err := extendScript.Run(hbCtx, m.rdb, []string{rkey}, token, m.lease.Milliseconds()).Int()
				if err != nil && hbCtx.Err() == nil {
					m.log.Error("extend pull request mutex", "key", key, "error", err)
				} else if n == 0 && hbCtx.Err() == nil {
					m.log.Error("pull request mutex lost: its lease expired", "key", key)
				}
			}
		}
	}()
	return func() {
		stop()
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := releaseScript.Run(ctx, m.rdb, []string{rkey}, token).Err(); err != nil {
			m.log.Error("release pull request mutex", "key", key, "error", err)
		}
	}, nil
}
