package vcstest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

func TestCommentsCreateEditList(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []RecordedComment
	f := newFixture(t, Options{OnComment: func(c RecordedComment) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, c)
	}})
	ctx := testCtx(t)

	c, resp, err := f.gh.Issues.CreateComment(ctx, "acme", "infra", f.num, &github.IssueComment{Body: github.String("plan running")})
	if err != nil {
		t.Fatalf("CreateComment: %v", err)
	}
	if resp.StatusCode != 201 || c.GetID() == 0 || c.GetUser().GetLogin() != DefaultBotUser || c.GetBody() != "plan running" {
		t.Errorf("CreateComment = %d %+v", resp.StatusCode, c)
	}
	if _, err := f.s.Comment(ctx, f.repo, f.num, "alice", "atoll plan"); err != nil {
		t.Fatal(err)
	}
	edited, _, err := f.gh.Issues.EditComment(ctx, "acme", "infra", c.GetID(), &github.IssueComment{Body: github.String("plan done")})
	if err != nil {
		t.Fatalf("EditComment: %v", err)
	}
	if edited.GetBody() != "plan done" || edited.GetID() != c.GetID() {
		t.Errorf("EditComment = %+v", edited)
	}

	list, _, err := f.gh.Issues.ListComments(ctx, "acme", "infra", f.num, nil)
	if err != nil {
		t.Fatalf("ListComments: %v", err)
	}
	var gotAPI []string
	for _, lc := range list {
		gotAPI = append(gotAPI, lc.GetUser().GetLogin()+": "+lc.GetBody())
	}
	if diff := cmp.Diff([]string{"atoll-bot: plan done", "alice: atoll plan"}, gotAPI); diff != "" {
		t.Errorf("ListComments (-want +got):\n%s", diff)
	}

	type rec struct {
		User, Body string
		Edits, Num int
	}
	var got []rec
	for _, rc := range f.s.Comments(f.repo, f.num) {
		got = append(got, rec{rc.User, rc.Body, rc.Edits, rc.Num})
	}
	want := []rec{{"atoll-bot", "plan done", 1, f.num}, {"alice", "atoll plan", 0, f.num}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Comments (-want +got):\n%s", diff)
	}
	mu.Lock()
	if len(seen) != 2 || seen[0].Body != "plan running" || seen[1].Body != "plan done" || seen[1].Edits != 1 {
		t.Errorf("OnComment saw %+v, want create then edit", seen)
	}
	mu.Unlock()

	// A comment ID from another repo is not found through this repo.
	if _, _, err := f.gh.Issues.EditComment(ctx, "acme", "infra", 424242, &github.IssueComment{Body: github.String("x")}); statusOf(err) != 404 {
		t.Errorf("edit unknown comment: %v, want 404", err)
	}
	if _, _, err := f.gh.Issues.CreateComment(ctx, "acme", "infra", 77, &github.IssueComment{Body: github.String("x")}); statusOf(err) != 404 {
		t.Errorf("comment on unknown issue: %v, want 404", err)
	}
	if _, err := f.gh.Issues.DeleteComment(ctx, "acme", "infra", c.GetID()); err != nil {
		t.Errorf("DeleteComment: %v", err)
	}
	if n := len(f.s.Comments(f.repo, f.num)); n != 1 {
		t.Errorf("after delete: %d comments, want 1", n)
	}
}

func TestCommentTooLong(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := testCtx(t)
	for _, tc := range []struct {
		name   string
		body   string
		status int
	}{
		{"exactly the limit", strings.Repeat("a", vcs.MaxCommentLen), 201},
		{"multibyte at the limit", strings.Repeat("é", vcs.MaxCommentLen), 201},
		{"one over", strings.Repeat("a", vcs.MaxCommentLen+1), 422},
		{"empty", "", 422},
	} {
		_, resp, err := f.gh.Issues.CreateComment(ctx, "acme", "infra", f.num, &github.IssueComment{Body: github.String(tc.body)})
		if resp == nil || resp.StatusCode != tc.status {
			t.Errorf("%s: status %v err %v, want %d", tc.name, resp, err, tc.status)
			continue
		}
		if tc.status != 422 {
			continue
		}
		var er *github.ErrorResponse
		if !errors.As(err, &er) || er.Message != "Validation Failed" || len(er.Errors) != 1 || er.Errors[0].Field != "body" {
			t.Errorf("%s: error %#v, want Validation Failed on body", tc.name, err)
		}
	}
	if _, err := f.s.Comment(ctx, f.repo, f.num, "alice", strings.Repeat("a", vcs.MaxCommentLen+1)); err == nil {
		t.Error("Comment accepted an oversize body")
	}
}

func TestCommentsPaginationAndConcurrency(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := testCtx(t)
	const n = 40
	ids := make([]int64, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			c, _, err := f.gh.Issues.CreateComment(ctx, "acme", "infra", f.num, &github.IssueComment{Body: github.String(fmt.Sprintf("c%d", i))})
			if err != nil {
				errs <- err
				return
			}
			ids[i] = c.GetID()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent CreateComment: %v", err)
	}
	unique := map[int64]bool{}
	for _, id := range ids {
		unique[id] = true
	}
	if len(unique) != n {
		t.Errorf("%d unique IDs, want %d", len(unique), n)
	}
	var all []*github.IssueComment
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 15}}
	for {
		page, resp, err := f.gh.Issues.ListComments(ctx, "acme", "infra", f.num, opts)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if len(all) != n {
		t.Fatalf("listed %d comments, want %d", len(all), n)
	}
	for i := 1; i < n; i++ {
		if all[i-1].GetID() >= all[i].GetID() {
			t.Fatalf("comments not oldest first: %d then %d", all[i-1].GetID(), all[i].GetID())
		}
	}
}

func TestWaitComment(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := testCtx(t)
	c, _, err := f.gh.Issues.CreateComment(ctx, "acme", "infra", f.num, &github.IssueComment{Body: github.String("Plan running…")})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(50 * time.Millisecond)
		if _, _, err := f.gh.Issues.EditComment(ctx, "acme", "infra", c.GetID(), &github.IssueComment{Body: github.String("### Plan for `network`")}); err != nil {
			t.Errorf("EditComment: %v", err)
		}
	}()
	got, err := f.s.WaitComment(ctx, f.repo, f.num, func(rc RecordedComment) bool {
		return strings.HasPrefix(rc.Body, "### Plan")
	})
	<-done
	if err != nil {
		t.Fatalf("WaitComment: %v", err)
	}
	if got.ID != c.GetID() || got.Edits != 1 || got.User != DefaultBotUser {
		t.Errorf("WaitComment = %+v", got)
	}

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := f.s.WaitComment(short, f.repo, f.num, func(RecordedComment) bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitComment with no match: %v, want deadline exceeded", err)
	}
}

func TestStatuses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := testCtx(t)
	set := func(ref, state, desc string) (*github.RepoStatus, error) {
		st, _, err := f.gh.Repositories.CreateStatus(ctx, "acme", "infra", ref, &github.RepoStatus{
			State: github.String(state), Context: github.String("atoll/plan"),
			Description: github.String(desc), TargetURL: github.String("http://atoll.test/jobs/1"),
		})
		return st, err
	}
	waited := make(chan error, 1)
	go func() {
		_, err := f.s.WaitStatus(ctx, f.repo, f.headSHA, "atoll/plan", vcs.StatusSuccess)
		waited <- err
	}()
	if _, err := set(f.headSHA, "pending", "Planning…"); err != nil {
		t.Fatalf("CreateStatus: %v", err)
	}
	st, err := set(f.headSHA, "success", "1 to add")
	if err != nil {
		t.Fatal(err)
	}
	if st.GetID() == 0 || st.GetState() != "success" || st.GetCreator().GetLogin() != DefaultBotUser {
		t.Errorf("CreateStatus = %+v", st)
	}
	if err := <-waited; err != nil {
		t.Errorf("WaitStatus: %v", err)
	}
	if _, err := set(f.headSHA, "great", ""); statusOf(err) != 422 {
		t.Errorf("bad state: %v, want 422", err)
	}
	if _, err := set(f.headSHA, "success", strings.Repeat("x", 141)); statusOf(err) != 422 {
		t.Errorf("long description: %v, want 422", err)
	}
	if _, err := set(strings.Repeat("ab", 20), "success", ""); statusOf(err) != 422 {
		t.Errorf("unknown sha: %v, want 422", err)
	}

	want := []vcs.Status{
		{SHA: f.headSHA, Context: "atoll/plan", State: vcs.StatusPending, Description: "Planning…", TargetURL: "http://atoll.test/jobs/1"},
		{SHA: f.headSHA, Context: "atoll/plan", State: vcs.StatusSuccess, Description: "1 to add", TargetURL: "http://atoll.test/jobs/1"},
	}
	if diff := cmp.Diff(want, f.s.Statuses(f.repo, f.headSHA)); diff != "" {
		t.Errorf("Statuses (-want +got):\n%s", diff)
	}
	// By branch name, newest first, as GitHub lists them.
	list, _, err := f.gh.Repositories.ListStatuses(ctx, "acme", "infra", "feature", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].GetState() != "success" || list[1].GetState() != "pending" {
		t.Errorf("ListStatuses = %v", list)
	}
	combined, _, err := f.gh.Repositories.GetCombinedStatus(ctx, "acme", "infra", f.headSHA, nil)
	if err != nil {
		t.Fatal(err)
	}
	if combined.GetState() != "success" || combined.GetTotalCount() != 1 || combined.GetSHA() != f.headSHA {
		t.Errorf("combined = %s total %d sha %s", combined.GetState(), combined.GetTotalCount(), combined.GetSHA())
	}
}

func TestIssues(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := testCtx(t)
	create := func(title string, labels ...string) *github.Issue {
		t.Helper()
		is, resp, err := f.gh.Issues.Create(ctx, "acme", "infra", &github.IssueRequest{
			Title: github.String(title), Body: github.String("drift found"), Labels: &labels,
		})
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("Create %q: %v", title, err)
		}
		return is
	}
	drift := create("Drift: acme/infra network (default)", "atoll", "drift")
	other := create("Unrelated", "bug")
	// Issues and pull requests share one number sequence.
	if drift.GetNumber() != 2 || other.GetNumber() != 3 || drift.GetUser().GetLogin() != DefaultBotUser {
		t.Errorf("numbers %d %d user %s, want 2 3 atoll-bot", drift.GetNumber(), other.GetNumber(), drift.GetUser().GetLogin())
	}
	titles := func(opts *github.IssueListByRepoOptions) []string {
		t.Helper()
		list, _, err := f.gh.Issues.ListByRepo(ctx, "acme", "infra", opts)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, is := range list {
			out = append(out, fmt.Sprintf("#%d %s pr=%v", is.GetNumber(), is.GetState(), is.IsPullRequest()))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		opts *github.IssueListByRepoOptions
		want []string
	}{
		{"default lists open, PRs too, newest first", nil, []string{"#3 open pr=false", "#2 open pr=false", "#1 open pr=true"}},
		{"labels all match", &github.IssueListByRepoOptions{Labels: []string{"drift", "atoll"}}, []string{"#2 open pr=false"}},
		{"creator", &github.IssueListByRepoOptions{Creator: "alice"}, []string{"#1 open pr=true"}},
		{"closed", &github.IssueListByRepoOptions{State: "closed"}, nil},
	} {
		if diff := cmp.Diff(tc.want, titles(tc.opts)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}

	edited, _, err := f.gh.Issues.Edit(ctx, "acme", "infra", drift.GetNumber(), &github.IssueRequest{
		State: github.String("closed"), Body: github.String("back in sync"),
	})
	if err != nil {
		t.Fatalf("Edit: %v", err)
	}
	if edited.GetState() != "closed" || edited.GetBody() != "back in sync" || edited.ClosedAt == nil {
		t.Errorf("Edit = %+v", edited)
	}
	if diff := cmp.Diff([]string{"#2 closed pr=false"}, titles(&github.IssueListByRepoOptions{State: "closed", Labels: []string{"drift"}})); diff != "" {
		t.Errorf("closed drift issues (-want +got):\n%s", diff)
	}
	got, _, err := f.gh.Issues.Get(ctx, "acme", "infra", drift.GetNumber())
	if err != nil || got.GetTitle() != drift.GetTitle() || len(got.Labels) != 2 {
		t.Errorf("Get = %+v, %v", got, err)
	}
	if _, _, err := f.gh.Issues.Create(ctx, "acme", "infra", &github.IssueRequest{Body: github.String("no title")}); statusOf(err) != 422 {
		t.Errorf("issue without title: %v, want 422", err)
	}

	page, resp, err := f.gh.Issues.ListByRepo(ctx, "acme", "infra", &github.IssueListByRepoOptions{
		State: "all", ListOptions: github.ListOptions{PerPage: 2},
	})
	if err != nil || len(page) != 2 || resp.NextPage != 2 || resp.LastPage != 2 {
		t.Errorf("paginated issues: %d items next %d last %d err %v", len(page), resp.NextPage, resp.LastPage, err)
	}
}
