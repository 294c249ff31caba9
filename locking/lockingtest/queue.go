package lockingtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/atollhq/atoll/locking"
)

// entry returns the queue entry of pull for k, as lock(k, pull) would hold it.
func entry(k locking.Key, pull int) locking.QueueEntry {
	l := lock(k, pull)
	return locking.QueueEntry{Pull: pull, PullURL: l.PullURL, User: l.User, HeadSHA: l.HeadSHA, Project: l.Project}
}

func mustEnqueue(t *testing.T, s locking.Store, k locking.Key, e locking.QueueEntry, wantPos int) {
	t.Helper()
	pos, err := s.Enqueue(context.Background(), k, e)
	if err != nil {
		t.Fatalf("Enqueue(%s, #%d): %v", k, e.Pull, err)
	}
	if pos != wantPos {
		t.Errorf("Enqueue(%s, #%d) = position %d; want %d", k, e.Pull, pos, wantPos)
	}
}

func wantQueue(t *testing.T, s locking.Store, k locking.Key, want ...locking.QueueEntry) {
	t.Helper()
	got, err := s.Queue(context.Background(), k)
	if err != nil {
		t.Fatalf("Queue(%s): %v", k, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Queue(%s) mismatch (-want +got):\n%s", k, d)
	}
}

func wantQueues(t *testing.T, s locking.Store, repo string, want ...locking.KeyQueue) {
	t.Helper()
	got, err := s.Queues(context.Background(), repo)
	if err != nil {
		t.Fatalf("Queues(%q): %v", repo, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Queues(%q) mismatch (-want +got):\n%s", repo, d)
	}
}

// stamp returns e with its Time set.
func stamp(e locking.QueueEntry, tm time.Time) locking.QueueEntry {
	e.Time = tm
	return e
}

// testQueueOrder: first come, first served; a PR queued again keeps its
// place and its time, with its entry updated.
func testQueueOrder(t *testing.T, s locking.Store, c *clock) {
	k := key("github.com/acme/infra", "network")
	wantQueue(t, s, k)
	t0 := c.Now()
	mustEnqueue(t, s, k, entry(k, 12), 1)
	c.Advance(time.Minute)
	mustEnqueue(t, s, k, entry(k, 13), 2)
	c.Advance(time.Minute)
	mustEnqueue(t, s, k, entry(k, 14), 3)
	// #12 pushes and plans again: one entry, same place, new head.
	c.Advance(time.Minute)
	again := entry(k, 12)
	again.HeadSHA, again.User = "sha-12-pushed", "bob"
	mustEnqueue(t, s, k, again, 1)
	mustEnqueue(t, s, k, entry(k, 14), 3)
	wantQueue(t, s, k, stamp(again, t0), stamp(entry(k, 13), t0.Add(time.Minute)), stamp(entry(k, 14), t0.Add(2*time.Minute)))
	// The comment that says the plan is queued is kept with the entry; an
	// update without one keeps it, one with another replaces it.
	withComment := entry(k, 13)
	withComment.CommentID = 4711
	mustEnqueue(t, s, k, withComment, 2)
	mustEnqueue(t, s, k, entry(k, 13), 2)
	withComment = stamp(withComment, t0.Add(time.Minute))
	wantQueue(t, s, k, stamp(again, t0), withComment, stamp(entry(k, 14), t0.Add(2*time.Minute)))
	withComment.CommentID = 4712
	mustEnqueue(t, s, k, withComment, 2)
	wantQueue(t, s, k, stamp(again, t0), withComment, stamp(entry(k, 14), t0.Add(2*time.Minute)))
	// A caller's time is kept.
	k2 := key("github.com/acme/infra", "dns")
	at := time.Date(2024, 4, 1, 9, 0, 0, 0, time.UTC)
	mustEnqueue(t, s, k2, stamp(entry(k2, 20), at), 1)
	wantQueue(t, s, k2, stamp(entry(k2, 20), at))
}

func testQueueInvalid(t *testing.T, s locking.Store, _ *clock) {
	ctx := context.Background()
	if _, err := s.Enqueue(ctx, locking.Key{Repo: "github.com/acme/infra", Workspace: "default"}, entry(key("github.com/acme/infra", "x"), 1)); err == nil {
		t.Error("Enqueue with no dir succeeded")
	}
	if _, err := s.Enqueue(ctx, key("github.com/acme/infra", "x"), locking.QueueEntry{Pull: 0}); err == nil {
		t.Error("Enqueue of pull 0 succeeded")
	}
	wantQueues(t, s, "")
}

// testQueueDequeue: a PR leaves one queue, or every queue of its repo.
func testQueueDequeue(t *testing.T, s locking.Store, c *clock) {
	ctx := context.Background()
	infra, infra2 := "github.com/acme/infra", "github.com/acme/infra2"
	net, dns, other := key(infra, "network"), key(infra, "dns"), key(infra2, "network")
	now := c.Now()
	for _, k := range []locking.Key{net, dns, other} {
		e := entry(k, 12)
		if k == net {
			e.CommentID = 99 // forgotten with the entry
		}
		mustEnqueue(t, s, k, e, 1)
		mustEnqueue(t, s, k, entry(k, 13), 2)
	}
	if err := s.Dequeue(ctx, net, 12); err != nil {
		t.Fatalf("Dequeue: %v", err)
	}
	if err := s.Dequeue(ctx, net, 99); err != nil {
		t.Fatalf("Dequeue of a PR not queued: %v", err)
	}
	wantQueue(t, s, net, stamp(entry(net, 13), now))
	mustEnqueue(t, s, net, entry(net, 12), 2) // back, at the end
	// Sorted by key string: dns before network; infra2 is another repo
	// whose name starts with infra's.
	wantQueues(t, s, infra,
		locking.KeyQueue{Key: dns, Entries: []locking.QueueEntry{stamp(entry(dns, 12), now), stamp(entry(dns, 13), now)}},
		locking.KeyQueue{Key: net, Entries: []locking.QueueEntry{stamp(entry(net, 13), now), stamp(entry(net, 12), now)}})
	left, err := s.DequeuePull(ctx, infra, 12)
	if err != nil {
		t.Fatalf("DequeuePull: %v", err)
	}
	if d := diff([]locking.Key{dns, net}, left); d != "" {
		t.Errorf("DequeuePull left (-want +got):\n%s", d)
	}
	wantQueue(t, s, net, stamp(entry(net, 13), now))
	wantQueue(t, s, dns, stamp(entry(dns, 13), now))
	wantQueue(t, s, other, stamp(entry(other, 12), now), stamp(entry(other, 13), now))
	left, err = s.DequeuePull(ctx, infra, 12)
	if err != nil || len(left) != 0 {
		t.Errorf("DequeuePull again = %v, %v; want nothing", left, err)
	}
	// The last entry leaving empties the queue: Queues lists it no more.
	if _, err := s.DequeuePull(ctx, infra, 13); err != nil {
		t.Fatalf("DequeuePull: %v", err)
	}
	wantQueues(t, s, infra)
	wantQueues(t, s, "", locking.KeyQueue{Key: other, Entries: []locking.QueueEntry{stamp(entry(other, 12), now), stamp(entry(other, 13), now)}})
}

// testHandover: a released lock goes to the first PR in its queue, which
// then holds it like any lock it took itself.
func testHandover(t *testing.T, s locking.Store, c *clock) {
	ctx := context.Background()
	repo := "github.com/acme/infra"
	net := key(repo, "network")
	handover := func(wantOK bool) locking.Lock {
		t.Helper()
		l, ok, err := s.Handover(ctx, net)
		if err != nil || ok != wantOK {
			t.Fatalf("Handover(%s) = %+v, %v, %v; want ok %v", net, l, ok, err, wantOK)
		}
		return l
	}
	handover(false) // free, nobody waiting
	mustAcquire(t, s, lock(net, 11))
	t0 := c.Now()
	mustEnqueue(t, s, net, entry(net, 12), 1)
	mustEnqueue(t, s, net, entry(net, 13), 2)
	handover(false) // held: nothing changes
	wantQueue(t, s, net, stamp(entry(net, 12), t0), stamp(entry(net, 13), t0))
	wantGet(t, s, at(lock(net, 11), t0))

	if _, err := s.Release(ctx, net, 11); err != nil {
		t.Fatalf("Release: %v", err)
	}
	c.Advance(time.Hour)
	got := handover(true)
	want := at(lock(net, 12), c.Now())
	if d := diff(want, got); d != "" {
		t.Errorf("Handover lock (-want +got):\n%s", d)
	}
	wantGet(t, s, want)
	wantQueue(t, s, net, stamp(entry(net, 13), t0))
	wantList(t, s, locking.Filter{Repo: repo, Pull: 12}, []locking.Lock{want})
	handover(false) // #12 holds it now
	// The new holder is an ordinary holder: another PR is refused, and
	// releasing the PR's locks releases it.
	if err := s.Acquire(ctx, []locking.Lock{lock(net, 13)}); err == nil {
		t.Error("Acquire by #13 after the handover to #12 succeeded")
	}
	if left, err := s.DequeuePull(ctx, repo, 12); err != nil || len(left) != 0 {
		t.Errorf("DequeuePull(#12) after its handover = %v, %v; want nothing to leave", left, err)
	}
	rel, err := s.ReleasePull(ctx, repo, 12)
	if err != nil || len(rel) != 1 {
		t.Fatalf("ReleasePull(#12) = %v, %v; want its handed-over lock", rel, err)
	}
	got = handover(true)
	if got.Pull != 13 {
		t.Errorf("second handover went to #%d; want #13", got.Pull)
	}
	wantQueue(t, s, net)
	if _, err := s.Release(ctx, net, 0); err != nil {
		t.Fatalf("Release: %v", err)
	}
	handover(false) // empty queue
	wantMissing(t, s, net)
}

// testHandoverRace: replicas releasing and handing over the same lock at
// once give it to one PR, once.
func testHandoverRace(t *testing.T, s locking.Store, _ *clock) {
	ctx := context.Background()
	net := key("github.com/acme/infra", "network")
	for pull := 12; pull < 16; pull++ {
		mustEnqueue(t, s, net, entry(net, pull), pull-11)
	}
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex // guards won, errs
	var won []int
	var errs []error
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, ok, err := s.Handover(ctx, net)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				won = append(won, l.Pull)
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("Handover errors: %v", errs)
	}
	if len(won) != 1 || won[0] != 12 {
		t.Fatalf("%d concurrent handovers gave the lock to %v; want [12] once", n, won)
	}
	wantGet(t, s, at(lock(net, 12), mustGet(t, s, net).Time))
	got, err := s.Queue(ctx, net)
	if err != nil || len(got) != 3 || got[0].Pull != 13 {
		t.Errorf("queue after the race = %+v, %v; want #13, #14, #15", got, err)
	}
}

func mustGet(t *testing.T, s locking.Store, k locking.Key) locking.Lock {
	t.Helper()
	l, err := s.Get(context.Background(), k)
	if err != nil {
		t.Fatalf("Get(%s): %v", k, err)
	}
	return l
}
