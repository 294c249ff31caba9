package server

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atollhq/atoll/drift"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/notify"
	"github.com/atollhq/atoll/vcs"
)

type recNotifier struct {
	mu     sync.Mutex // guards events
	events []notify.Event
}

func (r *recNotifier) Notify(e notify.Event, _ ...notify.Target) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recNotifier) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Kind)
	}
	return out
}

// Drift is reported when a check finds it after an in-sync one (a failed
// check in between changes nothing), and when it is resolved; not again
// while it lasts.
func TestNotifyDrift(t *testing.T) {
	t.Parallel()
	rn := &recNotifier{}
	s, _ := newTestServer(t, Config{Notifier: rn})
	repo := vcs.Repo{Host: "github.com", Owner: "acme", Name: "infra"}
	var hist []drift.Check
	check := func(st drift.Status) {
		hist = append(hist, drift.Check{Status: st})
		s.notifyDrift([]drift.Result{{Repo: repo, Project: "network", Workspace: "default", Status: st, History: append([]drift.Check(nil), hist...)}})
	}
	for _, st := range []drift.Status{drift.InSync, drift.Drifted, drift.Drifted, drift.Failed, drift.Drifted, drift.InSync, drift.InSync} {
		check(st)
	}
	if got := rn.kinds(); len(got) != 2 || got[0] != notify.DriftOpened || got[1] != notify.DriftResolved {
		t.Errorf("drift notifications = %v, want drift_opened then drift_resolved", got)
	}
	if e := rn.events[0]; e.Repo != "acme/infra" || e.Project != "network" {
		t.Errorf("drift event = %+v", e)
	}
}

// A lock held past the threshold is reported once; released and taken
// again, it is a new lock.
func TestNotifyStaleLocks(t *testing.T) {
	t.Parallel()
	rn := &recNotifier{}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	s, st := newTestServer(t, Config{Notifier: rn, NotifyLockStaleAfter: 24 * time.Hour, Now: func() time.Time { return now }})
	ctx := context.Background()
	key := locking.Key{Repo: "github.com/acme/infra", Dir: "network", Workspace: "default"}
	if err := st.Acquire(ctx, []locking.Lock{{Key: key, Pull: 7, User: "alice", Time: now.Add(-30 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	fresh := locking.Key{Repo: "github.com/acme/infra", Dir: "apps", Workspace: "default"}
	if err := st.Acquire(ctx, []locking.Lock{{Key: fresh, Pull: 8, User: "bob", Time: now.Add(-time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	s.notifyStaleLocks(ctx)
	s.notifyStaleLocks(ctx)
	if got := rn.kinds(); len(got) != 1 || got[0] != notify.LockStale {
		t.Fatalf("notifications = %v, want one lock_stale", got)
	}
	if e := rn.events[0]; e.Pull != 7 || e.Project != "network" ||
		e.Text != "`network` · workspace `default` of acme/infra has been locked by #7 (@alice) for 30h; other pull requests cannot plan it. Merge or close #7, or comment `atoll unlock` there." {
		t.Errorf("lock_stale event = %+v", e)
	}
	if _, err := st.ReleasePull(ctx, key.Repo, 7); err != nil {
		t.Fatal(err)
	}
	s.notifyStaleLocks(ctx)
	if err := st.Acquire(ctx, []locking.Lock{{Key: key, Pull: 7, User: "alice", Time: now.Add(-25 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	s.notifyStaleLocks(ctx)
	if got := rn.kinds(); len(got) != 2 {
		t.Errorf("after release and a new stale lock: %v, want two lock_stale", got)
	}
}

// Audit entries are redacted before they are stored (and notified).
func TestAuditDetailRedacted(t *testing.T) {
	t.Parallel()
	rn := &recNotifier{}
	s, st := newTestServer(t, Config{Notifier: rn, Redact: func(b []byte) []byte {
		return []byte(strings.ReplaceAll(string(b), "s3cret-value", "[redacted]"))
	}})
	s.appendAudit(context.Background(), locking.AuditEvent{User: "bob", Action: AuditApply, Repo: "github.com/acme/infra", Pull: 1,
		Dir: "network", Workspace: "default", Result: "error", Detail: "step apply failed: token s3cret-value"})
	es, _, err := st.QueryAudit(context.Background(), locking.AuditQuery{})
	if err != nil || len(es) != 1 || strings.Contains(es[0].Detail, "s3cret") {
		t.Fatalf("stored entries %+v, %v", es, err)
	}
	if len(rn.events) != 1 || rn.events[0].Kind != notify.ApplyFailed || strings.Contains(rn.events[0].Text, "s3cret") {
		t.Errorf("notified %+v", rn.events)
	}
}
