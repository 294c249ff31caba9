package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/locking"
	lockredis "github.com/atollhq/atoll/locking/redis"
)

// TestMutexLeaseLostStopsHolder: a holder cut off from Redis has its context
// ended, with a cause saying it lost contact, while its lease is still in
// Redis (before another replica could take it); the replica that then takes
// the mutex gets a larger token, and the stale holder's fenced writes and its
// pre-apply check are refused even once it reaches Redis again.
func TestMutexLeaseLostStopsHolder(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisServer(t)
	proxy := testenv.NewCutProxy(t, addr)
	bg := context.Background()
	// Long enough that the margin between stopping (2/3 of the lease) and
	// expiry (a third of it, 1s) holds on a loaded 2-core CI machine.
	const lease = 3 * time.Second
	storeA, err := lockredis.New(bg, lockredis.Options{Addr: proxy.Addr(), Prefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { storeA.Close() })
	storeB, err := lockredis.New(bg, lockredis.Options{Addr: addr, Prefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { storeB.Close() })
	a := NewMutex(storeA.Client(), "t:", lease, nil)
	b := NewMutex(storeB.Client(), "t:", lease, nil)

	heldA, unlockA, err := a.LeasePull(bg, "repo#1")
	if err != nil {
		t.Fatal(err)
	}
	fenceA, ok := locking.FenceFrom(heldA)
	if !ok || fenceA.Token <= 0 {
		t.Fatalf("LeasePull's context carries fence %+v, %t", fenceA, ok)
	}
	k := locking.Key{Repo: "github.com/acme/infra", Dir: ".", Workspace: "default"}
	if err := storeA.Acquire(heldA, []locking.Lock{{Key: k, Pull: 1}}); err != nil {
		t.Fatalf("the holder's fenced write: %v", err)
	}
	// The heartbeat keeps the lease past its length while Redis answers.
	time.Sleep(2 * lease)
	if err := context.Cause(heldA); err != nil {
		t.Fatalf("holder stopped while it could reach Redis: %v", err)
	}

	proxy.Cut()
	cut := time.Now()
	<-heldA.Done()
	stoppedAfter := time.Since(cut)
	ttl, err := storeB.Client().PTTL(bg, "t:mutex:repo#1").Result()
	if err != nil || ttl <= 0 {
		t.Errorf("when the holder stopped (%s after the cut) its lease was already gone (PTTL %v, %v)", stoppedAfter, ttl, err)
	}
	cause := context.Cause(heldA)
	if !errors.Is(cause, locking.ErrLeaseLost) || !strings.Contains(cause.Error(), "lost contact with Redis") {
		t.Errorf("cause = %v, want ErrLeaseLost saying it lost contact with Redis", cause)
	}
	if stoppedAfter > lease {
		t.Errorf("holder stopped %s after the cut, past its %s lease", stoppedAfter, lease)
	}

	// Replica B takes the mutex once the lease expires, with a larger token.
	wait, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	heldB, unlockB, err := b.LeasePull(wait, "repo#1")
	if err != nil {
		t.Fatal(err)
	}
	defer unlockB()
	fenceB, _ := locking.FenceFrom(heldB)
	if fenceB.Token <= fenceA.Token {
		t.Errorf("B's token %d is not larger than A's %d", fenceB.Token, fenceA.Token)
	}

	// A reaches Redis again. A stale holder whose job did not stop (paused
	// past its lease) still writes nothing: its fence is refused.
	proxy.Heal()
	unlockA() // must not free B's mutex
	stale := locking.WithFence(bg, fenceA)
	if err := storeA.CheckFence(stale); !errors.Is(err, locking.ErrLeaseLost) || !strings.Contains(err.Error(), "another replica took over") {
		t.Errorf("stale holder's pre-apply check: %v, want ErrLeaseLost: another replica took over", err)
	}
	if _, err := storeA.ReleasePull(stale, k.Repo, 1); !errors.Is(err, locking.ErrLeaseLost) {
		t.Errorf("stale holder's ReleasePull: %v, want ErrLeaseLost", err)
	}
	if err := storeA.SaveJob(stale, locking.JobRecord{ID: "j", Repo: k.Repo, Pull: 1}); !errors.Is(err, locking.ErrLeaseLost) {
		t.Errorf("stale holder's SaveJob: %v, want ErrLeaseLost", err)
	}
	if l, err := storeB.Get(bg, k); err != nil || l.Pull != 1 {
		t.Errorf("lock after the stale holder's release: %+v, %v; want it still held by #1", l, err)
	}
	if err := storeB.CheckFence(heldB); err != nil {
		t.Errorf("B's pre-apply check: %v", err)
	}
	if v, err := storeB.Client().Get(bg, "t:mutex:repo#1").Result(); err != nil || v != fmt.Sprint(fenceB.Token) {
		t.Errorf("B's mutex after A's unlock = %q, %v; want B's token %d", v, err, fenceB.Token)
	}
}

// TestMutexTakenOver: a renewal that finds another holder ends the holder's
// context at once, saying another replica took over.
func TestMutexTakenOver(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	m := NewMutex(rdb, "t:", 600*time.Millisecond, nil)
	held, unlock, err := m.LeasePull(context.Background(), "repo#2")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if err := rdb.Set(context.Background(), "t:mutex:repo#2", "999", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("holder's context did not end after another holder took the mutex")
	}
	if cause := context.Cause(held); !errors.Is(cause, locking.ErrLeaseLost) || !strings.Contains(cause.Error(), "another replica took over") {
		t.Errorf("cause = %v", cause)
	}
}

// TestQueueLeaseLostStopsJob: a replica cut off from Redis mid-job has the
// job's context end with ErrLeaseLost before the lease expires, leaves the job
// pending, and another replica takes it over as attempt 2; the cut-off
// replica's heartbeat does not claim it back once it reconnects.
func TestQueueLeaseLostStopsJob(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisServer(t)
	proxy := testenv.NewCutProxy(t, addr)
	const lease = 900 * time.Millisecond
	rdbA := goredis.NewClient(&goredis.Options{Addr: proxy.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdbA.Close() })
	rdbB := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { rdbB.Close() })
	qa, qb := newQueue(t, rdbA, "a", lease), newQueue(t, rdbB, "b", lease)
	if _, err := qa.Enqueue(context.Background(), []byte("apply")); err != nil {
		t.Fatal(err)
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	causeA := make(chan error, 1)
	runA := make(chan struct{})
	go func() {
		defer close(runA)
		qa.Run(ctxA, context.Background(), func(jctx context.Context, _ []byte, attempt int) error {
			proxy.Cut() // cut off as soon as it has the job
			<-jctx.Done()
			causeA <- context.Cause(jctx)
			time.Sleep(lease) // heartbeats, if any were left, would run now, healed
			return nil
		}, nil)
	}()
	var cause error
	select {
	case cause = <-causeA:
	case <-time.After(10 * time.Second):
		t.Fatal("the cut-off replica's job did not stop")
	}
	if !errors.Is(cause, locking.ErrLeaseLost) {
		t.Errorf("job cause = %v, want ErrLeaseLost", cause)
	}
	cancelA() // A takes no more jobs (it could take this one over itself)
	proxy.Heal()
	<-runA
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runs sync.WaitGroup
	attempts := make(chan int, 1)
	runs.Add(1)
	go func() {
		defer runs.Done()
		qb.Run(ctx, context.Background(), func(_ context.Context, p []byte, attempt int) error { attempts <- attempt; return nil }, nil)
	}()
	select {
	case n := <-attempts:
		if n != 2 {
			t.Errorf("replica B ran the job as attempt %d, want 2 (taken over)", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("replica B did not take the job over")
	}
	cancel()
	runs.Wait()
	if n, err := rdbB.XLen(context.Background(), "t:jobs").Result(); err != nil || n != 0 {
		t.Errorf("stream holds %d jobs after the takeover finished (%v); want 0", n, err)
	}
}

// TestQueueHandlerLeaseLost: a handler that returns ErrLeaseLost (its PR
// mutex was lost, though the job's own lease was not) leaves the job pending,
// and it is taken over as attempt 2 once its lease expires.
func TestQueueHandlerLeaseLost(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	const lease = 600 * time.Millisecond
	q := newQueue(t, rdb, "a", lease)
	if _, err := q.Enqueue(context.Background(), []byte("plan")); err != nil {
		t.Fatal(err)
	}
	attempts := make(chan int, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(ctx, context.Background(), func(_ context.Context, _ []byte, attempt int) error {
			attempts <- attempt
			if attempt == 1 {
				return fmt.Errorf("%w: another replica took over pull request repo#1", locking.ErrLeaseLost)
			}
			return nil
		}, nil)
	}()
	for want := 1; want <= 2; want++ {
		select {
		case got := <-attempts:
			if got != want {
				t.Fatalf("attempt %d ran, want %d", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("attempt %d never ran", want)
		}
	}
	cancel()
	<-done
	if n, err := rdb.XLen(context.Background(), "t:jobs").Result(); err != nil || n != 0 {
		t.Errorf("stream holds %d jobs after attempt 2 finished (%v); want 0", n, err)
	}
}
