// Package cluster lets several Atoll replicas share one Redis and act as one:
// a work queue on Redis Streams where each job runs on exactly one replica and a
// job whose replica died is taken over by another when its lease expires, and a
// lease mutex per pull request so one PR never runs two jobs at once anywhere.
// A replica that cannot renew a lease stops the job before the lease can
// expire, and each mutex holding carries a fencing token (locking.Fence) that
// the store checks, so a stale holder records nothing.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atollhq/atoll/locking"
)

// Defaults for QueueOptions.
const (
	DefaultLease       = 30 * time.Second
	DefaultMaxAttempts = 3
)

// QueueOptions configure a Queue.
type QueueOptions struct {
	// Prefix namespaces the stream key ("atoll:" gives "atoll:jobs").
	Prefix string
	// Consumer names this replica in the consumer group; unique per process.
	Consumer string
	// Lease is how long a job may go without a heartbeat before another replica
	// takes it over. Heartbeats are sent every Lease/3.
	Lease time.Duration
	// MaxAttempts bounds deliveries of one job; past it the job is given up.
	MaxAttempts int
	// Workers bounds jobs this replica runs at once.
	Workers int
	Logger  *slog.Logger
}

// Handler runs one job. attempt starts at 1; a later attempt means the job was
// taken over from a replica that stopped. It returns an error wrapping
// locking.ErrLeaseLost when it stopped because a lease it held (such as a
// pull request's Mutex) was lost: the job is then left pending for the
// replica that takes it over, as when the job's own lease is lost. Any other
// return finishes the job.
type Handler func(ctx context.Context, payload []byte, attempt int) error

// GiveUp is called for a job delivered more than MaxAttempts times.
type GiveUp func(ctx context.Context, payload []byte, attempts int)

// Queue is a work queue on a Redis stream with one consumer group shared by all
// replicas. It is safe for concurrent use.
type Queue struct {
	rdb    goredis.UniversalClient
	stream string
	group  string
	opts   QueueOptions
	log    *slog.Logger
}

const payloadField = "work"

// NewQueue creates the stream and its consumer group if needed.
func NewQueue(ctx context.Context, rdb goredis.UniversalClient, opts QueueOptions) (*Queue, error) {
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Consumer == "" {
		host, _ := os.Hostname()
		opts.Consumer = fmt.Sprintf("%s-%d-%d", host, os.Getpid(), time.Now().UnixNano())
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	q := &Queue{rdb: rdb, stream: opts.Prefix + "jobs", group: "atoll", opts: opts, log: opts.Logger}
	err := rdb.XGroupCreateMkStream(ctx, q.stream, q.group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return nil, fmt.Errorf("create job stream %q: %w", q.stream, err)
	}
	return q, nil
}

// Enqueue adds a job and returns its stream ID.
func (q *Queue) Enqueue(ctx context.Context, payload []byte) (string, error) {
	id, err := q.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: q.stream, Values: map[string]any{payloadField: payload}}).Result()
	if err != nil {
		return "", fmt.Errorf("enqueue job: %w", err)
	}
	return id, nil
}

// Run consumes jobs until ctx ends, running at most Workers at once, and waits
// for the running ones before it returns. Jobs run under jobCtx, so a replica
// shutting down can stop taking jobs (ctx) yet let running ones finish; a job
// whose jobCtx ends early is left for another replica. Jobs of a replica that
// stopped heartbeating are claimed once their lease has expired.
func (q *Queue) Run(ctx, jobCtx context.Context, handle Handler, giveUp GiveUp) {
	var wg sync.WaitGroup // owns every job goroutine
	defer wg.Wait()
	sem := make(chan struct{}, q.opts.Workers)
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		msg, attempt, err := q.next(ctx)
		if err != nil || msg == nil {
			<-sem
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				q.log.Error("read job queue", "error", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		payload := []byte(fmt.Sprint(msg.Values[payloadField]))
		if attempt > q.opts.MaxAttempts {
			q.log.Error("job given up after too many attempts", "id", msg.ID, "attempts", attempt-1)
			if giveUp != nil {
				giveUp(jobCtx, payload, attempt-1)
			}
			q.done(msg.ID)
			<-sem
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			q.runOne(jobCtx, msg.ID, payload, attempt, handle)
		}()
	}
}

// next returns a job whose lease expired (taken over) or else a new one,
// waiting up to two seconds. It returns nil, 0, nil when there is none.
func (q *Queue) next(ctx context.Context) (*goredis.XMessage, int, error) {
	msgs, _, err := q.rdb.XAutoClaim(ctx, &goredis.XAutoClaimArgs{Stream: q.stream, Group: q.group, Consumer: q.opts.Consumer,
		MinIdle: q.opts.Lease, Start: "0-0", Count: 1}).Result()
	if err != nil && strings.Contains(err.Error(), "NOGROUP") {
		// Redis restarted without its data: the stream and group are gone.
		q.log.Warn("job stream missing (Redis lost its data?); creating it again", "stream", q.stream)
		if err := q.rdb.XGroupCreateMkStream(ctx, q.stream, q.group, "0").Err(); err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
			return nil, 0, fmt.Errorf("create job stream %q: %w", q.stream, err)
		}
		return nil, 0, nil
	}
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, 0, fmt.Errorf("claim expired jobs: %w", err)
	}
	if len(msgs) > 0 {
		attempt, err := q.deliveries(ctx, msgs[0].ID)
		if err != nil {
			return nil, 0, err
		}
		q.log.Warn("took over a job whose replica stopped", "id", msgs[0].ID, "attempt", attempt)
		return &msgs[0], attempt, nil
	}
	streams, err := q.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: q.group, Consumer: q.opts.Consumer,
		Streams: []string{q.stream, ">"}, Count: 1, Block: 2 * time.Second}).Result()
	if errors.Is(err, goredis.Nil) || (err != nil && ctx.Err() != nil) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read jobs: %w", err)
	}
	for _, s := range streams {
		if len(s.Messages) > 0 {
			return &s.Messages[0], 1, nil
		}
	}
	return nil, 0, nil
}

// deliveries returns how many times the job has been delivered.
func (q *Queue) deliveries(ctx context.Context, id string) (int, error) {
	p, err := q.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: q.stream, Group: q.group, Start: id, End: id, Count: 1}).Result()
	if err != nil {
		return 0, fmt.Errorf("read job %s delivery count: %w", id, err)
	}
	if len(p) == 0 {
		return 1, nil
	}
	return int(p[0].RetryCount), nil
}

// renewScript is the job lease's heartbeat: if consumer ARGV[2] still owns
// pending entry ARGV[3] of group ARGV[1] in stream KEYS[1], an XCLAIM JUSTID
// resets its idle time without counting a delivery, and it returns 1. It
// returns 0 when the entry is gone or another replica claimed it: a plain
// XCLAIM would steal it back.
var renewScript = goredis.NewScript(`
local p = redis.call("XPENDING", KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
redis.call("XCLAIM", KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], "JUSTID")
return 1`)

// runOne runs a job while heartbeating its lease, then removes it from the
// stream. The job's context ends, with a cause wrapping locking.ErrLeaseLost,
// when the lease may be lost (see heartbeat); such a job is left pending, like
// one cut off by a shutdown, for whichever replica takes it over.
func (q *Queue) runOne(ctx context.Context, id string, payload []byte, attempt int, handle Handler) {
	claimed := time.Now() // no earlier than Redis reset the entry's idle time
	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hbCtx, stop := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		renew := func(ctx context.Context) (bool, error) {
			n, err := renewScript.Run(ctx, q.rdb, []string{q.stream}, q.group, q.opts.Consumer, id).Int()
			return n == 1, err
		}
		if err := heartbeat(hbCtx, q.opts.Lease, claimed, "job "+id, renew, q.log); err != nil {
			q.log.Error("job lease lost; stopping the job", "id", id, "error", err)
			cancel(err)
		}
	}()
	err := handle(jobCtx, payload, attempt)
	stop()
	<-hbDone
	if ctx.Err() != nil {
		// Shutting down mid-job: leave it pending so another replica takes it
		// over when the lease expires.
		return
	}
	if errors.Is(context.Cause(jobCtx), locking.ErrLeaseLost) || errors.Is(err, locking.ErrLeaseLost) {
		q.log.Warn("job stopped with a lease lost; left for the replica that takes it over", "id", id)
		return
	}
	q.done(id)
}

// done acknowledges and deletes a finished job.
func (q *Queue) done(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.rdb.XAck(ctx, q.stream, q.group, id).Err(); err != nil {
		q.log.Error("acknowledge job", "id", id, "error", err)
	}
	if err := q.rdb.XDel(ctx, q.stream, id).Err(); err != nil {
		q.log.Error("delete job", "id", id, "error", err)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
