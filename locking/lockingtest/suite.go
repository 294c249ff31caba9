// Package lockingtest is the conformance suite every locking.Store backend must
// pass (locking/bolt and locking/redis run it from their tests), plus the
// benchmarks they share. Run covers the Locker and PlanStore contracts on a fresh
// store per subtest, RunReopen checks that locks and plans survive closing and
// reopening a store, and RunProcessRace makes several OS processes race for the
// same locks.
//
// Locks and plans are listed in the order of their key strings (Key.String()).
package lockingtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/atollhq/atoll/locking"
)

// NewStoreFunc returns a fresh, empty store whose clock is now. Run closes the
// store when the subtest ends.
type NewStoreFunc func(t *testing.T, now func() time.Time) locking.Store

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)}
}

// Now returns the clock's current time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Run runs the conformance suite against stores made by newStore, one per subtest.
func Run(t *testing.T, newStore NewStoreFunc) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s locking.Store, c *clock)
	}{
		{"AcquireFree", testAcquireFree},
		{"AcquireRefreshSamePull", testAcquireRefresh},
		{"AcquireHeldByOtherPull", testAcquireHeld},
		{"AcquireAllOrNothing", testAcquireAllOrNothing},
		{"AcquireInvalid", testAcquireInvalid},
		{"Release", testRelease},
		{"ReleasePull", testReleasePull},
		{"ReleasePullAfterAdminRelease", testReleasePullAfterAdmin},
		{"List", testList},
		{"Get", testGet},
		{"Plans", testPlans},
		{"Journal", testJournal},
		{"Repos", testRepos},
		{"Audit", testAudit},
		{"PlanDataRoundTrip", testPlanData},
		{"CanceledContext", testCanceled},
		{"Contention64", testContention},
		{"QueueOrder", testQueueOrder},
		{"QueueInvalid", testQueueInvalid},
		{"QueueDequeue", testQueueDequeue},
		{"QueueHandover", testHandover},
		{"QueueHandoverRace", testHandoverRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			s := newStore(t, c.Now)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close store: %v", err)
				}
			})
			tt.fn(t, s, c)
		})
	}
}

// key returns a key in repo for dir in the default workspace.
func key(repo, dir string) locking.Key {
	return locking.Key{Repo: repo, Dir: dir, Workspace: "default"}
}

// lock returns a lock on k for pull with a head SHA derived from both.
func lock(k locking.Key, pull int) locking.Lock {
	return locking.Lock{
		Key:     k,
		Pull:    pull,
		PullURL: fmt.Sprintf("https://github.example/%s/pull/%d", strings.TrimPrefix(k.Repo, "github.com/"), pull),
		HeadSHA: fmt.Sprintf("sha-%d-%s", pull, k.Dir),
		User:    "alice",
		Project: "proj-" + k.Dir,
	}
}

// at returns l with its Time set to tm.
func at(l locking.Lock, tm time.Time) locking.Lock {
	l.Time = tm
	return l
}

func mustAcquire(t *testing.T, s locking.Store, locks ...locking.Lock) {
	t.Helper()
	if err := s.Acquire(context.Background(), locks); err != nil {
		t.Fatalf("Acquire(%v): %v", keysOf(locks), err)
	}
}

func keysOf(locks []locking.Lock) []string {
	out := make([]string, len(locks))
	for i, l := range locks {
		out[i] = l.Key.String()
	}
	return out
}

// sortLocks sorts locks by key string, the order List and ReleasePull use.
func sortLocks(locks []locking.Lock) []locking.Lock {
	out := slices.Clone(locks)
	slices.SortFunc(out, func(a, b locking.Lock) int { return strings.Compare(a.Key.String(), b.Key.String()) })
	return out
}

// diff compares with time.Time.Equal and nil == empty.
func diff(want, got any) string {
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}

func wantGet(t *testing.T, s locking.Store, want locking.Lock) {
	t.Helper()
	got, err := s.Get(context.Background(), want.Key)
	if err != nil {
		t.Fatalf("Get(%s): %v", want.Key, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Get(%s) mismatch (-want +got):\n%s", want.Key, d)
	}
}

func wantMissing(t *testing.T, s locking.Store, k locking.Key) {
	t.Helper()
	got, err := s.Get(context.Background(), k)
	if !errors.Is(err, locking.ErrNotFound) {
		t.Errorf("Get(%s) = %+v, %v; want ErrNotFound", k, got, err)
	}
}

func wantList(t *testing.T, s locking.Store, f locking.Filter, want []locking.Lock) {
	t.Helper()
	got, err := s.List(context.Background(), f)
	if err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("List(%+v) mismatch (-want +got):\n%s", f, d)
	}
}

func testAcquireFree(t *testing.T, s locking.Store, c *clock) {
	l := lock(key("github.com/acme/infra", "network"), 7)
	mustAcquire(t, s, l)
	want := at(l, c.Now())
	wantGet(t, s, want)
	wantList(t, s, locking.Filter{}, []locking.Lock{want})

	// A caller-supplied Time is kept for a new lock.
	l2 := at(lock(key("github.com/acme/infra", "dns"), 7), time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC))
	mustAcquire(t, s, l2)
	wantGet(t, s, l2)

	// Acquiring nothing is a no-op.
	if err := s.Acquire(context.Background(), nil); err != nil {
		t.Errorf("Acquire(nil) = %v, want nil", err)
	}
}

func testAcquireRefresh(t *testing.T, s locking.Store, c *clock) {
	k := key("github.com/acme/infra", "network")
	first := lock(k, 7)
	mustAcquire(t, s, first)
	taken := c.Now()

	c.Advance(time.Hour)
	again := first
	again.HeadSHA = "new-head"
	again.User = "bob"
	again.Project = "renamed"
	again.PullURL = "https://github.example/acme/infra/pull/7#moved"
	again.Time = c.Now().Add(time.Minute) // ignored on refresh: Time is when the PR first took it
	mustAcquire(t, s, again)

	wantGet(t, s, at(again, taken))
	wantList(t, s, locking.Filter{}, []locking.Lock{at(again, taken)})
}

func testAcquireHeld(t *testing.T, s locking.Store, c *clock) {
	k := key("github.com/acme/infra", "network")
	holder := lock(k, 12)
	mustAcquire(t, s, holder)

	err := s.Acquire(context.Background(), []locking.Lock{lock(k, 13)})
	if !errors.Is(err, locking.ErrHeld) {
		t.Fatalf("Acquire by other pull = %v, want ErrHeld", err)
	}
	if errors.Is(err, locking.ErrNotOwner) {
		t.Errorf("Acquire error %v matches ErrNotOwner, want only ErrHeld", err)
	}
	var held *locking.HeldError
	if !errors.As(err, &held) {
		t.Fatalf("Acquire error %v (%T) is not a *locking.HeldError", err, err)
	}
	if d := diff(at(holder, c.Now()), held.Held); d != "" {
		t.Errorf("HeldError.Held mismatch (-want +got):\n%s", d)
	}
	if !strings.Contains(err.Error(), "#12") {
		t.Errorf("error %q does not name the holding pull request #12", err)
	}
	wantGet(t, s, at(holder, c.Now()))

	// The same PR number in another repo is a different lock.
	other := lock(key("github.com/acme/other", "network"), 13)
	mustAcquire(t, s, other)
}

func testAcquireAllOrNothing(t *testing.T, s locking.Store, c *clock) {
	repo := "github.com/acme/infra"
	k1, k2, k3 := key(repo, "a"), key(repo, "b"), key(repo, "c")
	a := lock(k2, 1)
	mustAcquire(t, s, a)

	// PR B wants k1 and k2: k2 is A's, so B gets neither.
	err := s.Acquire(context.Background(), []locking.Lock{lock(k1, 2), lock(k2, 2)})
	var held *locking.HeldError
	if !errors.As(err, &held) {
		t.Fatalf("Acquire([k1 k2]) by B = %v, want *HeldError", err)
	}
	if held.Held.Key != k2 || held.Held.Pull != 1 {
		t.Errorf("HeldError names %s #%d, want %s #1", held.Held.Key, held.Held.Pull, k2)
	}
	wantMissing(t, s, k1)
	wantGet(t, s, at(a, c.Now()))

	// With two conflicts the first in the caller's order is reported, and B's
	// own refreshable lock is not touched either.
	mustAcquire(t, s, lock(k3, 3))
	b := lock(k1, 2)
	mustAcquire(t, s, b)
	bNew := b
	bNew.HeadSHA = "moved"
	err = s.Acquire(context.Background(), []locking.Lock{bNew, lock(k3, 2), lock(k2, 2)})
	if !errors.As(err, &held) {
		t.Fatalf("Acquire([k1 k3 k2]) by B = %v, want *HeldError", err)
	}
	if held.Held.Key != k3 || held.Held.Pull != 3 {
		t.Errorf("HeldError names %s #%d, want first conflict %s #3", held.Held.Key, held.Held.Pull, k3)
	}
	wantGet(t, s, at(b, c.Now()))

	// Once A lets go, B takes both.
	if _, err := s.Release(context.Background(), k2, 1); err != nil {
		t.Fatalf("Release(k2, 1): %v", err)
	}
	c.Advance(time.Minute)
	mustAcquire(t, s, bNew, lock(k2, 2))
	wantList(t, s, locking.Filter{Pull: 2}, sortLocks([]locking.Lock{
		at(bNew, c.Now().Add(-time.Minute)),
		at(lock(k2, 2), c.Now()),
	}))
}

func testAcquireInvalid(t *testing.T, s locking.Store, _ *clock) {
	k := key("github.com/acme/infra", "network")
	tests := []struct {
		name  string
		locks []locking.Lock
	}{
		{"pull zero", []locking.Lock{lock(k, 0)}},
		{"negative pull", []locking.Lock{lock(k, -3)}},
		{"no repo", []locking.Lock{lock(locking.Key{Dir: ".", Workspace: "default"}, 1)}},
		{"no dir", []locking.Lock{lock(locking.Key{Repo: "github.com/acme/infra", Workspace: "default"}, 1)}},
		{"no workspace", []locking.Lock{lock(locking.Key{Repo: "github.com/acme/infra", Dir: "."}, 1)}},
		{"one key two pulls", []locking.Lock{lock(k, 1), lock(k, 2)}},
		{"valid then invalid", []locking.Lock{lock(key("github.com/acme/infra", "ok"), 1), lock(k, 0)}},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			err := s.Acquire(context.Background(), tt.locks)
			if err == nil {
				t.Fatalf("Acquire(%s) = nil, want an error", tt.name)
			}
			if errors.Is(err, locking.ErrHeld) {
				t.Errorf("Acquire(%s) = %v, want a validation error, not ErrHeld", tt.name, err)
			}
		})
	}
	wantList(t, s, locking.Filter{}, nil)
}

func testRelease(t *testing.T, s locking.Store, c *clock) {
	ctx := context.Background()
	repo := "github.com/acme/infra"
	owned, admin, missing := key(repo, "owned"), key(repo, "admin"), key(repo, "missing")
	mustAcquire(t, s, lock(owned, 5), lock(admin, 5))
	now := c.Now()

	tests := []struct {
		name    string
		key     locking.Key
		pull    int
		wantErr error
		want    locking.Lock // released lock, or the holder with ErrNotOwner
		left    bool         // whether the lock is still held afterwards
	}{
		{"wrong pull", owned, 6, locking.ErrNotOwner, at(lock(owned, 5), now), true},
		{"missing", missing, 5, locking.ErrNotFound, locking.Lock{}, false},
		{"missing admin", missing, 0, locking.ErrNotFound, locking.Lock{}, false},
		{"owner", owned, 5, nil, at(lock(owned, 5), now), false},
		{"owner again", owned, 5, locking.ErrNotFound, locking.Lock{}, false},
		{"admin", admin, 0, nil, at(lock(admin, 5), now), false},
	}
	for _, tt := range tests {
		got, err := s.Release(ctx, tt.key, tt.pull)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: Release(%s, %d) error = %v, want %v", tt.name, tt.key, tt.pull, err, tt.wantErr)
		}
		if errors.Is(tt.wantErr, locking.ErrNotOwner) && errors.Is(err, locking.ErrHeld) {
			t.Errorf("%s: Release error %v matches ErrHeld, want only ErrNotOwner", tt.name, err)
		}
		if tt.wantErr != locking.ErrNotFound {
			if d := diff(tt.want, got); d != "" {
				t.Errorf("%s: Release(%s, %d) lock mismatch (-want +got):\n%s", tt.name, tt.key, tt.pull, d)
			}
		}
		if tt.left {
			wantGet(t, s, tt.want)
		} else {
			wantMissing(t, s, tt.key)
		}
	}
	wantList(t, s, locking.Filter{}, nil)

	// A released key is free for another PR.
	mustAcquire(t, s, lock(owned, 9))
}

func testReleasePull(t *testing.T, s locking.Store, c *clock) {
	ctx := context.Background()
	a, b := "github.com/acme/a", "github.com/acme/b"
	mine := []locking.Lock{lock(key(a, "z"), 1), lock(key(a, "m"), 1), lock(key(a, "b"), 1)}
	mustAcquire(t, s, mine...)
	otherPull := lock(key(a, "x"), 2)
	otherRepo := lock(key(b, "z"), 1) // same PR number, other repo
	mustAcquire(t, s, otherPull)
	mustAcquire(t, s, otherRepo)
	now := c.Now()

	got, err := s.ReleasePull(ctx, a, 1)
	if err != nil {
		t.Fatalf("ReleasePull(a, 1): %v", err)
	}
	var want []locking.Lock
	for _, l := range mine {
		want = append(want, at(l, now))
	}
	if d := diff(sortLocks(want), got); d != "" {
		t.Errorf("ReleasePull(a, 1) mismatch (-want +got):\n%s", d)
	}
	wantList(t, s, locking.Filter{}, sortLocks([]locking.Lock{at(otherPull, now), at(otherRepo, now)}))

	got, err = s.ReleasePull(ctx, a, 1)
	if err != nil || len(got) != 0 {
		t.Errorf("second ReleasePull(a, 1) = %v, %v; want nothing, nil", got, err)
	}

	// The PR can lock again after releasing, and its released keys are free.
	mustAcquire(t, s, lock(key(a, "m"), 3))
	mustAcquire(t, s, mine[0])
	got, err = s.ReleasePull(ctx, a, 1)
	if err != nil || len(got) != 1 || got[0].Key != mine[0].Key {
		t.Errorf("ReleasePull(a, 1) after relock = %v, %v; want [%s]", got, err, mine[0].Key)
	}
}

func testReleasePullAfterAdmin(t *testing.T, s locking.Store, c *clock) {
	ctx := context.Background()
	repo := "github.com/acme/infra"
	k := key(repo, "network")
	mustAcquire(t, s, lock(k, 1))
	if _, err := s.Release(ctx, k, 0); err != nil {
		t.Fatalf("admin Release: %v", err)
	}
	// Another PR takes the key; releasing PR 1's locks must not touch it.
	mustAcquire(t, s, lock(k, 2))
	got, err := s.ReleasePull(ctx, repo, 1)
	if err != nil || len(got) != 0 {
		t.Errorf("ReleasePull(repo, 1) = %v, %v; want nothing, nil", got, err)
	}
	wantGet(t, s, at(lock(k, 2), c.Now()))
	wantList(t, s, locking.Filter{Repo: repo, Pull: 1}, nil)
	wantList(t, s, locking.Filter{Repo: repo, Pull: 2}, []locking.Lock{at(lock(k, 2), c.Now())})
}

func testList(t *testing.T, s locking.Store, c *clock) {
	a, b, ab := "github.com/acme/a", "github.com/acme/b", "github.com/acme/a-b"
	locks := []locking.Lock{
		lock(key(b, "z"), 1),
		lock(key(a, "modules/vpc"), 2),
		lock(key(a, "."), 1),
		lock(locking.Key{Repo: a, Dir: ".", Workspace: "prod"}, 1),
		lock(key(ab, "x y"), 2),
		lock(key(a, "a|b"), 3),
		lock(key(b, "a"), 2),
	}
	for _, l := range locks {
		mustAcquire(t, s, l)
		c.Advance(time.Second)
	}
	// Each lock's Time is when it was taken.
	start := c.Now().Add(-time.Duration(len(locks)) * time.Second)
	var all []locking.Lock
	for i, l := range locks {
		all = append(all, at(l, start.Add(time.Duration(i)*time.Second)))
	}
	all = sortLocks(all)
	filters := []locking.Filter{
		{},
		{Repo: a},
		{Repo: b},
		{Repo: ab},
		{Repo: "github.com/acme/none"},
		{Pull: 1},
		{Pull: 2},
		{Pull: 99},
		{Repo: a, Pull: 1},
		{Repo: a, Pull: 2},
		{Repo: b, Pull: 3},
	}
	for _, f := range filters {
		var want []locking.Lock
		for _, l := range all {
			if f.Match(l) {
				want = append(want, l)
			}
		}
		wantList(t, s, f, want)
	}
	// The full list is in key-string order.
	got, err := s.List(context.Background(), locking.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(got, func(x, y locking.Lock) int { return strings.Compare(x.ID(), y.ID()) }) {
		t.Errorf("List order = %v, want sorted by key string", keysOf(got))
	}
	if len(got) != len(locks) {
		t.Errorf("List returned %d locks, want %d", len(got), len(locks))
	}
}

func testGet(t *testing.T, s locking.Store, c *clock) {
	k := key("github.com/acme/infra", "network")
	wantMissing(t, s, k)
	l := lock(k, 4)
	mustAcquire(t, s, l)
	wantGet(t, s, at(l, c.Now()))
	wantMissing(t, s, locking.Key{Repo: k.Repo, Dir: k.Dir, Workspace: "other"})
	wantMissing(t, s, locking.Key{Repo: "github.com/acme/other", Dir: k.Dir, Workspace: k.Workspace})
}

func testCanceled(t *testing.T, s locking.Store, _ *clock) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k := key("github.com/acme/infra", "network")
	if err := s.Acquire(ctx, []locking.Lock{lock(k, 1)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire with canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.List(ctx, locking.Filter{}); !errors.Is(err, context.Canceled) {
		t.Errorf("List with canceled context = %v, want context.Canceled", err)
	}
	wantMissing(t, s, k)
}

func testContention(t *testing.T, s locking.Store, c *clock) {
	const n = 64
	k := key("github.com/acme/infra", "hot")
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		errs    = make([]error, n)
		winners []int
		mu      sync.Mutex // guards winners
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			pull := i + 1
			err := s.Acquire(context.Background(), []locking.Lock{lock(k, pull)})
			errs[i] = err
			if err == nil {
				mu.Lock()
				winners = append(winners, pull)
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d goroutines won the lock (%v), want exactly 1", len(winners), winners)
	}
	winner := winners[0]
	for i, err := range errs {
		if i+1 == winner {
			continue
		}
		var held *locking.HeldError
		if !errors.As(err, &held) {
			t.Errorf("pull %d: Acquire = %v, want *HeldError", i+1, err)
			continue
		}
		if held.Held.Pull != winner {
			t.Errorf("pull %d: HeldError names #%d, want winner #%d", i+1, held.Held.Pull, winner)
		}
	}
	wantGet(t, s, at(lock(k, winner), c.Now()))
}
