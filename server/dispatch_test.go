package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/atollhq/atoll/locking/bolt"
	"github.com/atollhq/atoll/runner"
)

// TestLocalDispatcherBounded: many more dispatches than the bound start no
// more goroutines than the workers and the feeder; work past the queue waits
// in the journal, runs later, oldest first, and every job runs exactly once
// (a waiting record an earlier process left is Recover's, not run here).
func TestLocalDispatcherBounded(t *testing.T) {
	st, err := bolt.New(filepath.Join(t.TempDir(), "atoll.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	old := journalRecord(Work{ID: "old", Kind: WorkAutoplan}, journalWaiting)
	old.Updated = time.Now().Add(-time.Hour)
	if err := st.SaveJob(ctx, old); err != nil {
		t.Fatal(err)
	}

	const workers, queueLen, n = 2, 3, 200
	var (
		mu    sync.Mutex
		runs  = map[string]int{}
		order []string
	)
	release := make(chan struct{})
	run := func(_ context.Context, w Work) {
		<-release
		mu.Lock()
		runs[w.ID]++
		order = append(order, w.ID)
		mu.Unlock()
		_ = st.DeleteJob(ctx, w.ID) // as Execute does when a job ends
	}
	base := runtime.NumGoroutine()
	d := newLocalDispatcher(ctx, workers, queueLen, st, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), run)
	for i := range n {
		w := Work{ID: fmt.Sprintf("w%03d", i), Kind: WorkAutoplan}
		rec := journalRecord(w, journalQueued) // as handleEvents does first
		rec.Updated = time.Now()
		if err := st.SaveJob(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if err := d.Dispatch(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if got, max := runtime.NumGoroutine()-base, workers+1; got > max {
		t.Errorf("%d goroutines after %d dispatches; want at most %d (workers and feeder)", got, n, max)
	}
	recs, err := st.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waiting := 0
	for _, r := range recs {
		if r.State == journalWaiting && r.ID != "old" {
			waiting++
		}
	}
	if min := n - workers - queueLen; waiting < min {
		t.Errorf("%d jobs wait in the journal; want at least %d", waiting, min)
	}

	close(release)
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		done := len(order)
		mu.Unlock()
		if done >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs ran", done, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := d.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if id := fmt.Sprintf("w%03d", i); runs[id] != 1 {
			t.Errorf("job %s ran %d times, want 1", id, runs[id])
		}
	}
	if runs["old"] != 0 || len(order) != n {
		t.Errorf("%d runs (old ran %d times); want %d", len(order), runs["old"], n)
	}
	// Waiting work runs oldest first, the journal's order. Workers finish
	// in any order, and on a loaded machine one may sleep while the other
	// runs several jobs, so the check is on the whole order: its mean
	// displacement stays within the workers' reach (a random order would
	// be about n/3 off, newest first about n/2).
	total := 0
	for pos, id := range order {
		var i int
		fmt.Sscanf(id, "w%03d", &i)
		total += max(pos-i, i-pos)
	}
	if mean := float64(total) / float64(len(order)); mean > workers {
		t.Errorf("jobs ended %.1f places from their turn on average, want at most %d: %v", mean, workers, order)
	}
	recs, _ = st.Jobs(ctx)
	if len(recs) != 1 || recs[0].ID != "old" {
		t.Errorf("journal after all ran: %+v; want only the earlier process's record", recs)
	}
}

// TestLocalDispatcherDrainLeavesWaiting: work waiting in the journal when the
// server drains stays there for Recover, and Dispatch then fails.
func TestLocalDispatcherDrainLeavesWaiting(t *testing.T) {
	t.Parallel()
	st, err := bolt.New(filepath.Join(t.TempDir(), "atoll.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	release := make(chan struct{})
	ran := make(chan string, 10)
	d := newLocalDispatcher(ctx, 1, 1, st, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), func(_ context.Context, w Work) {
		<-release
		ran <- w.ID
		_ = st.DeleteJob(ctx, w.ID)
	})
	for _, id := range []string{"a", "b", "c", "d"} {
		if err := d.Dispatch(ctx, Work{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	drained := make(chan error)
	go func() { drained <- d.Drain(ctx) }()
	time.Sleep(50 * time.Millisecond) // Drain has begun
	if err := d.Dispatch(ctx, Work{ID: "e"}); err == nil {
		t.Error("Dispatch after Drain succeeded")
	}
	close(release)
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	close(ran)
	var got []string
	for id := range ran {
		got = append(got, id)
	}
	recs, _ := st.Jobs(ctx)
	var waiting []string
	for _, r := range recs {
		if r.State == journalWaiting {
			waiting = append(waiting, r.ID)
		}
	}
	// The worker may take "a" before or after "b" arrives: one or two fit
	// in memory, the rest wait, and none is both.
	seen := map[string]int{}
	for _, id := range append(got, waiting...) {
		seen[id]++
	}
	if len(got) < 1 || len(got) > 2 || len(seen) != 4 || len(got)+len(waiting) != 4 {
		t.Errorf("ran %v, waiting %v; want 1 or 2 run (worker and queue), the others waiting", got, waiting)
	}
}

// TestRecoverWaitingJobs: jobs an earlier process left waiting in the journal
// are Recover's: a plan runs once (not also from the feeder), and an apply is
// reported as not run, as a queued one is.
func TestRecoverWaitingJobs(t *testing.T) {
	t.Parallel()
	s, gh := newPipelineServer(t, Config{}, openPull(), func(context.Context, runner.Job) (runner.Result, error) {
		return runner.Result{}, nil
	})
	ctx := context.Background()
	plan, apply := planWork("p1"), planWork("a1")
	apply.Command = Command{Name: CmdApply, Raw: "atoll apply"}
	for _, w := range []Work{plan, apply} {
		rec := journalRecord(w, journalWaiting)
		rec.Updated = time.Now().Add(-time.Hour)
		if err := s.cfg.Store.SaveJob(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	s.local.poke()
	s.local.feedOnce() // the feeder leaves an earlier process's records alone
	if err := s.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	waitJobs(t, s, 1)
	time.Sleep(100 * time.Millisecond) // a second run would have started by now
	if jobs := s.jobs.list(); len(jobs) != 1 || jobs[0].ID == "p1" || jobs[0].Command != CmdPlan {
		t.Errorf("jobs after Recover: %+v; want the plan once, under a new ID", jobs)
	}
	if !hasComment(gh.allComments(), "before it could run `atoll apply`") {
		t.Errorf("no comment says the waiting apply was not run: %q", gh.allComments())
	}
	waitJournalEmpty(t, s)
}

// waitJournalEmpty waits until s's journal holds no job: each is forgotten
// just after its state is final.
func waitJournalEmpty(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs, err := s.cfg.Store.Jobs(context.Background())
		if err == nil && len(recs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("journal: %+v, %v; want it empty", recs, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLocalDispatcherPipelineOverflow: real jobs (Execute, which journals
// them running and forgets them at the end) through a dispatcher with room
// for few: every job runs once and the journal ends empty.
func TestLocalDispatcherPipelineOverflow(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s, gh := newPipelineServer(t, Config{}, openPull(), func(context.Context, runner.Job) (runner.Result, error) {
		<-release
		return runner.Result{}, nil
	})
	ctx := context.Background()
	if err := s.local.Drain(ctx); err != nil { // replaced by a smaller one
		t.Fatal(err)
	}
	s.local = newLocalDispatcher(s.baseCtx, 2, 2, s.cfg.Store, s.cfg.Now, s.log, s.Execute)
	s.cfg.Dispatcher = s.local
	const n = 30
	for i := range n {
		w := planWork(fmt.Sprintf("job%02d", i))
		s.journalQueued(ctx, w) // as handleEvents does
		if err := s.cfg.Dispatcher.Dispatch(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	jobs := waitJobs(t, s, n)
	seen := map[string]int{}
	for _, j := range jobs {
		seen[j.ID]++
	}
	if len(seen) != n || len(jobs) != n {
		t.Errorf("%d jobs (%d distinct), want %d once each", len(jobs), len(seen), n)
	}
	if got := len(gh.allComments()); got < n {
		t.Errorf("%d comments for %d plans", got, n)
	}
	waitJournalEmpty(t, s)
}
