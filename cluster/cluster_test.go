package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/atollhq/atoll/internal/testenv"
)

func newRedis(t *testing.T) goredis.UniversalClient {
	t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: testenv.RedisServer(t)})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func newQueue(t *testing.T, rdb goredis.UniversalClient, consumer string, lease time.Duration) *Queue {
	t.Helper()
	q, err := NewQueue(context.Background(), rdb, QueueOptions{Prefix: "t:", Consumer: consumer, Lease: lease, MaxAttempts: 2, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestQueueEachJobOnce runs two replicas on one stream: every job runs exactly once.
func TestQueueEachJobOnce(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	a, b := newQueue(t, rdb, "a", time.Minute), newQueue(t, rdb, "b", time.Minute)
	const n = 40
	var mu sync.Mutex // guards seen and by
	seen := map[string]int{}
	by := map[string]int{}
	done := make(chan struct{}, n)
	handler := func(name string) Handler {
		return func(ctx context.Context, payload []byte, attempt int) error {
			mu.Lock()
			seen[string(payload)]++
			by[name]++
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			done <- struct{}{}
			return nil
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for name, q := range map[string]*Queue{"a": a, "b": b} {
		wg.Add(1)
		go func() { defer wg.Done(); q.Run(ctx, context.Background(), handler(name), nil) }()
	}
	for i := 0; i < n; i++ {
		if _, err := a.Enqueue(context.Background(), []byte(fmt.Sprintf("job-%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	timeout := time.After(30 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-done:
		case <-timeout:
			t.Fatalf("only %d of %d jobs ran", i, n)
		}
	}
	cancel()
	wg.Wait()
	var dup []string
	for k, v := range seen {
		if v != 1 {
			dup = append(dup, k)
		}
	}
	sort.Strings(dup)
	if len(seen) != n || len(dup) > 0 {
		t.Errorf("ran %d distinct jobs, duplicates %v; want %d each once", len(seen), dup, n)
	}
	if by["a"] == 0 || by["b"] == 0 {
		t.Errorf("work split a=%d b=%d; want both replicas to run jobs", by["a"], by["b"])
	}
	if left, err := rdb.XLen(context.Background(), "t:jobs").Result(); err != nil || left != 0 {
		t.Errorf("stream still holds %d entries (%v)", left, err)
	}
}

// TestQueueTakeover: replica A takes a job and stops mid-job; B takes it over
// after the lease, as attempt 2.
func TestQueueTakeover(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	lease := 600 * time.Millisecond
	a, b := newQueue(t, rdb, "a", lease), newQueue(t, rdb, "b", lease)
	if _, err := a.Enqueue(context.Background(), []byte("plan")); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	aRead, stopA := context.WithCancel(context.Background())
	aJobs, killA := context.WithCancel(context.Background())
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		a.Run(aRead, aJobs, func(ctx context.Context, _ []byte, _ int) error { close(started); <-ctx.Done(); return nil }, nil)
	}()
	<-started
	// A "dies": it stops reading and its running job is cut off without an ack.
	stopA()
	killA()
	<-aDone

	got := make(chan int, 1)
	bCtx, stopB := context.WithCancel(context.Background())
	defer stopB()
	go b.Run(bCtx, context.Background(), func(_ context.Context, p []byte, attempt int) error {
		if string(p) == "plan" {
			got <- attempt
		}
		return nil
	}, nil)
	select {
	case attempt := <-got:
		if attempt != 2 {
			t.Errorf("takeover attempt = %d, want 2", attempt)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("replica B never took over the job")
	}
}

// TestQueueGivesUp: a job that keeps failing to finish is given up after MaxAttempts.
func TestQueueGivesUp(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	lease := 300 * time.Millisecond
	q := newQueue(t, rdb, "a", lease)
	if _, err := q.Enqueue(context.Background(), []byte("doomed")); err != nil {
		t.Fatal(err)
	}
	var attempts []int
	for i := 0; i < 2; i++ { // each run dies mid-job
		jobCtx, kill := context.WithCancel(context.Background())
		readCtx, stop := context.WithCancel(context.Background())
		started := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			q.Run(readCtx, jobCtx, func(ctx context.Context, _ []byte, attempt int) error {
				attempts = append(attempts, attempt)
				close(started)
				<-ctx.Done()
				return nil
			}, nil)
		}()
		select {
		case <-started:
		case <-time.After(15 * time.Second):
			t.Fatalf("attempt %d never started", i+1)
		}
		stop()
		kill()
		<-done
	}
	gaveUp := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx, context.Background(), func(context.Context, []byte, int) error { t.Error("job ran a third time"); return nil },
		func(_ context.Context, p []byte, n int) { gaveUp <- n })
	select {
	case n := <-gaveUp:
		if n != 2 {
			t.Errorf("gave up after %d attempts, want 2", n)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("job never given up")
	}
	if diff := cmp.Diff([]int{1, 2}, attempts); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
}

// TestMutex: one holder at a time across clients; a dead holder's lease expires.
func TestMutex(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	m1 := NewMutex(rdb, "t:", 400*time.Millisecond, nil)
	m2 := NewMutex(goredis.NewClient(&goredis.Options{Addr: rdb.(*goredis.Client).Options().Addr}), "t:", 400*time.Millisecond, nil)
	ctx := context.Background()

	// Mutual exclusion under contention: a counter incremented non-atomically stays exact.
	var counter, maxInside, inside int
	var mu sync.Mutex // guards inside and maxInside (not counter: the mutex under test does)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		m := m1
		if i%2 == 1 {
			m = m2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				unlock, err := m.LockPull(ctx, "repo#1")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inside++
				maxInside = max(maxInside, inside)
				mu.Unlock()
				c := counter
				time.Sleep(time.Millisecond)
				counter = c + 1
				mu.Lock()
				inside--
				mu.Unlock()
				unlock()
			}
		}()
	}
	wg.Wait()
	if counter != 40 || maxInside != 1 {
		t.Errorf("counter = %d (want 40), max holders at once = %d (want 1)", counter, maxInside)
	}

	// The heartbeat keeps a long hold alive past the lease.
	unlock, err := m1.LockPull(ctx, "repo#2")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 1200*time.Millisecond)
	if _, err := m2.LockPull(short, "repo#2"); err == nil {
		t.Error("second holder got a mutex held (and heartbeated) by the first")
	}
	cancel()
	unlock()

	// A holder that died (no heartbeat) frees the mutex when its lease expires.
	if err := rdb.Set(ctx, "t:mutex:repo#3", "dead-holder", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	wait, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	unlock3, err := m2.LockPull(wait, "repo#3")
	if err != nil {
		t.Fatalf("mutex of a dead holder was not freed by expiry: %v", err)
	}
	unlock3()
}

func TestJobArchive(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	a := NewJobArchive(rdb, "t:", 300*time.Millisecond)
	ctx := context.Background()
	if _, _, err := a.GetJob(ctx, "nope"); !errors.Is(err, ErrJobNotFound) {
		t.Fatalf("GetJob(unknown) = %v, want ErrJobNotFound", err)
	}
	if err := a.SaveJob(ctx, "j1", []byte(`{"id":"j1"}`), []byte("line 1\n")); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveJob(ctx, "j1", []byte(`{"id":"j1","state":"succeeded"}`), []byte("line 1\nline 2\n")); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveJob(ctx, "j2", []byte(`{"id":"j2"}`), nil); err != nil {
		t.Fatal(err)
	}
	recent, err := a.RecentJobs(ctx, 10)
	if err != nil || len(recent) != 2 || string(recent[0]) != `{"id":"j2"}` {
		t.Errorf("RecentJobs = %q, %v; want j2 then j1", recent, err)
	}
	info, log, err := a.GetJob(ctx, "j1")
	if err != nil || string(info) != `{"id":"j1","state":"succeeded"}` || string(log) != "line 1\nline 2\n" {
		t.Errorf("GetJob = %q, %q, %v", info, log, err)
	}
	time.Sleep(500 * time.Millisecond)
	if _, _, err := a.GetJob(ctx, "j1"); !errors.Is(err, ErrJobNotFound) {
		t.Errorf("GetJob after ttl = %v, want ErrJobNotFound", err)
	}
}
