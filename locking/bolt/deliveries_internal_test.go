package bolt

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// deliveryStats are the sizes of a delivery log's buckets and its stored count.
type deliveryStats struct {
	Keys, Times int
	Count       uint64
}

func statsOf(t *testing.T, d *Deliveries) deliveryStats {
	t.Helper()
	var st deliveryStats
	err := d.db.View(func(tx *bbolt.Tx) error {
		root := tx.Bucket(deliveriesBucket)
		if root == nil {
			return nil
		}
		st.Keys = root.Bucket(deliveryKeysBucket).Stats().KeyN
		st.Times = root.Bucket(deliveryTimesBucket).Stats().KeyN
		if v := root.Get(deliveryCountKey); v != nil {
			st.Count = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func wantStats(t *testing.T, d *Deliveries, want deliveryStats) {
	t.Helper()
	if got := statsOf(t, d); got != want {
		t.Errorf("stored %+v, want %+v", got, want)
	}
}

func newTestDeliveries(t *testing.T, opts DeliveryOptions) *Deliveries {
	t.Helper()
	s, err := New(filepath.Join(t.TempDir(), "atoll.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Deliveries(opts)
}

func add(t *testing.T, d *Deliveries, id, digest string, want bool) {
	t.Helper()
	got, err := d.Add(context.Background(), id, digest)
	if err != nil || got != want {
		t.Fatalf("Add(%q, %q) = %t, %v; want %t", id, digest, got, err, want)
	}
}

// TestDeliveriesStorage checks that what is stored stays bounded and the
// stored count matches the entries, through pruning, the bound and Remove.
func TestDeliveriesStorage(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		opts DeliveryOptions
		run  func(t *testing.T, d *Deliveries, now *time.Time)
		want deliveryStats
	}{{
		name: "expired pruned a batch per Add",
		opts: DeliveryOptions{Retention: time.Hour},
		run: func(t *testing.T, d *Deliveries, now *time.Time) {
			for i := range 100 {
				add(t, d, "id-"+strconv.Itoa(i), "d-"+strconv.Itoa(i), true)
			}
			*now = now.Add(2 * time.Hour)
			add(t, d, "new-1", "n-1", true) // prunes 64
			wantStats(t, d, deliveryStats{Keys: 2 * 37, Times: 37, Count: 37})
			add(t, d, "new-2", "n-2", true) // prunes the other 36
		},
		want: deliveryStats{Keys: 4, Times: 2, Count: 2},
	}, {
		name: "bound",
		opts: DeliveryOptions{Max: 10},
		run: func(t *testing.T, d *Deliveries, _ *time.Time) {
			for i := range 50 {
				add(t, d, "id-"+strconv.Itoa(i), "d-"+strconv.Itoa(i), true)
			}
		},
		want: deliveryStats{Keys: 20, Times: 10, Count: 10},
	}, {
		name: "remove both keys",
		run: func(t *testing.T, d *Deliveries, _ *time.Time) {
			add(t, d, "id-1", "d-1", true)
			d.Remove(context.Background(), "id-1", "d-1")
		},
		want: deliveryStats{},
	}, {
		name: "remove one key at a time",
		run: func(t *testing.T, d *Deliveries, _ *time.Time) {
			add(t, d, "id-1", "d-1", true)
			d.Remove(context.Background(), "id-1", "")
			wantStats(t, d, deliveryStats{Keys: 1, Times: 1, Count: 1})
			add(t, d, "id-1", "d-2", true)
			add(t, d, "id-2", "d-1", false)
			d.Remove(context.Background(), "", "d-1")
		},
		want: deliveryStats{Keys: 2, Times: 1, Count: 1},
	}, {
		name: "expired key recorded again before it was pruned",
		opts: DeliveryOptions{Retention: time.Hour},
		run: func(t *testing.T, d *Deliveries, now *time.Time) {
			for i := range 70 {
				add(t, d, "id-"+strconv.Itoa(i), "d-"+strconv.Itoa(i), true)
			}
			*now = now.Add(2 * time.Hour)
			// Prunes 0..63; id-69's old entry keeps d-69.
			add(t, d, "id-69", "x-1", true)
			wantStats(t, d, deliveryStats{Keys: 6*2 - 1 + 2, Times: 7, Count: 7})
			add(t, d, "id-x", "d-69", true) // d-69 had expired too
			// Pruning the rest must not take id-69's new record.
			add(t, d, "id-y", "y", true)
			add(t, d, "id-69", "", false)
		},
		want: deliveryStats{Keys: 6, Times: 3, Count: 3},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := t0
			tt.opts.Now = func() time.Time { return now }
			d := newTestDeliveries(t, tt.opts)
			tt.run(t, d, &now)
			wantStats(t, d, tt.want)
		})
	}
}
