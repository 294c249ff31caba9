package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"

	lockredis "github.com/atollhq/atoll/locking/redis"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/server"
)

// logHandler returns the slog handler of --log-format: "json" or "text".
func logHandler(w io.Writer, format string, level slog.Level) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// readyChecks are the checks of /readyz: the store answers, GitHub answers
// (its rate-limit endpoint, which costs no rate limit), the default
// terraform binary is there, and the data dir has room for checkouts,
// providers and plans.
func (a *app) readyChecks(run *runner.Runner) []server.ReadyCheck {
	_, onRedis := a.store.(*lockredis.Store)
	return []server.ReadyCheck{
		// With Redis, a replica that cannot reach it keeps webhooks in its
		// local spool (spool.db) and hands them over when Redis is back.
		{Name: "store", Soft: onRedis && a.spool != nil, Check: func(ctx context.Context) (map[string]any, error) {
			if st, ok := a.store.(*lockredis.Store); ok {
				if err := st.Client().Ping(ctx).Err(); err != nil {
					return map[string]any{"type": "redis", "spooling": a.spool != nil}, fmt.Errorf("redis does not answer: %w", err)
				}
				return map[string]any{"type": "redis"}, nil
			}
			if _, err := a.store.Repos(ctx); err != nil {
				return map[string]any{"type": "boltdb"}, fmt.Errorf("the lock database cannot be read: %w", err)
			}
			return map[string]any{"type": "boltdb"}, nil
		}},
		// Without GitHub, webhooks still queue; jobs retry their calls.
		{Name: "github", Soft: true, Check: func(ctx context.Context) (map[string]any, error) {
			remaining, limit, err := a.gh.RateLimit(ctx)
			if err != nil {
				return nil, fmt.Errorf("GitHub does not answer: %w", err)
			}
			d := map[string]any{"rate_limit_remaining": remaining, "rate_limit": limit}
			if remaining == 0 {
				return d, fmt.Errorf("the GitHub rate limit is used up")
			}
			return d, nil
		}},
		{Name: "terraform", Check: func(ctx context.Context) (map[string]any, error) {
			// With --default-tf-version not yet installed, the first probe
			// starts its download and each answers not ready until it is done.
			bin, err := run.ResolveBinary(ctx, "", "")
			if err != nil {
				return nil, err
			}
			if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
				return nil, fmt.Errorf("the default terraform binary is missing or not executable")
			}
			return nil, nil
		}},
		{Name: "disk", Check: func(context.Context) (map[string]any, error) {
			var st unix.Statfs_t
			if err := unix.Statfs(a.opts.DataDir, &st); err != nil {
				return nil, fmt.Errorf("statfs the data dir: %w", err)
			}
			free := int64(st.Bavail) * int64(st.Bsize) //nolint:unconvert // Bsize is int64 on Linux, uint32 elsewhere
			d := map[string]any{"free_bytes": free, "min_free_bytes": a.opts.MinFreeDisk}
			if free < a.opts.MinFreeDisk {
				return d, fmt.Errorf("the data dir has %d MiB free, below --readyz-min-free-disk (%d MiB)", free>>20, a.opts.MinFreeDisk>>20)
			}
			return d, nil
		}},
	}
}
