package locking

import (
	"context"
	"errors"
)

// ErrLeaseLost is wrapped by errors about a lease (a pull request's mutex held
// by one replica) that its holder no longer has, or may no longer have: the
// holder lost contact with the shared store, or another replica took the
// lease over. A job that gets it stops without writing anything more.
var ErrLeaseLost = errors.New("lease lost")

// Fence identifies one holding of a lease. Each acquisition gets a token
// larger than any before it, and the store keeps the current holder's token
// under Key; a write made under a Fence whose token is no longer the current
// one is refused with an error wrapping ErrLeaseLost, so a stale holder (a
// replica cut off from Redis, or paused, past its lease) cannot record
// anything after another replica took over.
type Fence struct {
	// Key names where the store keeps the current token: a Redis key for
	// locking/redis.
	Key string
	// Token is this holder's token.
	Token int64
}

type fenceKey struct{}

// WithFence returns a context whose store writes are checked against f.
// Stores shared between replicas (locking/redis) check it atomically with
// each write; a store of one process (locking/bolt) has no leases to lose and
// ignores it.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceFrom returns the fence WithFence put in ctx, if any.
func FenceFrom(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}
