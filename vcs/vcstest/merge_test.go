package vcstest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
	atollgh "github.com/atollhq/atoll/vcs/github"
)

// nextPullEvent waits for the next webhook and fails unless it is a pull_request event.
func nextPullEvent(t *testing.T, ch <-chan received) *github.PullRequestEvent {
	t.Helper()
	r := next(t, ch)
	ev, ok := r.payload.(*github.PullRequestEvent)
	if !ok {
		t.Fatalf("webhook %s is %T, want *github.PullRequestEvent", r.event, r.payload)
	}
	return ev
}

// errMessage returns GitHub's message of a go-github error.
func errMessage(err error) string {
	var er *github.ErrorResponse
	if errors.As(err, &er) {
		return er.Message
	}
	return ""
}

func TestMergePullAPI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method string
		title  string // commit_title sent, "" for none
		msg    string // commit_message sent, "" for none
		// check inspects the new tip of main in the bare repo gitDir.
		check func(t *testing.T, gitDir, base, head, tip string)
	}{
		{method: "", check: func(t *testing.T, gitDir, base, head, tip string) {
			if got := gitCmd(t, gitDir, "show", "-s", "--format=%P", tip); got != base+" "+head {
				t.Errorf("merge parents %q, want %q", got, base+" "+head)
			}
			if got := gitCmd(t, gitDir, "show", "-s", "--format=%B", tip); got != "Merge pull request #1 from acme/feature\n\nChange network" {
				t.Errorf("merge message %q", got)
			}
		}},
		{method: "merge", title: "Deploy network", msg: "Applied by Atoll.", check: func(t *testing.T, gitDir, base, head, tip string) {
			if got := gitCmd(t, gitDir, "show", "-s", "--format=%B", tip); got != "Deploy network\n\nApplied by Atoll." {
				t.Errorf("merge message %q", got)
			}
		}},
		{method: "squash", check: func(t *testing.T, gitDir, base, head, tip string) {
			if got := gitCmd(t, gitDir, "show", "-s", "--format=%P", tip); got != base {
				t.Errorf("squash parents %q, want %q", got, base)
			}
			if got := gitCmd(t, gitDir, "show", "-s", "--format=%B", tip); got != "Change network (#1)\n\n* Change network" {
				t.Errorf("squash message %q", got)
			}
		}},
		{method: "rebase", check: func(t *testing.T, gitDir, base, head, tip string) {
			if got := gitCmd(t, gitDir, "show", "-s", "--format=%P", tip); got != base {
				t.Errorf("rebased parent %q, want %q", got, base)
			}
			if tip == head {
				t.Error("rebase kept the head commit instead of replaying it")
			}
			if got, want := gitCmd(t, gitDir, "show", "-s", "--format=%an <%ae> / %cn <%ce>", tip), "Atoll Test <test@atoll.invalid> / GitHub <noreply@github.com>"; got != want {
				t.Errorf("rebased author / committer = %q, want %q", got, want)
			}
			if got, want := gitCmd(t, gitDir, "show", "-s", "--format=%B", tip), gitCmd(t, gitDir, "show", "-s", "--format=%B", head); got != want {
				t.Errorf("rebased message %q, want %q", got, want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run("method "+tt.method+" "+tt.title, func(t *testing.T) {
			t.Parallel()
			recv, ch := newReceiver(t, testSecret)
			f := newFixture(t, Options{WebhookURL: recv.URL, WebhookSecret: testSecret, BotUser: "atoll[bot]"})
			ctx := testCtx(t)
			nextPullEvent(t, ch) // opened
			base := mustResolve(t, f.s, "main")

			res, _, err := f.gh.PullRequests.Merge(ctx, "acme", "infra", f.num, tt.msg, &github.PullRequestOptions{
				SHA: f.headSHA, MergeMethod: tt.method, CommitTitle: tt.title,
			})
			if err != nil {
				t.Fatalf("Merge: %v", err)
			}
			tip := mustResolve(t, f.s, "main")
			if !res.GetMerged() || res.GetSHA() != tip || res.GetMessage() != "Pull Request successfully merged" {
				t.Errorf("Merge result = %+v, want merged at main's tip %s", res, tip)
			}
			gitDir := f.s.gitDir("acme", "infra")
			// Main now holds the head's changes: its tree is the head's,
			// since main did not move after the branch was made.
			if out, err := runGit(t, gitDir, "diff", "--quiet", f.headSHA, tip); err != nil {
				t.Errorf("main's tree differs from the head's after the merge: %v\n%s", err, out)
			}
			if got := gitCmd(t, gitDir, "show", tip+":network/new.tf"); got != "locals { x = 1 }" {
				t.Errorf("network/new.tf on main = %q", got)
			}
			tt.check(t, gitDir, base, f.headSHA, tip)
			if got := gitCmd(t, gitDir, "worktree", "list", "--porcelain"); strings.Count(got, "worktree ") != 1 {
				t.Errorf("worktrees left behind:\n%s", got)
			}

			pr, _, err := f.gh.PullRequests.Get(ctx, "acme", "infra", f.num)
			if err != nil {
				t.Fatal(err)
			}
			if pr.GetState() != "closed" || !pr.GetMerged() || pr.GetMergeCommitSHA() != tip || pr.GetMergedBy().GetLogin() != "atoll[bot]" {
				t.Errorf("after merge: state %s merged %v merge sha %s merged by %s",
					pr.GetState(), pr.GetMerged(), pr.GetMergeCommitSHA(), pr.GetMergedBy().GetLogin())
			}

			ev := nextPullEvent(t, ch)
			if ev.GetAction() != "closed" || !ev.GetPullRequest().GetMerged() || ev.GetNumber() != f.num ||
				ev.GetPullRequest().GetMergeCommitSHA() != tip || ev.GetSender().GetLogin() != "atoll[bot]" {
				t.Errorf("webhook after merge: action %s merged %v num %d merge sha %s sender %s",
					ev.GetAction(), ev.GetPullRequest().GetMerged(), ev.GetNumber(),
					ev.GetPullRequest().GetMergeCommitSHA(), ev.GetSender().GetLogin())
			}
		})
	}
}

func TestMergePullAPIRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup changes the fixture and returns the sha to merge at ("" for none).
		setup      func(t *testing.T, f fixture) string
		num        int // 0 means the fixture's pull request
		method     string
		wantStatus int
		wantMsg    string
	}{
		{
			name: "stale sha",
			setup: func(t *testing.T, f fixture) string {
				if _, err := f.s.Push(testCtx(t), f.repo, "feature", map[string]string{"network/more.tf": "locals {}\n"}, "More"); err != nil {
					t.Fatal(err)
				}
				return f.headSHA
			},
			wantStatus: http.StatusConflict, wantMsg: "Head branch was modified. Review and try the merge again.",
		},
		{
			name: "conflict",
			setup: func(t *testing.T, f fixture) string {
				if _, err := f.s.Push(testCtx(t), f.repo, "main", map[string]string{"network/main.tf": "# changed on main\n"}, "Clash"); err != nil {
					t.Fatal(err)
				}
				return f.headSHA
			},
			wantStatus: http.StatusMethodNotAllowed, wantMsg: "Pull Request is not mergeable",
		},
		{
			name: "conflict on rebase",
			setup: func(t *testing.T, f fixture) string {
				if _, err := f.s.Push(testCtx(t), f.repo, "main", map[string]string{"network/main.tf": "# changed on main\n"}, "Clash"); err != nil {
					t.Fatal(err)
				}
				return f.headSHA
			},
			method:     "rebase",
			wantStatus: http.StatusMethodNotAllowed, wantMsg: "Pull Request is not mergeable",
		},
		{
			name: "closed",
			setup: func(t *testing.T, f fixture) string {
				if err := f.s.ClosePull(testCtx(t), f.repo, f.num, false); err != nil {
					t.Fatal(err)
				}
				return f.headSHA
			},
			wantStatus: http.StatusMethodNotAllowed, wantMsg: "Pull Request is not mergeable",
		},
		{
			name: "already merged",
			setup: func(t *testing.T, f fixture) string {
				if _, _, err := f.gh.PullRequests.Merge(testCtx(t), "acme", "infra", f.num, "", nil); err != nil {
					t.Fatal(err)
				}
				return ""
			},
			wantStatus: http.StatusMethodNotAllowed, wantMsg: "Pull Request is not mergeable",
		},
		{
			name: "blocked",
			setup: func(t *testing.T, f fixture) string {
				if err := f.s.SetMergeable(f.repo, f.num, false, "blocked"); err != nil {
					t.Fatal(err)
				}
				return f.headSHA
			},
			wantStatus: http.StatusMethodNotAllowed, wantMsg: "Pull Request is not mergeable",
		},
		{
			name:       "unknown pull",
			setup:      func(t *testing.T, f fixture) string { return "" },
			num:        99,
			wantStatus: http.StatusNotFound, wantMsg: "Not Found",
		},
		{
			name: "issue",
			setup: func(t *testing.T, f fixture) string {
				if _, _, err := f.gh.Issues.Create(testCtx(t), "acme", "infra", &github.IssueRequest{Title: github.String("Drift")}); err != nil {
					t.Fatal(err)
				}
				return ""
			},
			num:        2,
			wantStatus: http.StatusNotFound, wantMsg: "Not Found",
		},
		{
			name:       "unknown method",
			setup:      func(t *testing.T, f fixture) string { return f.headSHA },
			method:     "octopus",
			wantStatus: http.StatusUnprocessableEntity, wantMsg: `"octopus" is not a member`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Options{})
			ctx := testCtx(t)
			sha := tt.setup(t, f)
			before := mustResolve(t, f.s, "main")
			num := tt.num
			if num == 0 {
				num = f.num
			}
			_, _, err := f.gh.PullRequests.Merge(ctx, "acme", "infra", num, "", &github.PullRequestOptions{SHA: sha, MergeMethod: tt.method})
			if statusOf(err) != tt.wantStatus || !strings.Contains(errMessage(err), tt.wantMsg) {
				t.Fatalf("Merge error = %v, want %d %q", err, tt.wantStatus, tt.wantMsg)
			}
			if after := mustResolve(t, f.s, "main"); after != before {
				t.Errorf("main moved from %s to %s on a refused merge", before, after)
			}
			if got := gitCmd(t, f.s.gitDir("acme", "infra"), "worktree", "list", "--porcelain"); strings.Count(got, "worktree ") != 1 {
				t.Errorf("worktrees left behind:\n%s", got)
			}
		})
	}
}

func TestDeleteRefAPI(t *testing.T) {
	t.Parallel()
	recv, ch := newReceiver(t, testSecret)
	f := newFixture(t, Options{WebhookURL: recv.URL, WebhookSecret: testSecret})
	ctx := testCtx(t)
	nextPullEvent(t, ch) // opened
	if _, err := f.s.Push(ctx, f.repo, "feat/nested", map[string]string{"x.tf": "locals {}\n"}, "Nested"); err != nil {
		t.Fatal(err)
	}

	if !f.s.BranchExists(f.repo, "feat/nested") {
		t.Fatal("BranchExists(feat/nested) = false after Push")
	}
	if _, err := f.gh.Git.DeleteRef(ctx, "acme", "infra", "heads/feat/nested"); err != nil {
		t.Fatalf("DeleteRef(heads/feat/nested): %v", err)
	}
	if f.s.BranchExists(f.repo, "feat/nested") {
		t.Error("BranchExists(feat/nested) = true after DeleteRef")
	}
	if !f.s.BranchExists(f.repo, "main") || !f.s.BranchExists(f.repo, "feature") {
		t.Error("DeleteRef took other branches with it")
	}

	for _, tc := range []struct {
		ref, want string
		status    int
	}{
		{"heads/feat/nested", "Reference does not exist", http.StatusUnprocessableEntity},
		{"heads/never", "Reference does not exist", http.StatusUnprocessableEntity},
		{"heads/bad..name", "Reference does not exist", http.StatusUnprocessableEntity},
		{"notes/x", "Reference does not exist", http.StatusUnprocessableEntity},
		{"heads/main", "Cannot delete the default branch", http.StatusUnprocessableEntity},
	} {
		_, err := f.gh.Git.DeleteRef(ctx, "acme", "infra", tc.ref)
		if statusOf(err) != tc.status || errMessage(err) != tc.want {
			t.Errorf("DeleteRef(%s) = %v, want %d %q", tc.ref, err, tc.status, tc.want)
		}
	}
	if _, err := f.gh.Git.DeleteRef(ctx, "acme", "nope", "heads/feature"); statusOf(err) != http.StatusNotFound {
		t.Errorf("DeleteRef in an unknown repo = %v, want 404", err)
	}
	if f.s.BranchExists(vcs.Repo{Owner: "acme", Name: "nope"}, "main") {
		t.Error("BranchExists in an unknown repo = true")
	}

	// Deleting an open pull request's head branch closes it, as on GitHub.
	if _, err := f.gh.Git.DeleteRef(ctx, "acme", "infra", "heads/feature"); err != nil {
		t.Fatalf("DeleteRef(heads/feature): %v", err)
	}
	ev := nextPullEvent(t, ch)
	if ev.GetAction() != "closed" || ev.GetPullRequest().GetMerged() || ev.GetNumber() != f.num {
		t.Errorf("after deleting the head branch: action %s merged %v num %d, want closed unmerged #%d",
			ev.GetAction(), ev.GetPullRequest().GetMerged(), ev.GetNumber(), f.num)
	}
	pr, _, err := f.gh.PullRequests.Get(ctx, "acme", "infra", f.num)
	if err != nil || pr.GetState() != "closed" || pr.GetMerged() {
		t.Errorf("pull request after its branch went: %s merged %v (%v)", pr.GetState(), pr.GetMerged(), err)
	}
}

// TestMergeFromWebhookHandler merges from inside a webhook handler that
// handles one delivery at a time, as Atoll's per-PR pipeline does. The
// "closed" webhook must wait for the answer rather than block the merge.
func TestMergeFromWebhookHandler(t *testing.T) {
	t.Parallel()
	var (
		handling sync.Mutex // one delivery at a time
		gh       *github.Client
		mergeErr = make(chan error, 1)
		closed   = make(chan *github.PullRequestEvent, 1)
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handling.Lock()
		defer handling.Unlock()
		body, err := github.ValidatePayload(r, []byte(testSecret))
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		ev, err := github.ParseWebHook(github.WebHookType(r), body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch ev := ev.(type) {
		case *github.IssueCommentEvent:
			_, _, err := gh.PullRequests.Merge(r.Context(), "acme", "infra", ev.GetIssue().GetNumber(), "", nil)
			mergeErr <- err
		case *github.PullRequestEvent:
			if ev.GetAction() == "closed" {
				closed <- ev
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(recv.Close)
	f := newFixture(t, Options{WebhookURL: recv.URL, WebhookSecret: testSecret})
	gh = f.gh
	ctx := testCtx(t)

	if _, err := f.s.Comment(ctx, f.repo, f.num, "alice", "atoll apply"); err != nil {
		t.Fatalf("Comment: %v", err)
	}
	if err := <-mergeErr; err != nil {
		t.Fatalf("Merge from the webhook handler: %v", err)
	}
	select {
	case ev := <-closed:
		if !ev.GetPullRequest().GetMerged() {
			t.Error("closed webhook says not merged")
		}
	case <-ctx.Done():
		t.Fatal("no closed webhook after the merge")
	}
}

// TestClientMergePull runs Atoll's own GitHub client against the fake.
func TestClientMergePull(t *testing.T) {
	t.Parallel()
	recv, ch := newReceiver(t, testSecret)
	f := newFixture(t, Options{WebhookURL: recv.URL, WebhookSecret: testSecret})
	ctx := testCtx(t)
	nextPullEvent(t, ch) // opened
	client, err := atollgh.New(atollgh.Config{APIURL: f.s.APIURL(), Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	pull, err := client.GetPullRequest(ctx, f.repo, f.num)
	if err != nil {
		t.Fatal(err)
	}

	// A pull request read before its head moved is refused.
	if _, err := f.s.Push(ctx, f.repo, "feature", map[string]string{"network/more.tf": "locals {}\n"}, "More"); err != nil {
		t.Fatal(err)
	}
	nextPullEvent(t, ch) // synchronize
	if err := client.MergePull(ctx, f.repo, pull, "squash", true); !errors.Is(err, vcs.ErrNotMergeable) ||
		!strings.Contains(err.Error(), "Head branch was modified") {
		t.Fatalf("MergePull at a stale head = %v, want vcs.ErrNotMergeable", err)
	}
	if !f.s.BranchExists(f.repo, "feature") {
		t.Fatal("a refused merge deleted the branch")
	}

	pull, err = client.GetPullRequest(ctx, f.repo, f.num)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.MergePull(ctx, f.repo, pull, "squash", true); err != nil {
		t.Fatalf("MergePull: %v", err)
	}
	if f.s.BranchExists(f.repo, "feature") {
		t.Error("head branch still exists after MergePull with deleteBranch")
	}
	gitDir := f.s.gitDir("acme", "infra")
	if out, err := runGit(t, gitDir, "diff", "--quiet", pull.HeadSHA, "refs/heads/main"); err != nil {
		t.Errorf("main lacks the head's changes: %v\n%s", err, out)
	}
	ev := nextPullEvent(t, ch)
	if ev.GetAction() != "closed" || !ev.GetPullRequest().GetMerged() {
		t.Errorf("webhook after MergePull: action %s merged %v", ev.GetAction(), ev.GetPullRequest().GetMerged())
	}
	got, err := client.GetPullRequest(ctx, f.repo, f.num)
	if err != nil || got.State != vcs.PullMerged {
		t.Errorf("pull request after MergePull: state %s (%v), want merged", got.State, err)
	}
	// The branch was deleted after the PR was merged, so no second "closed" arrives.
	if err := client.MergePull(ctx, f.repo, pull, "", true); !errors.Is(err, vcs.ErrNotMergeable) {
		t.Errorf("merging again = %v, want vcs.ErrNotMergeable", err)
	}
	// Close waits for background deliveries, so every delivery is recorded.
	f.s.Close()
	var closedCount int
	for _, d := range f.s.Deliveries() {
		if d.Event == "pull_request" && d.Action == "closed" {
			closedCount++
		}
	}
	if diff := cmp.Diff(1, closedCount); diff != "" {
		t.Errorf("closed deliveries (-want +got):\n%s", diff)
	}
}
