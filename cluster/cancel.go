package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// DefaultCancelRetention is how long a CancelBoard keeps a mark when its ttl
// is zero or negative: a queued job cancelled longer ago than this runs.
const DefaultCancelRetention = 24 * time.Hour

// CancelBoard keeps the cancellation marks of jobs in Redis, so that the
// replica running a job finds the mark another replica put (`atoll cancel`,
// or a push that makes a plan useless). What a mark says is the server's
// business; the board stores it as given.
//
// Keys, under the prefix P (each expiring after the ttl):
//
//	P cancel:<job id>    the job's mark
type CancelBoard struct {
	rdb    goredis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewCancelBoard returns a board whose marks expire after ttl
// (DefaultCancelRetention when ttl <= 0).
func NewCancelBoard(rdb goredis.UniversalClient, prefix string, ttl time.Duration) *CancelBoard {
	if ttl <= 0 {
		ttl = DefaultCancelRetention
	}
	return &CancelBoard{rdb: rdb, prefix: prefix, ttl: ttl}
}

// PutCancel stores mark as job id's mark, replacing any.
func (b *CancelBoard) PutCancel(ctx context.Context, id string, mark []byte) error {
	if err := b.rdb.Set(ctx, b.prefix+"cancel:"+id, mark, b.ttl).Err(); err != nil {
		return fmt.Errorf("put cancellation of job %s: %w", id, err)
	}
	return nil
}

// GetCancel returns job id's mark, if any.
func (b *CancelBoard) GetCancel(ctx context.Context, id string) ([]byte, bool, error) {
	v, err := b.rdb.Get(ctx, b.prefix+"cancel:"+id).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get cancellation of job %s: %w", id, err)
	}
	return v, true, nil
}
