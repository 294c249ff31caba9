package lockingtest

import (
	"context"
	"errors"
	"testing"

	"github.com/atollhq/atoll/locking"
)

// OpenFunc opens the same store each time it is called in one test (the same
// database file, or the same server and key prefix). The suite closes what it opens.
type OpenFunc func(t *testing.T) locking.Store

// RunReopen checks durability: locks and plans written before Close are there,
// unchanged, after opening the store again, and changes made after reopening
// survive the next close too.
func RunReopen(t *testing.T, open OpenFunc) {
	ctx := context.Background()
	a, b := "github.com/acme/a", "github.com/acme/b"
	locks := []locking.Lock{lock(key(a, "network"), 1), lock(key(a, "dns"), 1), lock(key(b, "."), 2)}
	plans := []locking.Plan{plan(key(a, "dns"), 1, "s1"), plan(key(a, "network"), 1, "s1")}

	s := open(t)
	mustAcquire(t, s, locks[:2]...)
	mustAcquire(t, s, locks[2])
	for _, p := range plans {
		if err := s.SavePlan(ctx, p); err != nil {
			t.Fatalf("SavePlan: %v", err)
		}
	}
	before, err := s.List(ctx, locking.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != len(locks) {
		t.Fatalf("List before close returned %d locks, want %d", len(before), len(locks))
	}
	for i := range before {
		if before[i].Time.IsZero() {
			t.Errorf("lock %s has no Time", before[i].Key)
		}
	}
	plansBefore, err := s.Plans(ctx, a, 1)
	if err != nil {
		t.Fatal(err)
	}
	// A queue survives too, and hands over after the restart.
	queued := key(b, ".")
	if _, err := s.Enqueue(ctx, queued, entry(queued, 3)); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	queueBefore, err := s.Queue(ctx, queued)
	if err != nil || len(queueBefore) != 1 {
		t.Fatalf("Queue before close = %v, %v; want #3", queueBefore, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s = open(t)
	wantList(t, s, locking.Filter{}, before)
	wantQueue(t, s, queued, queueBefore...)
	if _, err := s.Release(ctx, queued, 2); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if l, ok, err := s.Handover(ctx, queued); err != nil || !ok || l.Pull != 3 {
		t.Fatalf("Handover after reopen = %+v, %v, %v; want #3", l, ok, err)
	}
	if _, err := s.Release(ctx, queued, 3); err != nil {
		t.Fatalf("Release: %v", err)
	}
	mustAcquire(t, s, locks[2]) // as before, for the rest of the test
	before, err = s.List(ctx, locking.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	wantPlans(t, s, a, 1, plansBefore)
	if err := s.Acquire(ctx, []locking.Lock{lock(key(a, "network"), 9)}); !errors.Is(err, locking.ErrHeld) {
		t.Errorf("Acquire of a reopened lock by another pull = %v, want ErrHeld", err)
	}
	// Refreshing after a restart keeps the original Time.
	refreshed := lock(key(a, "network"), 1)
	refreshed.HeadSHA = "after-restart"
	mustAcquire(t, s, refreshed)
	var want locking.Lock
	for _, l := range before {
		if l.Key == refreshed.Key {
			want = at(refreshed, l.Time)
		}
	}
	wantGet(t, s, want)
	released, err := s.ReleasePull(ctx, a, 1)
	if err != nil || len(released) != 2 {
		t.Fatalf("ReleasePull(a, 1) after reopen = %v, %v; want 2 locks", released, err)
	}
	if err := s.DeletePlans(ctx, a, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s = open(t)
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	var left []locking.Lock
	for _, l := range before {
		if l.Key.Repo == b {
			left = append(left, l)
		}
	}
	wantList(t, s, locking.Filter{}, left)
	wantPlans(t, s, a, 1, nil)
	// The released keys are free after a restart.
	mustAcquire(t, s, lock(key(a, "network"), 9))
}
