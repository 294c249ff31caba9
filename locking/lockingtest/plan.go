package lockingtest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/atollhq/atoll/locking"
)

// plan returns a plan record for k and pull.
func plan(k locking.Key, pull int, sha string) locking.Plan {
	data := []byte("plan of " + k.String() + " at " + sha)
	return locking.Plan{
		Key: k, Pull: pull, Project: "proj-" + k.Dir, HeadSHA: sha,
		Path:    "/var/atoll/plans/" + k.Dir + ".tfplan",
		Data:    data,
		SHA256:  fmt.Sprintf("%x", data),
		Summary: "1 to add, 0 to change, 0 to destroy", HasChanges: true,
	}
}

func wantPlans(t *testing.T, s locking.Store, repo string, pull int, want []locking.Plan) {
	t.Helper()
	got, err := s.Plans(context.Background(), repo, pull)
	if err != nil {
		t.Fatalf("Plans(%s, %d): %v", repo, pull, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Plans(%s, %d) mismatch (-want +got):\n%s", repo, pull, d)
	}
}

func testPlans(t *testing.T, s locking.Store, c *clock) {
	ctx := context.Background()
	a, b := "github.com/acme/a", "github.com/acme/b"
	save := func(p locking.Plan) locking.Plan {
		t.Helper()
		if err := s.SavePlan(ctx, p); err != nil {
			t.Fatalf("SavePlan(%s #%d): %v", p.Key, p.Pull, err)
		}
		if p.Time.IsZero() {
			p.Time = c.Now()
		}
		return p
	}
	wantPlans(t, s, a, 1, nil)
	pz := save(plan(key(a, "z"), 1, "s1"))
	pa := save(plan(key(a, "a"), 1, "s1"))
	given := plan(key(a, "m"), 1, "s1")
	given.Time = time.Date(2021, 6, 7, 8, 9, 10, 11, time.UTC)
	given.HasChanges = false
	given.Summary = "No changes."
	pm := save(given)
	other := save(plan(key(a, "z"), 2, "s9"))
	otherRepo := save(plan(key(b, "z"), 1, "s8"))
	wantPlans(t, s, a, 1, []locking.Plan{pa, pm, pz})

	// Saving the same repo, pull and key replaces the record.
	c.Advance(time.Hour)
	replaced := plan(key(a, "z"), 1, "s2")
	replaced.Data = []byte("second plan")
	replaced.Applied = true
	replaced.Policy = &locking.PolicyCheck{ApprovedBy: "carol", Results: []locking.PolicyResult{
		{Set: "tags", Failures: []string{"missing tag owner"}, Warnings: []string{"name"}}, {Set: "cost"},
		{Set: "iam", Failures: []string{"admin role"}, Required: 2, Approvals: []string{"dave", "erin"}}}}
	replaced.ExtraArgs = []string{"-destroy", "-target=a.b"}
	replaced.ArgsChangedAt = time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)
	replaced.SupersededReviews = []int64{7, 9}
	replaced.ChangesDigest = "c0ffee"
	replaced.Resources = []locking.ResourceChange{{Address: "terraform_data.a", Action: "create"}, {Address: "module.m.x.y[0]", Action: "replace"}}
	replaced.MergeSHA = "c0ffee0000000000000000000000000000000000"
	pz2 := save(replaced)
	// A failed plan replaces the record with one that has no data.
	failed := plan(key(a, "f"), 1, "s2")
	failed.Data, failed.SHA256, failed.Summary, failed.HasChanges, failed.Failed = nil, "", "", false, true
	failed.SupersededReviews = []int64{} // none, which is not unknown
	pf := save(failed)
	wantPlans(t, s, a, 1, []locking.Plan{pa, pf, pm, pz2})
	// Recorded-but-empty superseded reviews are not "unknown" (nil).
	if got, err := s.Plans(ctx, a, 1); err == nil && len(got) == 4 {
		if got[1].SupersededReviews == nil || got[0].SupersededReviews != nil {
			t.Errorf("SupersededReviews: empty read back as %#v, unset as %#v", got[1].SupersededReviews, got[0].SupersededReviews)
		}
	}

	if err := s.DeletePlans(ctx, a, 1); err != nil {
		t.Fatalf("DeletePlans(a, 1): %v", err)
	}
	wantPlans(t, s, a, 1, nil)
	wantPlans(t, s, a, 2, []locking.Plan{other})
	wantPlans(t, s, b, 1, []locking.Plan{otherRepo})
	if err := s.DeletePlans(ctx, a, 1); err != nil {
		t.Errorf("DeletePlans of nothing = %v, want nil", err)
	}

	// Invalid records are refused.
	for _, p := range []locking.Plan{plan(key(a, "z"), 0, "s"), plan(locking.Key{Repo: a}, 1, "s")} {
		if err := s.SavePlan(ctx, p); err == nil {
			t.Errorf("SavePlan(%s #%d) = nil, want an error", p.Key, p.Pull)
		}
	}
	// Plans and locks are separate: deleting plans leaves locks alone.
	mustAcquire(t, s, lock(key(b, "z"), 1))
	if err := s.DeletePlans(ctx, b, 1); err != nil {
		t.Fatal(err)
	}
	wantGet(t, s, at(lock(key(b, "z"), 1), c.Now()))
}

func testPlanData(t *testing.T, s locking.Store, c *clock) {
	// A binary plan file (zip-like, every byte value, invalid UTF-8) of 1 MiB.
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	copy(data, "PK\x03\x04\x00\xff\xfe")
	p := plan(key("github.com/acme/infra", "network"), 3, "abc")
	p.Data = data
	if err := s.SavePlan(context.Background(), p); err != nil {
		t.Fatalf("SavePlan: %v", err)
	}
	got, err := s.Plans(context.Background(), p.Key.Repo, 3)
	if err != nil {
		t.Fatalf("Plans: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("Plans returned %d records, want 1", len(got))
	}
	if !bytes.Equal(got[0].Data, data) {
		t.Errorf("plan Data changed in the store: got %d bytes, want %d", len(got[0].Data), len(data))
	}
	p.Time = c.Now()
	got[0].Data, p.Data = nil, nil
	if d := diff(p, got[0]); d != "" {
		t.Errorf("plan record mismatch (-want +got):\n%s", d)
	}
}
