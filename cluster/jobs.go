package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// ErrJobNotFound is returned by JobArchive.GetJob for an unknown or expired job.
var ErrJobNotFound = errors.New("job not found")

// JobArchive keeps every replica's job records and logs in Redis for a while,
// so a job's page works whichever replica the load balancer picks.
type JobArchive struct {
	rdb    goredis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewJobArchive returns an archive whose records expire after ttl.
func NewJobArchive(rdb goredis.UniversalClient, prefix string, ttl time.Duration) *JobArchive {
	return &JobArchive{rdb: rdb, prefix: prefix + "job:", ttl: ttl}
}

// maxListed bounds the index of recent jobs that RecentJobs reads.
const maxListed = 500

// SaveJob stores (or replaces) a job's record and log, and indexes it by time.
func (a *JobArchive) SaveJob(ctx context.Context, id string, info, log []byte) error {
	key := a.prefix + id
	index := a.prefix + "recent"
	_, err := a.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, key, "info", info, "log", log)
		p.PExpire(ctx, key, a.ttl)
		// The first save's time orders the job; later saves keep it (NX).
		p.ZAddNX(ctx, index, goredis.Z{Score: float64(time.Now().UnixMilli()), Member: id})
		p.ZRemRangeByRank(ctx, index, 0, -maxListed-1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive job %s: %w", id, err)
	}
	return nil
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
