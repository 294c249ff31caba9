package bolt_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/locking/bolt"
	"github.com/atollhq/atoll/locking/deliverytest"
)

func TestDeliveriesConformance(t *testing.T) {
	t.Parallel()
	deliverytest.Run(t, deliverytest.Backend{
		New: func(t *testing.T, retention time.Duration, now func() time.Time) deliverytest.Log {
			s := open(t, filepath.Join(t.TempDir(), "atoll.db"), nil)
			t.Cleanup(func() { s.Close() })
			return s.Deliveries(bolt.DeliveryOptions{Retention: retention, Now: now})
		},
	})
}

// TestDeliveriesReopen: recorded deliveries survive closing and reopening the
// database, as a server restart does.
func TestDeliveriesReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "atoll.db")
	deliverytest.RunReopen(t, func(t *testing.T) (deliverytest.Log, func() error) {
		s := open(t, path, nil)
		return s.Deliveries(bolt.DeliveryOptions{}), s.Close
	})
}

// TestDeliveriesReplicas: two Deliveries on one store share one log.
func TestDeliveriesReplicas(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "atoll.db"), nil)
	defer s.Close()
	deliverytest.RunReplicas(t, func(t *testing.T) (deliverytest.Log, func() error) {
		return s.Deliveries(bolt.DeliveryOptions{}), func() error { return nil }
	})
}

// TestDeliveriesDefaultClock: without DeliveryOptions.Now the log uses the
// store's clock.
func TestDeliveriesDefaultClock(t *testing.T) {
	t.Parallel()
	c := deliverytest.NewClock(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	s := open(t, filepath.Join(t.TempDir(), "atoll.db"), c.Now)
	defer s.Close()
	d := s.Deliveries(bolt.DeliveryOptions{})
	ctx := context.Background()
	mustAdd(t, d, "id-1", digest(1), true)
	c.Advance(bolt.DefaultDeliveryRetention - time.Second)
	mustAdd(t, d, "id-1", digest(1), false)
	c.Advance(time.Second)
	if ok, err := d.Add(ctx, "id-1", digest(1)); err != nil || !ok {
		t.Errorf("Add after the default retention on the store's clock = %t, %v; want true", ok, err)
	}
}

// TestDeliveriesMax: at most Max deliveries are kept, the oldest dropped first.
func TestDeliveriesMax(t *testing.T) {
	t.Parallel()
	c := deliverytest.NewClock(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	s := open(t, filepath.Join(t.TempDir(), "atoll.db"), nil)
	defer s.Close()
	d := s.Deliveries(bolt.DeliveryOptions{Max: 3, Now: c.Now})
	steps := []struct {
		id   string
		n    int
		want bool
	}{
		{"id-1", 1, true},
		{"id-2", 2, true},
		{"id-3", 3, true},
		{"id-4", 4, true}, // drops 1
		{"id-1", 1, true}, // drops 2
		{"id-3", 3, false},
		{"id-x", 4, false},
		{"id-2", 2, true}, // drops 3
		{"id-3", 3, true}, // drops 4
		{"id-1", 1, false},
	}
	for _, st := range steps {
		c.Advance(time.Second)
		mustAdd(t, d, st.id, digest(st.n), st.want)
	}
}

// TestDeliveriesMaxSameTime: the bound holds when every delivery has the same
// time (a coarse clock): the order of arrival decides.
func TestDeliveriesMaxSameTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	s := open(t, filepath.Join(t.TempDir(), "atoll.db"), nil)
	defer s.Close()
	d := s.Deliveries(bolt.DeliveryOptions{Max: 2, Now: func() time.Time { return at }})
	mustAdd(t, d, "id-1", digest(1), true)
	mustAdd(t, d, "id-2", digest(2), true)
	mustAdd(t, d, "id-3", digest(3), true) // drops 1
	mustAdd(t, d, "id-2", "", false)
	mustAdd(t, d, "id-1", digest(1), true) // drops 2
	mustAdd(t, d, "id-3", "", false)
}

// TestDeliveriesBesideLocks: the delivery log shares the file with the locks
// without touching them, and both survive a reopen.
func TestDeliveriesBesideLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "atoll.db")
	s := open(t, path, nil)
	held := locking.Lock{Key: locking.Key{Repo: "github.com/acme/a", Dir: ".", Workspace: "default"}, Pull: 7}
	if err := s.Acquire(ctx, []locking.Lock{held}); err != nil {
		t.Fatal(err)
	}
	d := s.Deliveries(bolt.DeliveryOptions{Max: 2})
	for i := range 10 {
		mustAdd(t, d, "id-"+strconv.Itoa(i), digest(i), true)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path, nil)
	defer s.Close()
	if _, err := s.Get(ctx, held.Key); err != nil {
		t.Errorf("Get of a lock held before the deliveries were recorded: %v", err)
	}
	d = s.Deliveries(bolt.DeliveryOptions{Max: 2})
	mustAdd(t, d, "id-9", digest(9), false)
	mustAdd(t, d, "id-1", digest(1), true)
}

// TestDeliveriesClosedStore: once the store is closed Add fails (the server
// then refuses the webhook) and Remove does nothing.
func TestDeliveriesClosedStore(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "atoll.db"), nil)
	d := s.Deliveries(bolt.DeliveryOptions{})
	mustAdd(t, d, "id-1", digest(1), true)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Add(context.Background(), "id-2", digest(2)); err == nil || ok {
		t.Errorf("Add after the store is closed = %t, %v; want false and an error", ok, err)
	}
	d.Remove(context.Background(), "id-1", digest(1))
}

func mustAdd(t *testing.T, d *bolt.Deliveries, id, digest string, want bool) {
	t.Helper()
	got, err := d.Add(context.Background(), id, digest)
	if err != nil {
		t.Fatalf("Add(%q, %.8s): %v", id, digest, err)
	}
	if got != want {
		t.Errorf("Add(%q, %.8s) = %t, want %t", id, digest, got, want)
	}
}

func digest(n int) string {
	return deliverytest.Digest("body " + strconv.Itoa(n))
}
