package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// ErrJobNotFound is returned by JobArchive.GetJob for an unknown or expired job.
var ErrJobNotFound = errors.New("job not found")

// JobArchive keeps every replica's job records and logs in Redis for a while,
// so a job's page works whichever replica the load balancer picks. It is
// bounded three ways: each log to maxArchivedLog bytes (its start and end), the
// jobs to the newest maxListed, and each job to ttl after its first save; a
// job evicted by count or age loses its record and log at once.
type JobArchive struct {
	rdb      goredis.UniversalClient
	prefix   string
	ttl      time.Duration
	now      func() time.Time
	maxJobs  int // jobs kept
	maxLog   int // bytes of one job's log kept
	headPart int // of maxLog, the bytes kept from the log's start
}

// NewJobArchive returns an archive whose records expire after ttl.
func NewJobArchive(rdb goredis.UniversalClient, prefix string, ttl time.Duration) *JobArchive {
	return &JobArchive{rdb: rdb, prefix: prefix + "job:", ttl: ttl, now: time.Now,
		maxJobs: maxListed, maxLog: maxArchivedLog, headPart: maxArchivedLog / 4}
}

// maxListed bounds the jobs kept, and so the index RecentJobs reads.
const maxListed = 500

// maxArchivedLog bounds one archived log: with maxListed jobs, the archive
// holds at most about 1 GiB of logs. A longer log keeps its first quarter and
// its last three quarters, whole lines, with a marker line between.
const maxArchivedLog = 2 << 20

// SaveJob stores (or replaces) a job's record and log, indexes it by time,
// and removes the jobs past the count or the age bound.
func (a *JobArchive) SaveJob(ctx context.Context, id string, info, log []byte) error {
	key := a.prefix + id
	index := a.prefix + "recent"
	log = capLog(log, a.maxLog, a.headPart)
	now := a.now()
	var evictOld, evictOver *goredis.StringSliceCmd
	_, err := a.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, key, "info", info, "log", log)
		p.PExpire(ctx, key, a.ttl)
		// The first save's time orders the job; later saves keep it (NX).
		p.ZAddNX(ctx, index, goredis.Z{Score: float64(now.UnixMilli()), Member: id})
		p.PExpire(ctx, index, a.ttl)
		evictOld = p.ZRangeByScore(ctx, index, &goredis.ZRangeBy{Min: "-inf", Max: fmt.Sprintf("(%d", now.Add(-a.ttl).UnixMilli())})
		evictOver = p.ZRange(ctx, index, 0, int64(-a.maxJobs-1))
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive job %s: %w", id, err)
	}
	evict := append(evictOld.Val(), evictOver.Val()...)
	if len(evict) == 0 {
		return nil
	}
	// Another replica may evict the same jobs at once; both deletes are
	// idempotent.
	_, err = a.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		members := make([]any, len(evict))
		for i, e := range evict {
			p.Del(ctx, a.prefix+e)
			members[i] = e
		}
		p.ZRem(ctx, index, members...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("evict archived jobs: %w", err)
	}
	return nil
}

// capLog returns log if it fits max bytes, else its first head bytes and its
// last max-head bytes, each cut at a line end so no line (and no secret in
// it) is cut in half, with a marker line saying what was dropped between.
func capLog(log []byte, max, head int) []byte {
	if len(log) <= max {
		return log
	}
	h := log[:bytes.LastIndexByte(log[:head], '\n')+1]
	tailFrom := len(log) - (max - head)
	t := log[len(log):]
	if nl := bytes.IndexByte(log[tailFrom-1:], '\n'); nl >= 0 {
		t = log[tailFrom+nl:]
	}
	gap := log[len(h) : len(log)-len(t)]
	out := make([]byte, 0, len(h)+len(t)+64)
	out = append(out, h...)
	out = fmt.Appendf(out, "… %d lines (%d bytes) dropped …\n", bytes.Count(gap, []byte{'\n'}), len(gap))
	return append(out, t...)
}

// RecentJobs returns the records of the most recent jobs of every replica,
// newest first.
func (a *JobArchive) RecentJobs(ctx context.Context, n int) ([][]byte, error) {
	if n <= 0 || n > maxListed {
		n = maxListed
	}
	ids, err := a.rdb.ZRevRange(ctx, a.prefix+"recent", 0, int64(n-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("list recent jobs: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*goredis.StringCmd, len(ids))
	_, err = a.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, a.prefix+id, "info")
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("read recent jobs: %w", err)
	}
	var out [][]byte
	for _, c := range cmds {
		if v, err := c.Result(); err == nil {
			out = append(out, []byte(v)) // expired records are skipped
		}
	}
	return out, nil
}

// GetJob returns a job's record and log, or ErrJobNotFound.
func (a *JobArchive) GetJob(ctx context.Context, id string) (info, log []byte, err error) {
	vals, err := a.rdb.HMGet(ctx, a.prefix+id, "info", "log").Result()
	if err != nil {
		return nil, nil, fmt.Errorf("read job %s: %w", id, err)
	}
	if vals[0] == nil {
		return nil, nil, ErrJobNotFound
	}
	info = []byte(vals[0].(string))
	if vals[1] != nil {
		log = []byte(vals[1].(string))
	}
	return info, log, nil
}
