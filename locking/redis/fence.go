package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atollhq/atoll/locking"
)

// fenceRetries bounds the transactions a fenced write retries when the fence
// key changed between WATCH and EXEC (its expiry was renewed, or another
// replica took the lease, which the next check then refuses).
const fenceRetries = 5

// write sends the commands fn queues. Under a fence (locking.WithFence) they
// run as one MULTI/EXEC transaction that WATCHes the fence key and runs only
// if the key still holds the fence's token, so a replica whose lease another
// replica took over writes nothing; the error then wraps
// locking.ErrLeaseLost. Without a fence they are one pipeline.
func (s *Store) write(ctx context.Context, fn func(p goredis.Pipeliner) error) error {
	f, ok := locking.FenceFrom(ctx)
	if !ok {
		_, err := s.client.Pipelined(ctx, fn)
		return err
	}
	for range fenceRetries {
		err := s.client.Watch(ctx, func(tx *goredis.Tx) error {
			if err := checkFence(ctx, tx, f); err != nil {
				return err
			}
			_, err := tx.TxPipelined(ctx, fn)
			return err
		}, f.Key)
		if !errors.Is(err, goredis.TxFailedErr) {
			return err
		}
	}
	return fmt.Errorf("%w: the lease's token kept changing during a write", locking.ErrLeaseLost)
}

// CheckFence returns an error wrapping locking.ErrLeaseLost when ctx carries
// a fence whose token is no longer the current one. A job calls it before an
// action outside the store (terraform apply) that a stale holder must not
// start; without a fence it returns nil.
func (s *Store) CheckFence(ctx context.Context) error {
	f, ok := locking.FenceFrom(ctx)
	if !ok {
		return nil
	}
	return checkFence(ctx, s.client, f)
}

func checkFence(ctx context.Context, c goredis.Cmdable, f locking.Fence) error {
	cur, err := c.Get(ctx, f.Key).Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return fmt.Errorf("%w: another replica took over, or it expired (this holder's token is %d, no token is current)", locking.ErrLeaseLost, f.Token)
	case err != nil:
		return fmt.Errorf("check lease token %d: %w", f.Token, err)
	case cur != strconv.FormatInt(f.Token, 10):
		return fmt.Errorf("%w: another replica took over (token %s is current, this holder's is %d)", locking.ErrLeaseLost, cur, f.Token)
	}
	return nil
}
