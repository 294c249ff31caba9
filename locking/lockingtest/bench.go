package lockingtest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atollhq/atoll/locking"
)

// BenchAcquireRelease measures acquiring and then releasing one lock, a
// distinct key each iteration, from a single goroutine.
func BenchAcquireRelease(b *testing.B, s locking.Store) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l := locking.Lock{Key: key("github.com/acme/bench", "dir"+strconv.Itoa(i)), Pull: 1 + i%50, HeadSHA: "abc"}
		if err := s.Acquire(ctx, []locking.Lock{l}); err != nil {
			b.Fatalf("Acquire: %v", err)
		}
		if _, err := s.Release(ctx, l.Key, l.Pull); err != nil {
			b.Fatalf("Release: %v", err)
		}
	}
}

// BenchContention runs goroutines that contend for one key: each repeatedly
// tries to acquire it for its own pull and releases it when it wins. b.N is the
// total number of Acquire calls. It reports the Acquire latency percentiles as
// "p50-ns" and "p99-ns", and the share of attempts that won as "won/op".
func BenchContention(b *testing.B, s locking.Store, goroutines int) {
	ctx := context.Background()
	k := key("github.com/acme/bench", "hot")
	var (
		left     atomic.Int64
		won      atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	left.Store(int64(b.N))
	lat := make([][]time.Duration, goroutines) // lat[i] is written only by goroutine i
	b.ResetTimer()
	for i := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pull := i + 1
			l := []locking.Lock{{Key: k, Pull: pull, HeadSHA: "abc"}}
			for left.Add(-1) >= 0 {
				t0 := time.Now()
				err := s.Acquire(ctx, l)
				lat[i] = append(lat[i], time.Since(t0))
				if errors.Is(err, locking.ErrHeld) {
					continue
				}
				if err == nil {
					won.Add(1)
					_, err = s.Release(ctx, k, pull)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if firstErr != nil {
		b.Fatalf("contention: %v", firstErr)
	}
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(percentile(all, 0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(percentile(all, 0.99).Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(won.Load())/float64(len(all)), "won/op")
}

// percentile returns the p-th percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
