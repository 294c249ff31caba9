package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atollhq/atoll/locking"
)

// fenceTTL is how long a pull request's fence key outlives its last
// acquisition. A holder cut off for longer finds no token and is refused,
// which is the safe answer.
const fenceTTL = 7 * 24 * time.Hour

// Mutex is a lease lock per name in Redis: held by one replica at a time, kept
// alive by a heartbeat, and freed by expiry if its holder dies. Each
// acquisition gets a fencing token from one counter, larger than every token
// before it; the token is the mutex's value and is also kept, for a week,
// under the name's fence key, which store writes are checked against (see
// locking.Fence).
//
// Keys, under the prefix P: P mutex:<name> (the holder's token, expiring with
// the lease), P fence:<name> (the token of the latest holder), P mutex-token
// (the counter).
type Mutex struct {
	rdb    goredis.UniversalClient
	prefix string
	lease  time.Duration
	log    *slog.Logger
}

// NewMutex returns a Mutex whose keys start with prefix.
func NewMutex(rdb goredis.UniversalClient, prefix string, lease time.Duration, log *slog.Logger) *Mutex {
	if lease <= 0 {
		lease = DefaultLease
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mutex{rdb: rdb, prefix: prefix, lease: lease, log: log}
}

// acquireScript takes the mutex KEYS[1] if it is free: it draws a token from
// the counter KEYS[2], stores it as the mutex's value for ARGV[1] ms and as the
// fence KEYS[3] for ARGV[2] ms, and returns it; 0 if the mutex is held.
var acquireScript = goredis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 1 then return 0 end
local t = redis.call("INCR", KEYS[2])
redis.call("SET", KEYS[1], t, "PX", ARGV[1])
redis.call("SET", KEYS[3], t, "PX", ARGV[2])
return t`)

// releaseScript deletes the key only if this holder still owns it.
var releaseScript = goredis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// extendScript renews the lease only if this holder still owns it.
var extendScript = goredis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)

// LockPull blocks until it holds the mutex named key or ctx ends, and returns
// the function that releases it. It does not say when the lease is lost; jobs
// use LeasePull.
func (m *Mutex) LockPull(ctx context.Context, key string) (func(), error) {
	_, release, err := m.LeasePull(ctx, key)
	return release, err
}

// LeasePull blocks until it holds the mutex named key or ctx ends. It returns
// a context derived from ctx for the work done under the mutex, and the
// function that releases it. The context carries the holding's fence
// (locking.WithFence), and it ends, with a cause wrapping
// locking.ErrLeaseLost (context.Cause), as soon as the holding may be lost:
// no renewal has succeeded for two thirds of the lease (this replica lost
// contact with Redis), or a renewal found another holder. Work that stops
// then stops before the lease can expire and another replica acquire it.
func (m *Mutex) LeasePull(ctx context.Context, key string) (context.Context, func(), error) {
	rkey, fkey := m.prefix+"mutex:"+key, m.prefix+"fence:"+key
	wait := 50 * time.Millisecond
	var token int64
	var acquired time.Time
	for {
		sent := time.Now()
		t, err := acquireScript.Run(ctx, m.rdb, []string{rkey, m.prefix + "mutex-token", fkey},
			m.lease.Milliseconds(), fenceTTL.Milliseconds()).Int64()
		if err != nil {
			return nil, nil, fmt.Errorf("lock %s: %w", key, err)
		}
		if t > 0 {
			token, acquired = t, sent
			break
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("lock %s: %w", key, ctx.Err())
		case <-time.After(wait):
		}
		if wait < time.Second {
			wait *= 2
		}
	}
	value := fmt.Sprint(token)
	held, cancel := context.WithCancelCause(locking.WithFence(ctx, locking.Fence{Key: fkey, Token: token}))
	hbCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		renew := func(ctx context.Context) (bool, error) {
			n, err := extendScript.Run(ctx, m.rdb, []string{rkey}, value, m.lease.Milliseconds()).Int()
			return n == 1, err
		}
		if err := heartbeat(hbCtx, m.lease, acquired, "pull request "+key, renew, m.log); err != nil {
			m.log.Error("pull request mutex lost; stopping its job", "key", key, "token", token, "error", err)
			cancel(err)
		}
	}()
	return held, func() {
		stop()
		<-done
		if errors.Is(context.Cause(held), locking.ErrLeaseLost) {
			// Lost: the mutex expires by itself or is another holder's, and
			// Redis may still be out of reach; the job's report must not
			// wait for it.
			return
		}
		cancel(context.Canceled)
		ctx, cancelRelease := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancelRelease()
		if err := releaseScript.Run(ctx, m.rdb, []string{rkey}, value).Err(); err != nil {
			m.log.Error("release pull request mutex", "key", key, "error", err)
		}
	}, nil
}
