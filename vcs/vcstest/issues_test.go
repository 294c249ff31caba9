package vcstest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-github/v60/github"
)

// ignoreTimes leaves timestamps out of RecordedIssue and RecordedComment diffs.
var ignoreTimes = cmp.Options{
	cmpopts.IgnoreFields(RecordedIssue{}, "CreatedAt", "UpdatedAt"),
	cmpopts.IgnoreFields(RecordedComment{}, "ID", "CreatedAt", "UpdatedAt"),
}

// TestIssueReopen drives a drift issue through the calls Atoll's GitHub
// client makes: create with labels, find with state=all, close, find the
// closed one, reopen with a new body.
func TestIssueReopen(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := testCtx(t)
	labels := []string{"atoll-drift"}
	const title = "Drift: acme/infra network (default)"
	created, _, err := f.gh.Issues.Create(ctx, "acme", "infra", &github.IssueRequest{
		Title: github.String(title), Body: github.String("drift found"), Labels: &labels,
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	num := created.GetNumber()
	if _, _, err := f.gh.Issues.Edit(ctx, "acme", "infra", num, &github.IssueRequest{
		State: github.String("closed"), StateReason: github.String("completed"), Body: github.String("in sync"),
	}); err != nil {
		t.Fatalf("Edit(close): %v", err)
	}

	list := func(state string) []string {
		t.Helper()
		issues, _, err := f.gh.Issues.ListByRepo(ctx, "acme", "infra", &github.IssueListByRepoOptions{
			State: state, Labels: labels, Creator: DefaultBotUser, Sort: "created", Direction: "asc",
		})
		if err != nil {
			t.Fatalf("ListByRepo(%s): %v", state, err)
		}
		var out []string
		for _, is := range issues {
			out = append(out, is.GetTitle()+" "+is.GetState()+" "+is.GetStateReason())
		}
		return out
	}
	if got := list("open"); len(got) != 0 {
		t.Errorf("open drift issues after closing = %v, want none", got)
	}
	if diff := cmp.Diff([]string{title + " closed completed"}, list("all")); diff != "" {
		t.Errorf("state=all (-want +got):\n%s", diff)
	}

	reopened, _, err := f.gh.Issues.Edit(ctx, "acme", "infra", num, &github.IssueRequest{
		State: github.String("open"), Body: github.String("drifted again"),
	})
	if err != nil {
		t.Fatalf("Edit(reopen): %v", err)
	}
	if reopened.GetState() != "open" || reopened.ClosedAt != nil || reopened.GetBody() != "drifted again" {
		t.Errorf("reopened issue = state %s closed_at %v body %q", reopened.GetState(), reopened.ClosedAt, reopened.GetBody())
	}
	if diff := cmp.Diff([]string{title + " open reopened"}, list("open")); diff != "" {
		t.Errorf("open after reopening (-want +got):\n%s", diff)
	}
	want := []RecordedIssue{{
		Repo: f.repo, Num: num, Title: title, Body: "drifted again", State: "open", StateReason: "reopened",
		User: DefaultBotUser, Labels: labels,
	}}
	if diff := cmp.Diff(want, f.s.Issues(f.repo), ignoreTimes); diff != "" {
		t.Errorf("Issues (-want +got), the pull request must be left out:\n%s", diff)
	}
}

func TestCommentOnIssue(t *testing.T) {
	t.Parallel()
	recv, ch := newReceiver(t, testSecret)
	f := newFixture(t, Options{WebhookURL: recv.URL, WebhookSecret: testSecret})
	ctx := testCtx(t)
	next(t, ch) // the fixture's pull_request "opened"

	labels := []string{"atoll-drift"}
	created, _, err := f.gh.Issues.Create(ctx, "acme", "infra", &github.IssueRequest{
		Title: github.String("Drift: acme/infra network (default)"), Body: github.String("drift found"), Labels: &labels,
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	num := created.GetNumber()
	id, err := f.s.CommentOnIssue(ctx, f.repo, num, "bob", "atoll drift plan")
	if err != nil {
		t.Fatalf("CommentOnIssue: %v", err)
	}
	ce, ok := next(t, ch).payload.(*github.IssueCommentEvent)
	if !ok {
		t.Fatal("issue comment event has the wrong type")
	}
	if ce.GetAction() != "created" || ce.GetIssue().IsPullRequest() || ce.GetIssue().GetNumber() != num ||
		ce.GetComment().GetID() != id || ce.GetComment().GetBody() != "atoll drift plan" ||
		ce.GetComment().GetUser().GetLogin() != "bob" || ce.GetSender().GetLogin() != "bob" ||
		ce.GetRepo().GetFullName() != "acme/infra" || !strings.HasSuffix(ce.GetIssue().GetHTMLURL(), fmt.Sprintf("/acme/infra/issues/%d", num)) {
		t.Errorf("issue_comment event = %+v", ce)
	}
	if !strings.Contains(ce.GetComment().GetHTMLURL(), "/issues/") {
		t.Errorf("comment html_url = %s, want an issue URL", ce.GetComment().GetHTMLURL())
	}

	// The comment is listed by the API and recorded on the issue.
	api, _, err := f.gh.Issues.ListComments(ctx, "acme", "infra", num, nil)
	if err != nil || len(api) != 1 || api[0].GetID() != id {
		t.Errorf("ListComments = %v, %v; want the one comment", api, err)
	}
	issues := f.s.Issues(f.repo)
	want := []RecordedIssue{{
		Repo: f.repo, Num: num, Title: "Drift: acme/infra network (default)", Body: "drift found", State: "open",
		User: DefaultBotUser, Labels: labels,
		Comments: []RecordedComment{{Repo: f.repo, Num: num, User: "bob", Body: "atoll drift plan"}},
	}}
	if diff := cmp.Diff(want, issues, ignoreTimes); diff != "" {
		t.Errorf("Issues (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name string
		num  int
		body string
	}{
		{"pull request", f.num, "atoll plan"},
		{"unknown issue", 99, "atoll plan"},
		{"empty body", num, " "},
	} {
		if _, err := f.s.CommentOnIssue(ctx, f.repo, tc.num, "bob", tc.body); err == nil {
			t.Errorf("CommentOnIssue(%s) succeeded", tc.name)
		} else if tc.name != "empty body" && !errors.Is(err, ErrUnknown) {
			t.Errorf("CommentOnIssue(%s) error = %v, want ErrUnknown", tc.name, err)
		}
	}
	select {
	case r := <-ch:
		t.Errorf("refused comments delivered a %s webhook", r.event)
	case <-time.After(100 * time.Millisecond):
	}
	if got := len(f.s.Comments(f.repo, f.num)); got != 0 {
		t.Errorf("the pull request has %d comments after a refused CommentOnIssue, want 0", got)
	}
}
