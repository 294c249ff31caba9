package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/vcs"
)

func (d *countingDispatcher) dispatched() []Work {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Work(nil), d.works...)
}

func mustEnqueue(t *testing.T, st locking.Store, k locking.Key, pull int) {
	t.Helper()
	n := strconv.Itoa(pull)
	e := locking.QueueEntry{Pull: pull, PullURL: "https://github.com/acme/infra/pull/" + n, User: "u" + n, HeadSHA: "sha" + n}
	if _, err := st.Enqueue(context.Background(), k, e); err != nil {
		t.Fatal(err)
	}
}

// Unlocking from the API hands the lock to the first pull request in its
// queue and plans it; the API and the page show the queue.
func TestLockQueueAPIUnlockHandsOver(t *testing.T) {
	t.Parallel()
	d := &countingDispatcher{}
	s, st := newTestServer(t, Config{Dispatcher: d})
	ctx := context.Background()
	k := locking.Key{Repo: "github.com/acme/infra", Dir: "network", Workspace: "default"}
	if err := st.Acquire(ctx, []locking.Lock{{Key: k, Pull: 7, User: "alice", Project: "net"}}); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, st, k, 8)
	mustEnqueue(t, st, k, 9)
	var got struct{ Locks []LockView }
	rec := do(t, s.Handler(), http.MethodGet, "/api/locks", nil)
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || len(got.Locks) != 1 {
		t.Fatalf("GET /api/locks = %d %s (%v)", rec.Code, rec.Body, err)
	}
	if q := got.Locks[0].Queue; len(q) != 2 || q[0].Pull != 8 || q[0].Position != 1 || q[1].Pull != 9 || q[1].Position != 2 || q[1].User != "u9" {
		t.Errorf("queue in /api/locks = %+v; want #8 then #9", q)
	}
	page := do(t, s.Handler(), http.MethodGet, "/", nil).Body.String()
	if !strings.Contains(page, "Queued plans, run in this order when the lock is released") ||
		!strings.Contains(page, `<a href="https://github.com/acme/infra/pull/8">#8</a> (u8, <code>sha8</code>`) {
		t.Errorf("locks page does not show the queue:\n%s", page)
	}
	if m := do(t, s.Handler(), http.MethodGet, "/metrics", nil).Body.String(); !strings.Contains(m, "atoll_plans_queued 2") {
		t.Errorf("metrics lack atoll_plans_queued 2")
	}

	if rec := do(t, s.Handler(), http.MethodDelete, "/locks/"+url.PathEscape(k.String()), nil); rec.Code != http.StatusOK {
		t.Fatalf("DELETE lock = %d %s", rec.Code, rec.Body)
	}
	l, err := st.Get(ctx, k)
	if err != nil || l.Pull != 8 || l.Project != "net" && l.Project != "" {
		t.Errorf("lock after DELETE = %+v, %v; want #8's", l, err)
	}
	works := d.dispatched()
	if len(works) != 1 {
		t.Fatalf("dispatched %d works; want the autoplan of #8", len(works))
	}
	w := works[0]
	want := Handover{Key: k, From: 7, Why: whyAPI}
	if w.Kind != WorkAutoplan || w.Pull.Num != 8 || w.Handover == nil || *w.Handover != want || w.Repo.ID() != k.Repo {
		t.Errorf("dispatched %+v (handover %+v); want an autoplan of #8 handed %+v", w, w.Handover, want)
	}
	if q, _ := st.Queue(ctx, k); len(q) != 1 || q[0].Pull != 9 {
		t.Errorf("queue after the handover = %+v; want #9", q)
	}
}

// The reconciler drops pull requests that are gone from the queues, then
// releases a gone holder's lock to the first open one, and hands a free
// lock with a queue to its first pull request.
func TestReconcileLockQueues(t *testing.T) {
	t.Parallel()
	d := &countingDispatcher{}
	s, _ := newPipelineServer(t, Config{Dispatcher: d}, openPull(), nil) // #1 is open; others are gone
	st := s.cfg.Store
	ctx := context.Background()
	root := locking.Key{Repo: testRepo.ID(), Dir: ".", Workspace: "default"}
	dns := locking.Key{Repo: testRepo.ID(), Dir: "dns", Workspace: "default"}
	if err := st.Acquire(ctx, []locking.Lock{{Key: root, Pull: 2}}); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, st, root, 5)
	mustEnqueue(t, st, root, 1)
	mustEnqueue(t, st, dns, 1) // free, with a queue: a replica stopped before its handover
	n, err := s.Reconcile(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Reconcile = %d, %v; want #2's lock released", n, err)
	}
	// dns was free on the first pass: it may be a release whose handover is
	// under way. The next pass hands it over.
	if _, err := st.Get(ctx, dns); err == nil {
		t.Errorf("the first pass handed over dns; want it to wait for the second")
	}
	if n, err := s.Reconcile(ctx); err != nil || n != 0 {
		t.Fatalf("second Reconcile = %d, %v; want nothing released", n, err)
	}
	for _, k := range []locking.Key{root, dns} {
		if l, err := st.Get(ctx, k); err != nil || l.Pull != 1 {
			t.Errorf("lock %s after Reconcile = %+v, %v; want #1's", k.Dir, l, err)
		}
	}
	if qs, err := st.Queues(ctx, ""); err != nil || len(qs) != 0 {
		t.Errorf("queues after Reconcile = %+v, %v; want none", qs, err)
	}
	var got []Handover
	for _, w := range d.dispatched() {
		if w.Pull.Num != 1 || w.Handover == nil {
			t.Errorf("dispatched %+v; want autoplans of #1 only", w)
			continue
		}
		got = append(got, *w.Handover)
	}
	want := []Handover{{Key: root, From: 2, Why: "was deleted"}, {Key: dns}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("handovers = %+v; want %+v", got, want)
	}
}

// A pull request handed one lock whose plan needs another lock, held by a
// third pull request, keeps the first and waits in the second's queue, and
// its comment says so; `atoll unlock` then takes it out of the queue.
func TestHandedPlanRequeues(t *testing.T) {
	t.Parallel()
	ran := 0
	s, gh := newPipelineServer(t, Config{LiveCommentDelay: -1}, openPull(), func(context.Context, runner.Job) (runner.Result, error) {
		ran++
		return runner.Result{}, nil
	})
	dir := s.cfg.Runner.(trackingRunner).Runner.(*fakeRunner).dir
	if err := os.MkdirAll(filepath.Join(dir, "dns"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"atoll.yaml":  "version: 3\nprojects:\n- dir: .\n- dir: dns\n",
		"dns/main.tf": "resource \"terraform_data\" \"zone\" {}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	gh.changed = []string{"main.tf", "dns/main.tf"}
	st := s.cfg.Store
	ctx := context.Background()
	root := locking.Key{Repo: testRepo.ID(), Dir: ".", Workspace: "default"}
	dns := locking.Key{Repo: testRepo.ID(), Dir: "dns", Workspace: "default"}
	mustEnqueue(t, st, root, 1)
	if l, ok, err := st.Handover(ctx, root); err != nil || !ok || l.Pull != 1 {
		t.Fatalf("Handover = %+v, %v, %v", l, ok, err)
	}
	if err := st.Acquire(ctx, []locking.Lock{{Key: dns, Pull: 3, User: "carol"}}); err != nil {
		t.Fatal(err)
	}
	s.Execute(ctx, Work{ID: "h1", Kind: WorkAutoplan, Repo: testRepo, Pull: vcs.PullRequest{Num: 1}, User: "alice", Queued: time.Now(),
		Handover: &Handover{Key: root, From: 2, Why: "was merged"}})
	comments := gh.allComments()
	if len(comments) != 1 {
		t.Fatalf("%d comments; want 1: %q", len(comments), comments)
	}
	for _, want := range []string{
		"**This plan was queued** for `.` (workspace `default`). #2 was merged and passed that lock to this pull request, which keeps it; but the plan also needs `dns`, which #3 holds, so it waits in that lock's queue now.",
		"| `dns` | `default` | queued behind #3 (position 1) |",
		"Plan blocked for `.`: it waits with `dns`, which is queued behind #3 (a command locks all its projects together).",
	} {
		if !strings.Contains(comments[0], want) {
			t.Errorf("comment lacks %q:\n%s", want, comments[0])
		}
	}
	t.Logf("the comment of a handed-over plan that queues again:\n%s", comments[0])
	if ran != 0 {
		t.Errorf("terraform ran %d times; want none", ran)
	}
	if l, err := st.Get(ctx, root); err != nil || l.Pull != 1 {
		t.Errorf("root lock = %+v, %v; want kept by #1", l, err)
	}
	if q, err := st.Queue(ctx, dns); err != nil || len(q) != 1 || q[0].Pull != 1 {
		t.Errorf("dns queue = %+v, %v; want #1", q, err)
	}
	if st, ok := gh.lastStatus(statusPlan); !ok || st.Description != "queued behind #3 (position 1) for dns" {
		t.Errorf("plan status = %+v; want it to say #1 is queued behind #3", st)
	}

	s.Execute(ctx, Work{ID: "u1", Kind: WorkCommand, Repo: testRepo, Pull: vcs.PullRequest{Num: 1}, User: "alice", Queued: time.Now(),
		Command: Command{Name: CmdUnlock, Raw: "atoll unlock"}})
	if q, err := st.Queue(ctx, dns); err != nil || len(q) != 0 {
		t.Errorf("dns queue after `atoll unlock` = %+v, %v; want empty", q, err)
	}
	if _, err := st.Get(ctx, root); err == nil {
		t.Errorf("root lock still held after `atoll unlock`")
	}
}

// A project name from the repository cannot break out of its code span in
// the comment that says a queued plan runs.
func TestHandoverIntroQuotesNames(t *testing.T) {
	t.Parallel()
	k := locking.Key{Repo: testRepo.ID(), Dir: "net", Workspace: "default"}
	r := &prRun{w: Work{Handover: &Handover{Key: k, Project: "a`b\n\n@evil [x](https://evil.example)", From: 2, Why: whyUnlocked}},
		pull: vcs.PullRequest{HeadSHA: testSHA}}
	got := r.handoverIntro()
	want := "**This plan was queued** behind #2 for `` a`b  @evil [x](https://evil.example) `` (workspace `default`). #2 released it with `atoll unlock`, and the lock passed to this pull request, so Atoll planned its latest commit (0123456) now."
	if got != want {
		t.Errorf("handoverIntro =\n%s\nwant\n%s", got, want)
	}
}
