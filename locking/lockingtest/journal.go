package lockingtest

import (
	"context"
	"testing"
	"time"

	"github.com/atollhq/atoll/locking"
)

func testJournal(t *testing.T, s locking.Store, c *clock) {
	ctx := context.Background()
	want := func(recs ...locking.JobRecord) {
		t.Helper()
		got, err := s.Jobs(ctx)
		if err != nil {
			t.Fatalf("Jobs: %v", err)
		}
		if d := diff(recs, got); d != "" {
			t.Errorf("Jobs mismatch (-want +got):\n%s", d)
		}
	}
	save := func(j locking.JobRecord) locking.JobRecord {
		t.Helper()
		if err := s.SaveJob(ctx, j); err != nil {
			t.Fatalf("SaveJob(%s): %v", j.ID, err)
		}
		if j.Updated.IsZero() {
			j.Updated = c.Now()
		}
		return j
	}
	want()
	a := save(locking.JobRecord{ID: "a", Repo: "github.com/acme/infra", Pull: 1, State: "queued", Work: []byte(`{"kind":"autoplan"}`)})
	c.Advance(time.Second)
	b := save(locking.JobRecord{ID: "b", Repo: "github.com/acme/infra", Pull: 2, State: "running", HeadSHA: "abc", Comments: []int64{7, 8}})
	want(a, b)
	// Saving again replaces the record and moves it to the end.
	c.Advance(time.Second)
	a.State, a.HeadSHA, a.Comments, a.Updated = "running", "def", []int64{9}, time.Time{}
	a = save(a)
	want(b, a)
	if err := s.DeleteJob(ctx, "b"); err != nil {
		t.Fatalf("DeleteJob(b): %v", err)
	}
	if err := s.DeleteJob(ctx, "nope"); err != nil {
		t.Errorf("DeleteJob of nothing = %v, want nil", err)
	}
	want(a)
	if err := s.SaveJob(ctx, locking.JobRecord{}); err == nil {
		t.Errorf("SaveJob without an ID succeeded")
	}
	if err := s.DeleteJob(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	want()
}
