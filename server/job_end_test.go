package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/vcs"
)

func planWork(id string) Work {
	return Work{ID: id, Kind: WorkCommand, Repo: testRepo, Pull: vcs.PullRequest{Num: 1}, User: "alice",
		Command: Command{Name: CmdPlan, Raw: "atoll plan"}, Queued: time.Now()}
}

func hasComment(comments []string, sub string) bool {
	for _, c := range comments {
		if strings.Contains(c, sub) {
			return true
		}
	}
	return false
}

// A panic while planning a project must not end the process, and must not leave
// the PR's check pending.
func TestProjectPanicSettlesStatus(t *testing.T) {
	t.Parallel()
	s, gh := newPipelineServer(t, Config{}, openPull(), func(context.Context, runner.Job) (runner.Result, error) {
		panic("boom")
	})
	if err := s.cfg.Dispatcher.Dispatch(context.Background(), planWork("j1")); err != nil {
		t.Fatal(err)
	}
	jobs := waitJobs(t, s, 1)
	if jobs[0].State != JobFailed {
		t.Errorf("job state = %s, want %s", jobs[0].State, JobFailed)
	}
	st, ok := gh.lastStatus(statusPlan)
	if !ok || st.State != vcs.StatusError || st.SHA != testSHA {
		t.Errorf("last %s status = %+v, want error on %s", statusPlan, st, testSHA)
	}
	if !hasComment(gh.allComments(), "internal error") {
		t.Errorf("no internal-error comment; comments: %q", gh.allComments())
	}
}

// On shutdown, a running job that is cut off and a queued job that never ran
// both say so on the PR, and no status is left pending.
func TestShutdownReportsCutOffJobs(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	s, gh := newPipelineServer(t, Config{MaxParallelJobs: 1}, openPull(), func(ctx context.Context, _ runner.Job) (runner.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		return runner.Result{}, ctx.Err()
	})
	if err := s.cfg.Dispatcher.Dispatch(context.Background(), planWork("running")); err != nil {
		t.Fatal(err)
	}
	<-started
	queued := Work{ID: "queued", Kind: WorkAutoplan, Repo: testRepo, Pull: openPull(), User: "alice", Queued: time.Now()}
	if err := s.cfg.Dispatcher.Dispatch(context.Background(), queued); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = s.Shutdown(ctx) // reports the drain timeout
	if st, ok := gh.lastStatus(statusPlan); !ok || st.State == vcs.StatusPending {
		t.Errorf("last %s status = %+v, want it settled", statusPlan, st)
	}
	comments := gh.allComments()
	for _, want := range []string{"shut down before finishing `atoll plan`", "shut down before finishing planning this push"} {
		if !hasComment(comments, want) {
			t.Errorf("no comment containing %q; comments: %q", want, comments)
		}
	}
	for _, j := range s.jobs.list() {
		if j.State != JobFailed {
			t.Errorf("job %s state = %s, want %s", j.ID, j.State, JobFailed)
		}
	}
}
