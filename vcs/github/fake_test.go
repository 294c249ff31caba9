package github

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// newFakeGitHub starts vcstest's fake GitHub with repo acme/infra and returns
// it, the repo and a Client pointed at it.
func newFakeGitHub(t *testing.T, opts vcstest.Options) (*vcstest.Server, vcs.Repo, *Client) {
	t.Helper()
	testenv.Git(t)
	opts.Dir = t.TempDir()
	opts.Token = "fake-token-123"
	s, err := vcstest.New(opts)
	if err != nil {
		t.Fatalf("start fake github: %v", err)
	}
	t.Cleanup(s.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	repo, err := s.CreateRepo(ctx, "acme", "infra", map[string]string{"main.tf": "locals {}\n"})
	if err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}
	c, err := New(Config{APIURL: s.APIURL(), Token: opts.Token, User: s.BotUser()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, repo, c
}

// TestIssueTrackerAgainstFakeGitHub walks a drift issue through its life with
// the real client: open, update, close, find the closed one and reopen it
// rather than open a duplicate.
func TestIssueTrackerAgainstFakeGitHub(t *testing.T) {
	t.Parallel()
	s, repo, c := newFakeGitHub(t, vcstest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var tracker vcs.IssueTracker = c
	const label, title = "atoll-drift", "Drift: acme/infra network (default)"

	if _, ok, err := tracker.FindIssue(ctx, repo, label, title); err != nil || ok {
		t.Fatalf("FindIssue before any issue = %v, %v; want not found", ok, err)
	}
	// A same-titled issue without the label, and a labelled one with another title, must not match.
	if _, err := tracker.CreateIssue(ctx, repo, title, "by hand", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tracker.CreateIssue(ctx, repo, "Drift: acme/infra db (default)", "db", []string{label}); err != nil {
		t.Fatal(err)
	}
	created, err := tracker.CreateIssue(ctx, repo, title, "drift found", []string{label})
	if err != nil {
		t.Fatalf("CreateIssue: %v", err)
	}
	if created.State != vcs.IssueOpen || created.URL == "" || created.Num == 0 {
		t.Errorf("CreateIssue = %+v", created)
	}
	if err := tracker.UpdateIssue(ctx, repo, created.Num, "still drifting", ""); err != nil {
		t.Fatalf("UpdateIssue(body): %v", err)
	}
	if err := tracker.UpdateIssue(ctx, repo, created.Num, "back in sync", vcs.IssueClosed); err != nil {
		t.Fatalf("UpdateIssue(close): %v", err)
	}
	found, ok, err := tracker.FindIssue(ctx, repo, label, title)
	if err != nil || !ok {
		t.Fatalf("FindIssue after closing = %v, %v; want the closed issue", ok, err)
	}
	want := vcs.Issue{Num: created.Num, Title: title, Body: "back in sync", State: vcs.IssueClosed, URL: created.URL, Labels: []string{label}}
	if diff := cmp.Diff(want, found); diff != "" {
		t.Errorf("FindIssue (-want +got):\n%s", diff)
	}
	if open, err := c.ListOpenIssues(ctx, repo, label); err != nil || len(open) != 1 || open[0].Title == title {
		t.Errorf("ListOpenIssues = %+v, %v; want only the db issue", open, err)
	}
	if err := tracker.UpdateIssue(ctx, repo, found.Num, "drifted again", vcs.IssueOpen); err != nil {
		t.Fatalf("UpdateIssue(reopen): %v", err)
	}

	var got []string
	for _, is := range s.Issues(repo) {
		if is.Title == title {
			got = append(got, is.State+": "+is.Body)
		}
	}
	if diff := cmp.Diff([]string{"open: by hand", "open: drifted again"}, got); diff != "" {
		t.Errorf("issues titled %q (-want +got), the report must be reopened, not duplicated:\n%s", title, diff)
	}
}

// TestParseIssueCommentFromFakeGitHub checks that a comment on a drift issue,
// as the fake GitHub delivers it, parses to EventIssueComment, and that the
// bot's own comment on it is ignored.
func TestParseIssueCommentFromFakeGitHub(t *testing.T) {
	t.Parallel()
	const secret = "hook-secret"
	events := make(chan vcs.Event, 8)
	s, repo, c := newFakeGitHub(t, vcstest.Options{WebhookSecret: secret, BotCommentEvents: true})
	// URLs in events are built under the client's GitURL, the fake's URL.
	p := &WebhookParser{Secret: []byte(secret), BotUser: vcstest.DefaultBotUser, GitURL: c.GitURL()}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := p.Parse(r)
		if err != nil {
			t.Errorf("Parse: %v", err)
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		events <- ev
	}))
	t.Cleanup(recv.Close)
	s.SetWebhookURL(recv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	is, err := c.CreateIssue(ctx, repo, "Drift: acme/infra network (default)", "drift found", []string{"atoll-drift"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.CommentOnIssue(ctx, repo, is.Num, "alice", "atoll plan")
	if err != nil {
		t.Fatalf("CommentOnIssue: %v", err)
	}
	ev := <-events
	if ev.Kind != vcs.EventIssueComment || ev.Kind.String() != "issue_comment" || ev.Pull.Num != is.Num ||
		ev.Repo != repo || ev.Sender != "alice" || ev.Pull.URL != is.URL ||
		ev.Comment.ID != id || ev.Comment.Body != "atoll plan" || ev.Comment.User != "alice" ||
		time.Since(ev.Comment.CreatedAt) > time.Minute {
		t.Errorf("event = %+v", ev)
	}

	// The bot's own comment (delivered in the background) is ignored.
	if _, err := c.CreateComment(ctx, repo, is.Num, "Drift re-checked"); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Kind != vcs.EventIgnored || ev.Reason != "comment by the bot user itself" {
			t.Errorf("bot comment event = %+v, want ignored", ev)
		}
	case <-ctx.Done():
		t.Fatal("no webhook for the bot's comment")
	}
}

// TestRepoPermissionAgainstFakeGitHub reads roles with the real client from
// the fake GitHub, which answers as GitHub does, and checks that reviews
// carry the commit they were made on.
func TestRepoPermissionAgainstFakeGitHub(t *testing.T) {
	t.Parallel()
	s, repo, c := newFakeGitHub(t, vcstest.Options{BasePermissions: map[string]string{"maint": "maintain", "tri": "triage"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.SetPermission(repo, "bob", "write"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPermission(repo, "eve", "none"); err != nil {
		t.Fatal(err)
	}
	want := map[string]vcs.Permission{
		"acme": vcs.PermAdmin, "maint": vcs.PermMaintain, "bob": vcs.PermWrite, "tri": vcs.PermTriage,
		"alice": vcs.PermRead, "eve": vcs.PermNone,
	}
	var getter vcs.PermissionGetter = c
	for user, w := range want {
		if got, err := getter.RepoPermission(ctx, repo, user); got != w || err != nil {
			t.Errorf("RepoPermission(%s) = %q, %v; want %q", user, got, err, w)
		}
	}

	sha, err := s.Push(ctx, repo, "feature", map[string]string{"a.tf": "locals {}\n"}, "a")
	if err != nil {
		t.Fatal(err)
	}
	num, err := s.OpenPull(ctx, repo, "feature", "main", "A", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Review(repo, num, "bob", "APPROVED"); err != nil {
		t.Fatal(err)
	}
	if err := s.DismissReview(repo, num, "bob"); err != nil {
		t.Fatal(err)
	}
	reviews, err := c.ListReviews(ctx, repo, num)
	if err != nil {
		t.Fatal(err)
	}
	if len(reviews) != 1 || reviews[0].State != "DISMISSED" || reviews[0].CommitID != sha || reviews[0].SubmittedAt.IsZero() {
		t.Errorf("reviews = %+v, want bob's dismissed review of %s", reviews, sha)
	}
	pr, err := c.GetPullRequest(ctx, repo, num)
	if err != nil {
		t.Fatal(err)
	}
	if pr.BaseRepo != repo || pr.HeadRepo != repo || pr.URL != s.URL()+"/acme/infra/pull/"+strconv.Itoa(num) {
		t.Errorf("pull request repos %+v %+v, URL %q; want %+v under %s", pr.BaseRepo, pr.HeadRepo, pr.URL, repo, s.URL())
	}
}
