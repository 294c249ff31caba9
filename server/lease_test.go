package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/vcs"
)

// losingLeaser is a PullLeaser whose lease is lost when lose is called.
type losingLeaser struct {
	lose chan struct{}
}

func (l *losingLeaser) LockPull(ctx context.Context, key string) (func(), error) {
	return func() {}, nil
}

func (l *losingLeaser) LeasePull(ctx context.Context, key string) (context.Context, func(), error) {
	held, cancel := context.WithCancelCause(locking.WithFence(ctx, locking.Fence{Key: "fence:" + key, Token: 3}))
	go func() {
		<-l.lose
		cancel(fmt.Errorf("%w: this replica lost contact with Redis and could not renew its lease on pull request %s for 1.3s", locking.ErrLeaseLost, key))
	}()
	return held, func() { cancel(context.Canceled) }, nil
}

var _ PullLeaser = (*losingLeaser)(nil)

// A job whose replica loses its lease on the PR while terraform runs: the
// job's context ends (terraform is interrupted), the PR hears that this
// replica lost contact with Redis, the job's statuses are left for the replica
// that takes it over, and HandleQueued says the lease was lost, so the queue
// leaves the job for that replica.
func TestLeaseLostStopsJob(t *testing.T) {
	t.Parallel()
	leaser := &losingLeaser{lose: make(chan struct{})}
	s, gh := newPipelineServer(t, Config{PullMutex: leaser}, openPull(), func(ctx context.Context, job runner.Job) (runner.Result, error) {
		if _, ok := locking.FenceFrom(ctx); !ok {
			t.Error("terraform runs under a context without the lease's fence")
		}
		close(leaser.lose)
		<-ctx.Done() // terraform gets SIGINT
		return runner.Result{}, &runner.StepError{Step: "plan", ExitCode: -1, Output: "interrupted", Err: ctx.Err()}
	})
	w := Work{ID: "planning", Kind: WorkAutoplan, Repo: testRepo, Pull: openPull(), User: "alice"}
	payload, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	err = s.HandleQueued(context.Background(), payload, 1)
	if !errors.Is(err, locking.ErrLeaseLost) {
		t.Fatalf("HandleQueued = %v, want ErrLeaseLost", err)
	}
	if !hasComment(gh.allComments(), "the replica running it lost its lease (lease lost: this replica lost contact with Redis") {
		t.Errorf("no comment says the replica lost contact with Redis: %q", gh.allComments())
	}
	if st, ok := gh.lastStatus(statusPlan); !ok || st.State != vcs.StatusPending {
		t.Errorf("atoll/plan = %+v, %t; want it left pending for the replica that takes the job over", st, ok)
	}
}
