package server

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/vcs"
)

// A commenter below --command-permission gets one comment naming the rule;
// nothing runs, no lock is taken, no status is set.
func TestCommandNeedsRepositoryPermission(t *testing.T) {
	t.Parallel()
	ran := 0
	s, gh := newPipelineServer(t, Config{}, openPull(), func(context.Context, runner.Job) (runner.Result, error) {
		ran++
		return runner.Result{}, nil
	})
	gh.perms = map[string]vcs.Permission{"mallory": vcs.PermRead, "tom": vcs.PermTriage}
	for i, cmd := range []string{CmdPlan, CmdApply, CmdUnlock, CmdApprovePolicies} {
		w := planWork("j" + cmd)
		w.User, w.Command = "mallory", Command{Name: cmd, Raw: "atoll " + cmd}
		s.Execute(context.Background(), w)
		comments := gh.allComments()
		if len(comments) != i+1 {
			t.Fatalf("after %s: %d comments, want %d: %q", cmd, len(comments), i+1, comments)
		}
		last := comments[i]
		for _, want := range []string{"Atoll did not run `atoll " + cmd + "`", "@mallory may not run", "**write** permission", "@mallory has read", "`--command-permission`"} {
			if !strings.Contains(last, want) {
				t.Errorf("%s refusal lacks %q:\n%s", cmd, want, last)
			}
		}
	}
	if ran != 0 {
		t.Errorf("terraform ran %d times for a refused user", ran)
	}
	if len(gh.statuses) != 0 {
		t.Errorf("statuses set for a refused user: %+v", gh.statuses)
	}
	if locks, _ := s.cfg.Store.List(context.Background(), locking.Filter{}); len(locks) != 0 {
		t.Errorf("locks taken for a refused user: %+v", locks)
	}
	// Permission is read once a minute at most per user.
	if gh.permCalls != 1 {
		t.Errorf("permission API called %d times for 4 commands, want 1 (cached)", gh.permCalls)
	}

	// --command-permission triage lets triage run; any lets everyone.
	for _, tt := range []struct {
		need, user string
		ok         bool
	}{
		{"triage", "tom", true}, {"triage", "mallory", false}, {PermissionAny, "mallory", true}, {"admin", "alice", false},
	} {
		s2, gh2 := newPipelineServer(t, Config{CommandPermission: tt.need}, openPull(), func(context.Context, runner.Job) (runner.Result, error) {
			return runner.Result{}, nil
		})
		gh2.perms = gh.perms
		w := planWork("j")
		w.User = tt.user
		s2.Execute(context.Background(), w)
		refused := hasComment(gh2.allComments(), "may not run")
		if refused == tt.ok {
			t.Errorf("--command-permission %s, user %s: refused=%v, want ok=%v; comments %q", tt.need, tt.user, refused, tt.ok, gh2.allComments())
		}
	}
}

func TestNewRefusesUnknownCommandPermission(t *testing.T) {
	t.Parallel()
	_, err := New(Config{CommandPermission: "owner", Parser: fakeParser{}, VCS: nopVCS{}, Store: nopStore{}, Runner: nopRunner{}})
	if err == nil || !strings.Contains(err.Error(), "owner") {
		t.Errorf("New with command permission owner = %v, want an error naming it", err)
	}
}

// nopStore is a lock store no test below reaches.
type nopStore struct{ locking.Store }

func TestApprovalsCountOnlyValidReviews(t *testing.T) {
	t.Parallel()
	head := testSHA
	old := "1111111111111111111111111111111111111111"
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	rv := func(user, state, commit string, at time.Time) vcs.Review {
		return vcs.Review{User: user, State: state, CommitID: commit, SubmittedAt: at}
	}
	perms := map[string]vcs.Permission{"reader": vcs.PermRead, "triager": vcs.PermTriage, "maint": vcs.PermMaintain}
	tests := []struct {
		name    string
		reviews []vcs.Review
		plan    locking.Plan
		want    int
		ignored string
	}{
		{"writer on head", []vcs.Review{rv("bob", "APPROVED", head, t0)}, locking.Plan{}, 1, ""},
		{"maintainer counts", []vcs.Review{rv("maint", "APPROVED", head, t0)}, locking.Plan{}, 1, ""},
		{"author's own approval", []vcs.Review{rv("Alice", "APPROVED", head, t0)}, locking.Plan{}, 0, "@Alice opened the pull request"},
		{"read permission", []vcs.Review{rv("reader", "APPROVED", head, t0)}, locking.Plan{}, 0, "@reader has read, not write access"},
		{"triage permission", []vcs.Review{rv("triager", "APPROVED", head, t0)}, locking.Plan{}, 0, "@triager has triage"},
		{"earlier commit", []vcs.Review{rv("bob", "APPROVED", old, t0)}, locking.Plan{}, 0, "@bob approved an earlier commit (1111111)"},
		{"dismissed", []vcs.Review{rv("bob", "APPROVED", head, t0), rv("bob", "DISMISSED", head, t0.Add(time.Minute))}, locking.Plan{}, 0, ""},
		{"changes requested later", []vcs.Review{rv("bob", "APPROVED", head, t0), rv("bob", "CHANGES_REQUESTED", head, t0.Add(time.Minute))}, locking.Plan{}, 0, ""},
		{"comment after approval keeps it", []vcs.Review{rv("bob", "APPROVED", head, t0), rv("bob", "COMMENTED", head, t0.Add(time.Minute))}, locking.Plan{}, 1, ""},
		{"approved before a -destroy re-plan", []vcs.Review{rv("bob", "APPROVED", head, t0)},
			locking.Plan{ExtraArgs: []string{"-destroy"}, ArgsChangedAt: t0.Add(time.Minute)}, 0, "@bob approved before the plan changed (it was made again with `-destroy`"},
		{"approved after the -destroy re-plan", []vcs.Review{rv("bob", "APPROVED", head, t0.Add(2*time.Minute))},
			locking.Plan{ExtraArgs: []string{"-destroy"}, ArgsChangedAt: t0.Add(time.Minute)}, 1, ""},
		{"superseded by id, same second", []vcs.Review{{ID: 5, User: "bob", State: "APPROVED", CommitID: head, SubmittedAt: t0.Add(time.Minute)}},
			locking.Plan{ExtraArgs: []string{"-destroy"}, ArgsChangedAt: t0.Add(time.Minute), SupersededReviews: []int64{4, 5}}, 0, "@bob approved before the plan changed"},
		{"new review in the same second counts", []vcs.Review{{ID: 6, User: "bob", State: "APPROVED", CommitID: head, SubmittedAt: t0.Add(time.Minute)}},
			locking.Plan{ExtraArgs: []string{"-destroy"}, ArgsChangedAt: t0.Add(time.Minute), SupersededReviews: []int64{4, 5}}, 1, ""},
		{"two writers", []vcs.Review{rv("bob", "APPROVED", head, t0), rv("carol", "APPROVED", head, t0)}, locking.Plan{}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, gh := newPipelineServer(t, Config{}, openPull(), nil)
			gh.perms = perms
			r := &prRun{s: s, w: Work{Repo: testRepo}, pull: openPull(), log: s.log}
			l := &liveReqs{r: r, reviews: tt.reviews, reviewsLoaded: true}
			got := l.approvals(context.Background(), tt.plan)
			if got.valid != tt.want {
				t.Errorf("valid approvals = %d, want %d (ignored %q)", got.valid, tt.want, got.ignored)
			}
			if tt.ignored != "" && !strings.Contains(strings.Join(got.ignored, "; "), tt.ignored) {
				t.Errorf("ignored = %q, want it to say %q", got.ignored, tt.ignored)
			}
			checks, ok := r.requirements(config.Project{}, tt.plan, []string{config.ReqApproved}, &got, nil)
			if ok != (tt.want > 0) || len(checks) != 1 {
				t.Errorf("requirements met = %v with %d approvals: %+v", ok, tt.want, checks)
			}
		})
	}
}

// A failed re-plan replaces the plan before it: `atoll apply` then refuses and
// says why, instead of applying the older plan.
func TestFailedReplanDiscardsPreviousPlan(t *testing.T) {
	t.Parallel()
	calls := 0
	var applied int
	s, gh := newPipelineServer(t, Config{}, openPull(), func(_ context.Context, job runner.Job) (runner.Result, error) {
		if job.PlanFile != "" && len(job.Steps) > 0 && job.Steps[len(job.Steps)-1].Kind == config.StepApply {
			applied++
			return runner.Result{Output: "Apply complete!"}, nil
		}
		calls++
		if calls == 2 {
			return runner.Result{}, &runner.StepError{Step: "plan", ExitCode: 1, Output: "Error: Invalid reference"}
		}
		if err := os.WriteFile(job.PlanFile, []byte("plan"), 0o600); err != nil {
			return runner.Result{}, err
		}
		return runner.Result{Plan: &runner.PlanSummary{Add: 1, HasChanges: true}}, nil
	})
	ctx := context.Background()
	s.Execute(ctx, planWork("plan-ok"))
	w := planWork("plan-fails")
	w.Command = Command{Name: CmdPlan, Raw: "atoll plan -- -target=x", ExtraArgs: []string{"-target=x"}}
	s.Execute(ctx, w)
	plans, err := s.cfg.Store.Plans(ctx, testRepo.ID(), 1)
	if err != nil || len(plans) != 1 || !plans[0].Failed || len(plans[0].Data) != 0 {
		t.Fatalf("plans after a failed re-plan = %+v, %v; want one failed record without data", plans, err)
	}
	if _, err := os.Stat(plans[0].Path); err == nil {
		t.Errorf("plan file %s still on disk after the failed re-plan", plans[0].Path)
	}
	apply := planWork("apply")
	apply.Command = Command{Name: CmdApply, Raw: "atoll apply"}
	s.Execute(ctx, apply)
	if applied != 0 {
		t.Fatalf("apply ran %d times after a failed re-plan", applied)
	}
	comments := gh.allComments()
	if last := comments[len(comments)-1]; !strings.Contains(last, "the last plan of this project (at 0123456) failed, so there is no plan to apply") {
		t.Errorf("apply comment does not say the last plan failed:\n%s", last)
	}
}

// A re-plan with the same arguments whose planned changes differ (a module or
// data source outside the repository changed) supersedes the approvals given
// so far; a re-plan with the same changes keeps them.
func TestReplanWithOtherChangesSupersedesApprovals(t *testing.T) {
	t.Parallel()
	digests := []string{"d1", "d1", "d2", "d2"}
	calls := 0
	s, gh := newPipelineServer(t, Config{}, openPull(), func(_ context.Context, job runner.Job) (runner.Result, error) {
		d := digests[calls]
		calls++
		if err := os.WriteFile(job.PlanFile, []byte("plan "+d), 0o600); err != nil {
			return runner.Result{}, err
		}
		return runner.Result{Plan: &runner.PlanSummary{Add: 1, HasChanges: true, ChangesDigest: d}}, nil
	})
	gh.reviews = []vcs.Review{{ID: 41, User: "bob", State: "APPROVED", CommitID: testSHA, SubmittedAt: time.Now()}}
	ctx := context.Background()
	plan := func() locking.Plan {
		t.Helper()
		s.Execute(ctx, planWork(newJobID()))
		plans, err := s.cfg.Store.Plans(ctx, testRepo.ID(), 1)
		if err != nil || len(plans) != 1 {
			t.Fatalf("plans = %+v, %v", plans, err)
		}
		return plans[0]
	}
	if p := plan(); !p.ArgsChangedAt.IsZero() || p.ChangesDigest != "d1" {
		t.Fatalf("first plan: changed at %v, digest %q", p.ArgsChangedAt, p.ChangesDigest)
	}
	if p := plan(); !p.ArgsChangedAt.IsZero() {
		t.Fatalf("same changes again: the plan counts as changed at %v", p.ArgsChangedAt)
	}
	p := plan()
	if p.ArgsChangedAt.IsZero() || len(p.SupersededReviews) != 1 || p.SupersededReviews[0] != 41 {
		t.Fatalf("other changes: changed at %v, superseded %v; want now and [41]", p.ArgsChangedAt, p.SupersededReviews)
	}
	if p2 := plan(); !p2.ArgsChangedAt.Equal(p.ArgsChangedAt) || len(p2.SupersededReviews) != 1 {
		t.Errorf("same changes as the last plan: changed at %v (was %v), superseded %v", p2.ArgsChangedAt, p.ArgsChangedAt, p2.SupersededReviews)
	}
}
