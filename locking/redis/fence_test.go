package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/locking/lockingtest"
	"github.com/atollhq/atoll/locking/redis"
)

// fencedStore makes every write under a fence whose token is current, so the
// conformance suite runs the fenced (WATCH/MULTI) path of every write.
type fencedStore struct {
	*redis.Store
	fence locking.Fence
}

func (s fencedStore) fenced(ctx context.Context) context.Context {
	return locking.WithFence(ctx, s.fence)
}

func (s fencedStore) Acquire(ctx context.Context, locks []locking.Lock) error {
	return s.Store.Acquire(s.fenced(ctx), locks)
}

func (s fencedStore) Release(ctx context.Context, key locking.Key, pull int) (locking.Lock, error) {
	return s.Store.Release(s.fenced(ctx), key, pull)
}

func (s fencedStore) ReleasePull(ctx context.Context, repo string, pull int) ([]locking.Lock, error) {
	return s.Store.ReleasePull(s.fenced(ctx), repo, pull)
}

func (s fencedStore) SavePlan(ctx context.Context, p locking.Plan) error {
	return s.Store.SavePlan(s.fenced(ctx), p)
}

func (s fencedStore) DeletePlans(ctx context.Context, repo string, pull int) error {
	return s.Store.DeletePlans(s.fenced(ctx), repo, pull)
}

func (s fencedStore) SaveJob(ctx context.Context, j locking.JobRecord) error {
	return s.Store.SaveJob(s.fenced(ctx), j)
}

func (s fencedStore) DeleteJob(ctx context.Context, id string) error {
	return s.Store.DeleteJob(s.fenced(ctx), id)
}

// TestConformanceFenced runs the conformance suite with every write fenced
// by the current token: a current holder's writes behave as unfenced ones.
func TestConformanceFenced(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisServer(t)
	lockingtest.Run(t, func(t *testing.T, now func() time.Time) locking.Store {
		s := open(t, redis.Options{Addr: addr, Prefix: newPrefix(), Now: now})
		f := locking.Fence{Key: s.Prefix() + "fence:pr", Token: 7}
		if err := s.Client().Set(context.Background(), f.Key, "7", 0).Err(); err != nil {
			t.Fatal(err)
		}
		return fencedStore{Store: s, fence: f}
	})
}

// TestFenceRefusesStaleHolder: once the fence key holds a newer token, every
// write under the old one is refused with ErrLeaseLost and changes nothing,
// and CheckFence says so; the new holder writes.
func TestFenceRefusesStaleHolder(t *testing.T) {
	t.Parallel()
	s := open(t, redis.Options{Addr: testenv.RedisServer(t), Prefix: newPrefix()})
	bg := context.Background()
	key := s.Prefix() + "fence:pr"
	if err := s.Client().Set(bg, key, "4", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old := locking.WithFence(bg, locking.Fence{Key: key, Token: 4})
	k := locking.Key{Repo: "github.com/acme/infra", Dir: ".", Workspace: "default"}
	plan := locking.Plan{Key: k, Pull: 1, HeadSHA: "abc", Data: []byte("p"), SHA256: "148de9c5a7a44d19e56cd9ae1a554bf67847afb0c58f6e12fa29ac7ddfca9940", HasChanges: true}
	if err := s.SavePlan(old, plan); err != nil {
		t.Fatalf("current holder's SavePlan: %v", err)
	}
	if err := s.CheckFence(old); err != nil {
		t.Fatalf("CheckFence of the current holder: %v", err)
	}

	// Another replica takes the lease over: the fence moves to its token.
	if err := s.Client().Set(bg, key, "5", 0).Err(); err != nil {
		t.Fatal(err)
	}
	applied := plan
	applied.Applied = true
	lock := []locking.Lock{{Key: k, Pull: 1}}
	writes := map[string]error{
		"SavePlan":    s.SavePlan(old, applied),
		"DeletePlans": s.DeletePlans(old, k.Repo, 1),
		"Acquire":     s.Acquire(old, lock),
		"SaveJob":     s.SaveJob(old, locking.JobRecord{ID: "j1", Repo: k.Repo, Pull: 1, State: "running"}),
		"DeleteJob":   s.DeleteJob(old, "j1"),
		"CheckFence":  s.CheckFence(old),
	}
	_, err := s.Release(old, k, 1)
	writes["Release"] = err
	_, err = s.ReleasePull(old, k.Repo, 1)
	writes["ReleasePull"] = err
	for name, err := range writes {
		if !errors.Is(err, locking.ErrLeaseLost) {
			t.Errorf("%s by the stale holder: %v, want ErrLeaseLost", name, err)
		}
	}
	plans, err := s.Plans(bg, k.Repo, 1)
	if err != nil || len(plans) != 1 || plans[0].Applied {
		t.Errorf("plans after the stale holder's writes = %+v, %v; want the one unapplied plan", plans, err)
	}
	if locks, err := s.List(bg, locking.Filter{}); err != nil || len(locks) != 0 {
		t.Errorf("locks after the stale holder's Acquire = %v, %v; want none", locks, err)
	}
	if jobs, err := s.Jobs(bg); err != nil || len(jobs) != 0 {
		t.Errorf("journal after the stale holder's SaveJob = %v, %v; want none", jobs, err)
	}

	// The new holder writes; a fence key gone (expired) refuses everyone.
	cur := locking.WithFence(bg, locking.Fence{Key: key, Token: 5})
	if err := s.SavePlan(cur, applied); err != nil {
		t.Errorf("new holder's SavePlan: %v", err)
	}
	if err := s.Client().Del(bg, key).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Acquire(cur, lock); !errors.Is(err, locking.ErrLeaseLost) {
		t.Errorf("Acquire with the fence key gone: %v, want ErrLeaseLost", err)
	}
}
