package server

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/vcs"
)

// dispatch journals w and queues it, as a webhook does.
func dispatch(t *testing.T, s *Server, w Work) {
	t.Helper()
	s.journalQueued(context.Background(), w)
	if err := s.cfg.Dispatcher.Dispatch(context.Background(), w); err != nil {
		t.Fatal(err)
	}
}

// blockingPlans returns a run function whose plans block until their context
// ends, and the number of plans that started and that saw their context end.
func blockingPlans() (func(context.Context, runner.Job) (runner.Result, error), *atomic.Int32, *atomic.Int32) {
	var started, stopped atomic.Int32
	return func(ctx context.Context, job runner.Job) (runner.Result, error) {
		if !slices.ContainsFunc(job.Steps, func(s config.Step) bool { return s.Kind == config.StepPlan }) {
			return runner.Result{}, nil
		}
		started.Add(1)
		<-ctx.Done()
		stopped.Add(1)
		return runner.Result{}, &runner.StepError{Step: "plan", ExitCode: -1, Output: "interrupted", Err: ctx.Err()}
	}, &started, &stopped
}

// TestCancelCommand: `atoll cancel` stops the running plan (its context
// ends, so terraform gets SIGINT), drops the queued apply, keeps the lock,
// and says so; the plan's comment and status say who cancelled it.
func TestCancelCommand(t *testing.T) {
	t.Parallel()
	run, started, stopped := blockingPlans()
	s, gh := newPipelineServer(t, Config{MaxParallelJobs: 3}, openPull(), run)
	dispatch(t, s, planWork("plan1"))
	waitFor(t, func() bool { return started.Load() == 1 }, "the plan to start")
	apply := planWork("apply1")
	apply.Command = Command{Name: CmdApply, Raw: "atoll apply"}
	dispatch(t, s, apply)
	waitFor(t, func() bool { j, ok := s.jobs.get("apply1"); return ok && j.Snapshot().State == JobRunning }, "the apply to wait for the plan")
	cancel := planWork("cancel1")
	cancel.User, cancel.Command = "bob", Command{Name: CmdCancel, Raw: "atoll cancel"}
	dispatch(t, s, cancel)
	states := map[string]string{}
	for _, j := range waitJobs(t, s, 3) {
		states[j.ID] = j.State
	}
	if want := map[string]string{"plan1": JobCancelled, "apply1": JobCancelled, "cancel1": JobSucceeded}; !maps.Equal(states, want) {
		t.Errorf("job states = %v, want %v", states, want)
	}
	if stopped.Load() != 1 {
		t.Errorf("%d plans saw their context end, want 1", stopped.Load())
	}
	comments := gh.allComments()
	if !hasComment(comments, "### Cancelled: plan of `.` (default), running ") || !hasComment(comments, "; 1 queued apply") {
		t.Errorf("no cancel comment naming the plan and the queued apply:\n%s", strings.Join(comments, "\n---\n"))
	}
	if !hasComment(comments, "**`atoll plan` was cancelled by @bob**") {
		t.Errorf("the plan's comment does not say who cancelled it:\n%s", strings.Join(comments, "\n---\n"))
	}
	if hasComment(comments, "failed") {
		t.Errorf("a comment says failed:\n%s", strings.Join(comments, "\n---\n"))
	}
	st, ok := gh.lastStatus(statusPlan)
	if !ok || st.State != vcs.StatusError || st.Description != "Cancelled by @bob" {
		t.Errorf("plan status = %+v, want error \"Cancelled by @bob\"", st)
	}
	if _, ok := gh.lastStatus(statusApply); ok {
		t.Error("the cancelled queued apply set a status")
	}
	locks, err := s.cfg.Store.List(context.Background(), locking.Filter{})
	if err != nil || len(locks) != 1 {
		t.Errorf("locks after cancel = %+v, %v; want the plan's lock kept", locks, err)
	}
	events, _, err := s.cfg.Store.QueryAudit(context.Background(), locking.AuditQuery{Action: AuditCancel})
	if err != nil || len(events) != 2 {
		t.Errorf("cancel audit entries = %+v, %v; want 2", events, err)
	}
}

// TestCancelNothing: with no job to cancel, cancel says so.
func TestCancelNothing(t *testing.T) {
	t.Parallel()
	s, gh := newPipelineServer(t, Config{}, openPull(), nil)
	w := planWork("cancel1")
	w.Command = Command{Name: CmdCancel, Raw: "atoll cancel"}
	s.Execute(context.Background(), w)
	if c := gh.allComments(); !hasComment(c, "### Nothing to cancel") {
		t.Errorf("comments = %q", c)
	}
}

// TestPushCancelsPlan: an autoplan of a new head cancels the running plan
// of the old one, not an apply.
func TestPushCancelsPlan(t *testing.T) {
	t.Parallel()
	run, started, stopped := blockingPlans()
	s, gh := newPipelineServer(t, Config{MaxParallelJobs: 3}, openPull(), run)
	old := Work{ID: "auto1", Kind: WorkAutoplan, Repo: testRepo, Pull: openPull(), User: "alice", Queued: time.Now()}
	dispatch(t, s, old)
	waitFor(t, func() bool { return started.Load() == 1 }, "the first plan to start")
	pull := openPull()
	pull.HeadSHA = strings.Repeat("b", 40)
	gh.mu.Lock()
	gh.pull = pull
	gh.mu.Unlock()
	dispatch(t, s, Work{ID: "auto2", Kind: WorkAutoplan, Repo: testRepo, Pull: pull, User: "alice", Queued: time.Now()})
	waitFor(t, func() bool { return started.Load() == 2 }, "the new head's plan to start")
	if stopped.Load() != 1 {
		t.Fatalf("%d plans stopped, want the old head's", stopped.Load())
	}
	var oldStatus vcs.Status
	gh.mu.Lock()
	for _, st := range gh.statuses {
		if st.SHA == testSHA && st.Context == statusPlan {
			oldStatus = st
		}
	}
	gh.mu.Unlock()
	if oldStatus.State != vcs.StatusError || !strings.Contains(oldStatus.Description, "a newer push (bbbbbbb)") {
		t.Errorf("old head's plan status = %+v, want error naming the new push", oldStatus)
	}
	if c := gh.allComments(); hasComment(c, "failed") {
		t.Errorf("a comment says failed:\n%s", strings.Join(c, "\n---\n"))
	}
	// A push of the same head again cancels nothing.
	dispatch(t, s, Work{ID: "auto3", Kind: WorkAutoplan, Repo: testRepo, Pull: pull, User: "alice", Queued: time.Now()})
	time.Sleep(200 * time.Millisecond)
	if stopped.Load() != 1 {
		t.Errorf("a push of the same head stopped its plan")
	}
	for _, id := range []string{"auto3", "auto2"} {
		if err := s.mark(context.Background(), id, Cancellation{By: "test", Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	waitJobs(t, s, 3)
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
