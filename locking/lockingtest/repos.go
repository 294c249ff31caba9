package lockingtest

import (
	"context"
	"testing"
	"time"

	"github.com/atollhq/atoll/locking"
)

func testRepos(t *testing.T, s locking.Store, c *clock) {
	ctx := context.Background()
	want := func(recs ...locking.RepoRecord) {
		t.Helper()
		got, err := s.Repos(ctx)
		if err != nil {
			t.Fatalf("Repos: %v", err)
		}
		if d := diff(recs, got); d != "" {
			t.Errorf("Repos mismatch (-want +got):\n%s", d)
		}
	}
	save := func(r locking.RepoRecord) locking.RepoRecord {
		t.Helper()
		if err := s.SaveRepo(ctx, r); err != nil {
			t.Fatalf("SaveRepo(%s): %v", r.ID, err)
		}
		if r.Seen.IsZero() {
			r.Seen = c.Now()
		}
		return r
	}
	want()
	b := save(locking.RepoRecord{ID: "github.com/acme/web", Repo: []byte(`{"Name":"web"}`)})
	a := save(locking.RepoRecord{ID: "github.com/acme/infra", Repo: []byte(`{"Name":"infra"}`)})
	want(a, b)
	// Saving again replaces the record.
	c.Advance(time.Minute)
	a.Repo, a.Seen = []byte(`{"Name":"infra","DefaultBranch":"trunk"}`), time.Time{}
	a = save(a)
	want(a, b)
	if err := s.DeleteRepo(ctx, b.ID); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	if err := s.DeleteRepo(ctx, "github.com/acme/none"); err != nil {
		t.Errorf("DeleteRepo of nothing = %v, want nil", err)
	}
	want(a)
	if err := s.SaveRepo(ctx, locking.RepoRecord{}); err == nil {
		t.Errorf("SaveRepo without an ID succeeded")
	}
}
