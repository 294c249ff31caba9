package lockingtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/atollhq/atoll/locking"
)

func testAudit(t *testing.T, s locking.Store, c *clock) {
	ctx := context.Background()
	page := func(q locking.AuditQuery) ([]string, string) {
		t.Helper()
		es, next, err := s.QueryAudit(ctx, q)
		if err != nil {
			t.Fatalf("QueryAudit(%+v): %v", q, err)
		}
		var out []string
		for _, e := range es {
			if e.ID == "" {
				t.Errorf("entry %+v has no ID", e)
			}
			out = append(out, e.Detail)
		}
		return out, next
	}
	if got, next := page(locking.AuditQuery{}); len(got) != 0 || next != "" {
		t.Fatalf("empty trail: %v, %q", got, next)
	}
	start := c.Now()
	for i := 0; i < 7; i++ {
		c.Advance(time.Minute)
		e := locking.AuditEvent{User: "alice", Action: "plan", Repo: "github.com/acme/infra", Pull: 1, Result: "planned", Detail: fmt.Sprint(i)}
		if i%2 == 1 {
			e.User, e.Action, e.Result = "bob", "apply", "applied"
		}
		if i == 6 {
			e.Repo = "github.com/acme/web"
		}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
	}
	all, _ := page(locking.AuditQuery{})
	if fmt.Sprint(all) != "[6 5 4 3 2 1 0]" {
		t.Errorf("all entries = %v, want newest first", all)
	}
	// Pagination: pages of 3, then the rest, then none.
	p1, next := page(locking.AuditQuery{Limit: 3})
	p2, next2 := page(locking.AuditQuery{Limit: 3, Cursor: next})
	p3, next3 := page(locking.AuditQuery{Limit: 3, Cursor: next2})
	if fmt.Sprint(p1, p2, p3) != "[6 5 4] [3 2 1] [0]" || next == "" || next2 == "" || next3 != "" {
		t.Errorf("pages = %v %v %v (cursors %q %q %q)", p1, p2, p3, next, next2, next3)
	}
	// Filters.
	if got, _ := page(locking.AuditQuery{User: "bob"}); fmt.Sprint(got) != "[5 3 1]" {
		t.Errorf("user bob = %v", got)
	}
	if got, _ := page(locking.AuditQuery{Action: "plan", Repo: "github.com/acme/infra"}); fmt.Sprint(got) != "[4 2 0]" {
		t.Errorf("plans of acme/infra = %v", got)
	}
	if got, _ := page(locking.AuditQuery{Result: "applied", Limit: 2}); fmt.Sprint(got) != "[5 3]" {
		t.Errorf("applied, 2 = %v", got)
	}
	// Time range: entries 2..4 were written at start+3m..start+5m.
	if got, _ := page(locking.AuditQuery{From: start.Add(3 * time.Minute), To: start.Add(5 * time.Minute)}); fmt.Sprint(got) != "[4 3 2]" {
		t.Errorf("time range = %v", got)
	}
	// Pruning drops what is older than the cutoff, and only that.
	n, err := s.PruneAudit(ctx, start.Add(3*time.Minute))
	if err != nil || n != 2 {
		t.Errorf("PruneAudit = %d, %v; want 2", n, err)
	}
	if got, _ := page(locking.AuditQuery{}); fmt.Sprint(got) != "[6 5 4 3 2]" {
		t.Errorf("after pruning = %v", got)
	}
	if _, _, err := s.QueryAudit(ctx, locking.AuditQuery{Cursor: "not-a-cursor"}); err == nil {
		t.Error("a malformed cursor was accepted")
	}
}
