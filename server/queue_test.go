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
