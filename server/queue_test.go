package server

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/vcs"
)

// Work no replica could finish turns the check it left pending into an error,
// on the PR's head even when the work came from a comment (which does not
// carry the head commit), and on atoll/apply for an apply.
func TestGiveUpQueuedSettlesStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		work       Work
		wantStatus string // "" for none
	}{
		{"autoplan", Work{Kind: WorkAutoplan, Pull: openPull()}, statusPlan},
		{"plan comment", Work{Kind: WorkCommand, Command: Command{Name: CmdPlan}, Pull: vcs.PullRequest{Num: 1}}, statusPlan},
		{"apply comment", Work{Kind: WorkCommand, Command: Command{Name: CmdApply}, Pull: vcs.PullRequest{Num: 1}}, statusApply},
		{"unlock comment", Work{Kind: WorkCommand, Command: Command{Name: CmdUnlock}, Pull: vcs.PullRequest{Num: 1}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, gh := newPipelineServer(t, Config{}, openPull(), func(context.Context, runner.Job) (runner.Result, error) {
				t.Error("nothing should run")
				return runner.Result{}, nil
			})
			w := tt.work
			w.ID, w.Repo = "gone", testRepo
			payload, err := json.Marshal(w)
			if err != nil {
				t.Fatal(err)
			}
			s.GiveUpQueued(context.Background(), payload, 3)
			if !hasComment(gh.allComments(), "gave up on this job") {
				t.Errorf("no give-up comment: %q", gh.allComments())
			}
			gh.mu.Lock()
			statuses := append([]vcs.Status(nil), gh.statuses...)
			gh.mu.Unlock()
			if tt.wantStatus == "" {
				if len(statuses) != 0 {
					t.Errorf("statuses = %+v, want none", statuses)
				}
				return
			}
			if len(statuses) != 1 || statuses[0].Context != tt.wantStatus || statuses[0].State != vcs.StatusError || statuses[0].SHA != testSHA {
				t.Errorf("statuses = %+v, want one %s error on %s", statuses, tt.wantStatus, testSHA)
			}
		})
	}
}

// An apply taken over from a replica that stopped is not run again: its pull
// request hears that it may be partial, on the head the journal recorded.
func TestTakenOverApplyIsNotRunAgain(t *testing.T) {
	t.Parallel()
	s, gh := newPipelineServer(t, Config{}, openPull(), func(context.Context, runner.Job) (runner.Result, error) {
		t.Error("the apply ran again")
		return runner.Result{}, nil
	})
	w := Work{ID: "applying", Kind: WorkCommand, Command: Command{Name: CmdApply, Raw: "atoll apply"}, Repo: testRepo, Pull: vcs.PullRequest{Num: 1}, User: "bob"}
	ctx := context.Background()
	rec := journalRecord(w, journalRunning)
	rec.HeadSHA, rec.Comments = testSHA, []int64{}
	s.saveJournal(ctx, rec)
	payload, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	s.HandleQueued(ctx, payload, 2)
	if !hasComment(gh.allComments(), "Atoll stopped while it was running `atoll apply`") {
		t.Errorf("no comment about the cut-off apply: %q", gh.allComments())
	}
	if st, ok := gh.lastStatus(statusApply); !ok || st.State != vcs.StatusError || st.SHA != testSHA {
		t.Errorf("atoll/apply = %+v, want error on %s", st, testSHA)
	}
	if recs, _ := s.cfg.Store.Jobs(ctx); len(recs) != 0 {
		t.Errorf("journal still holds %+v", recs)
	}
}

// Every job is journaled while it runs and forgotten when it ends.
func TestJobsAreJournaled(t *testing.T) {
	t.Parallel()
	var seen []string
	var s *Server
	s, _ = newPipelineServer(t, Config{}, openPull(), func(ctx context.Context, _ runner.Job) (runner.Result, error) {
		recs, err := s.cfg.Store.Jobs(ctx)
		for _, r := range recs {
			seen = append(seen, r.ID+":"+r.State+":"+r.HeadSHA)
		}
		return runner.Result{}, err
	})
	s.Execute(context.Background(), planWork("j1"))
	if len(seen) == 0 || seen[0] != "j1:running:"+testSHA {
		t.Errorf("journal while running = %q, want j1 running at the head", seen)
	}
	if recs, _ := s.cfg.Store.Jobs(context.Background()); len(recs) != 0 {
		t.Errorf("journal after the job = %+v, want empty", recs)
	}
}
