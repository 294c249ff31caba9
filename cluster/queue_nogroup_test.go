package cluster

import (
	"context"
	"testing"
	"time"
)

// A Redis that restarted without its data (no persistence) has lost the job
// stream and its consumer group: the queue makes them again and runs the
// jobs enqueued since, instead of failing every read with NOGROUP.
func TestQueueSurvivesLostStream(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	q := newQueue(t, rdb, "a", time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// XADD makes a new stream, without the group.
	if _, err := q.Enqueue(ctx, []byte("after the flush")); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(runCtx, ctx, func(_ context.Context, payload []byte, _ int) error {
			select {
			case got <- string(payload):
			default:
			}
			return nil
		}, nil)
	}()
	select {
	case p := <-got:
		if p != "after the flush" {
			t.Errorf("ran %q", p)
		}
	case <-ctx.Done():
		t.Fatal("the job enqueued after Redis lost its data never ran")
	}
	stop()
	<-done
}
