package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/atollhq/atoll/locking"
)

// maxSilence is how long a holder keeps a lease without a successful renewal
// before it stops its job: two thirds of the lease, so the job is cancelled
// (terraform gets SIGINT) while the lease still has a third left, before
// another replica can take it.
func maxSilence(lease time.Duration) time.Duration { return lease * 2 / 3 }

// renewal is the outcome of one renewal call, started at sent.
type renewal struct {
	sent time.Time
	held bool
	err  error
}

// heartbeat renews a lease every lease/3 until ctx ends, and returns nil then.
// It returns an error wrapping locking.ErrLeaseLost as soon as a renewal finds
// the lease held by someone else, or no renewal has succeeded for
// maxSilence(lease) since since (a renewal counts from when it was sent,
// which is no later than when Redis restarted the lease's clock). The silence
// is timed apart from the calls, so a call that hangs (a partition that drops
// packets) cannot hold the verdict back.
func heartbeat(ctx context.Context, lease time.Duration, since time.Time, what string, renew func(context.Context) (bool, error), log *slog.Logger) error {
	silence := maxSilence(lease)
	tick := time.NewTicker(lease / 3)
	defer tick.Stop()
	watchdog := time.NewTimer(time.Until(since.Add(silence)))
	defer watchdog.Stop()
	results := make(chan renewal, 1)
	inflight := false
	// The call in flight, if any, ends within lease/3 (its deadline) or when
	// ctx ends; it is waited for, so no goroutine outlives heartbeat.
	defer func() {
		if inflight {
			<-results
		}
	}()
	lastOK := since
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if inflight {
				continue
			}
			inflight = true
			go func() {
				sent := time.Now()
				cctx, cancel := context.WithTimeout(ctx, lease/3)
				defer cancel()
				held, err := renew(cctx)
				results <- renewal{sent: sent, held: held, err: err}
			}()
		case r := <-results:
			inflight = false
			switch {
			case r.err != nil:
				if ctx.Err() == nil {
					log.Warn("renew lease", "lease", what, "error", r.err, "last_renewed", lastOK.Format(time.RFC3339Nano))
				}
			case !r.held:
				return fmt.Errorf("%w: another replica took over %s", locking.ErrLeaseLost, what)
			default:
				lastOK = r.sent
				watchdog.Reset(time.Until(lastOK.Add(silence)))
			}
		case <-watchdog.C:
			return fmt.Errorf("%w: this replica lost contact with Redis and could not renew its lease on %s for %s",
				locking.ErrLeaseLost, what, time.Since(lastOK).Round(100*time.Millisecond))
		}
	}
}
