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

// SaveJob stores (or replaces) a job's record and log.
func (a *JobArchive) SaveJob(ctx context.Context, id string, info, log []byte) error {
	key := a.prefix + id
	_, err := a.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, key, "info", info, "log", log)
		p.PExpire(ctx, key, a.ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive job %s: %w", id, err)
	}
	return nil
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
