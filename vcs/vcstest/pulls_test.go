package vcstest

import (
	"fmt"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"
)

func TestGetPullRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := testCtx(t)

	pr, _, err := f.gh.PullRequests.Get(ctx, "acme", "infra", f.num)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	type view struct {
		Number                               int
		State, Title, Author, HTMLURL        string
		Merged, Mergeable                    bool
		MergeableState                       string
		HeadRef, HeadSHA, BaseRef            string
		HeadRepo, CloneURL, Owner, DefBranch string
	}
	got := view{
		Number: pr.GetNumber(), State: pr.GetState(), Title: pr.GetTitle(), Author: pr.GetUser().GetLogin(),
		HTMLURL: pr.GetHTMLURL(), Merged: pr.GetMerged(), Mergeable: pr.GetMergeable(),
		MergeableState: pr.GetMergeableState(),
		HeadRef:        pr.GetHead().GetRef(), HeadSHA: pr.GetHead().GetSHA(), BaseRef: pr.GetBase().GetRef(),
		HeadRepo: pr.GetHead().GetRepo().GetFullName(), CloneURL: pr.GetBase().GetRepo().GetCloneURL(),
		Owner: pr.GetBase().GetRepo().GetOwner().GetLogin(), DefBranch: pr.GetBase().GetRepo().GetDefaultBranch(),
	}
	want := view{
		Number: 1, State: "open", Title: "Change network", Author: "alice",
		HTMLURL: f.s.URL() + "/acme/infra/pull/1", Merged: false, Mergeable: true, MergeableState: "clean",
		HeadRef: "feature", HeadSHA: f.headSHA, BaseRef: "main",
		HeadRepo: "acme/infra", CloneURL: f.s.URL() + "/acme/infra.git", Owner: "acme", DefBranch: "main",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pull request (-want +got):\n%s", diff)
	}
	if f.repo.CloneURL != want.CloneURL || f.repo.Host != "github.com" || f.repo.DefaultBranch != "main" {
		t.Errorf("CreateRepo returned %+v", f.repo)
	}

	if err := f.s.SetMergeable(f.repo, f.num, false, "blocked"); err != nil {
		t.Fatal(err)
	}
	pr, _, err = f.gh.PullRequests.Get(ctx, "acme", "infra", f.num)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Mergeable == nil || *pr.Mergeable || pr.GetMergeableState() != "blocked" {
		t.Errorf("after SetMergeable: mergeable=%v state=%q, want false blocked", pr.Mergeable, pr.GetMergeableState())
	}

	if _, _, err := f.gh.PullRequests.Get(ctx, "acme", "infra", 99); statusOf(err) != 404 {
		t.Errorf("unknown pull: err %v, want 404", err)
	}
	if _, _, err := f.gh.PullRequests.Get(ctx, "acme", "nope", 1); statusOf(err) != 404 {
		t.Errorf("unknown repo: err %v, want 404", err)
	}
	r, _, err := f.gh.Repositories.Get(ctx, "acme", "infra")
	if err != nil || r.GetDefaultBranch() != "main" || r.GetFullName() != "acme/infra" {
		t.Errorf("Repositories.Get = %v, %v", r, err)
	}
	b, _, err := f.gh.Repositories.GetBranch(ctx, "acme", "infra", "feature", 0)
	if err != nil || b.GetCommit().GetSHA() != f.headSHA {
		t.Errorf("GetBranch = %v, %v; want sha %s", b, err, f.headSHA)
	}
}

func TestMergeabilityComputedWithGit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := testCtx(t)
	// A second PR edits the same line of README.md as a later push to main.
	if _, err := f.s.Push(ctx, f.repo, "conflict", map[string]string{"README.md": "# theirs\n"}, "theirs"); err != nil {
		t.Fatal(err)
	}
	num, err := f.s.OpenPull(ctx, f.repo, "conflict", "main", "Conflicting", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Push(ctx, f.repo, "main", map[string]string{"README.md": "# ours\n"}, "ours"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		num       int
		mergeable bool
		state     string
	}{{f.num, true, "clean"}, {num, false, "dirty"}} {
		pr, _, err := f.gh.PullRequests.Get(ctx, "acme", "infra", tc.num)
		if err != nil {
			t.Fatal(err)
		}
		if pr.Mergeable == nil || *pr.Mergeable != tc.mergeable || pr.GetMergeableState() != tc.state {
			t.Errorf("#%d: mergeable=%v state=%q, want %v %q", tc.num, pr.Mergeable, pr.GetMergeableState(), tc.mergeable, tc.state)
		}
	}
	if err := f.s.ClosePull(ctx, f.repo, num, true); err == nil {
		t.Error("merging a conflicting pull request succeeded")
	}
}

func TestPullFilesStatuses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	files, _, err := f.gh.PullRequests.ListFiles(testCtx(t), "acme", "infra", f.num, nil)
	if err != nil {
		t.Fatalf("ListFiles: %v", err)
	}
	type file struct{ Name, Status, Previous string }
	var got []file
	for _, fl := range files {
		got = append(got, file{fl.GetFilename(), fl.GetStatus(), fl.GetPreviousFilename()})
	}
	want := []file{
		{"network/main.tf", "modified", ""},
		{"network/moved.tf", "renamed", "network/old.tf"},
		{"network/new.tf", "added", ""},
		{"network/remove.tf", "removed", ""},
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Name < got[j].Name })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	for _, fl := range files {
		if fl.GetFilename() == "network/main.tf" && (fl.GetAdditions() != 3 || fl.GetDeletions() != 1 || len(fl.GetSHA()) != 40) {
			t.Errorf("main.tf: additions %d deletions %d sha %q, want 3 1 and a blob sha", fl.GetAdditions(), fl.GetDeletions(), fl.GetSHA())
		}
	}
}

func TestPullFilesPagination(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{Token: testToken})
	ctx := testCtx(t)
	repo, err := s.CreateRepo(ctx, "acme", "big", map[string]string{"README.md": "hi\n"})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	want := map[string]bool{}
	for i := range 75 {
		name := fmt.Sprintf("projects/p%02d/main.tf", i)
		files[name] = fmt.Sprintf("locals { n = %d }\n", i)
		want[name] = true
	}
	if _, err := s.Push(ctx, repo, "many", files, "75 files"); err != nil {
		t.Fatal(err)
	}
	num, err := s.OpenPull(ctx, repo, "many", "main", "Many", "alice")
	if err != nil {
		t.Fatal(err)
	}
	gh := newClient(t, s, testToken)

	got := map[string]bool{}
	opts := &github.ListOptions{PerPage: 30}
	var pages []int
	for {
		page, resp, err := gh.PullRequests.ListFiles(ctx, "acme", "big", num, opts)
		if err != nil {
			t.Fatalf("ListFiles page %d: %v", opts.Page, err)
		}
		pages = append(pages, len(page))
		for _, fl := range page {
			got[fl.GetFilename()] = true
		}
		if len(pages) == 1 && resp.LastPage != 3 {
			t.Errorf("first page LastPage = %d, want 3", resp.LastPage)
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if diff := cmp.Diff([]int{30, 30, 15}, pages); diff != "" {
		t.Errorf("page sizes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name    string
		opts    *github.ListOptions
		size    int
		hasNext bool
	}{
		{"default per_page is 30", nil, 30, true},
		{"per_page is capped at 100", &github.ListOptions{PerPage: 500}, 75, false},
		{"page past the end is empty", &github.ListOptions{PerPage: 30, Page: 9}, 0, false},
	} {
		page, resp, err := gh.PullRequests.ListFiles(ctx, "acme", "big", num, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(page) != tc.size || (resp.NextPage != 0) != tc.hasNext {
			t.Errorf("%s: got %d files, next page %d; want %d, next %v", tc.name, len(page), resp.NextPage, tc.size, tc.hasNext)
		}
	}
}

func TestReviews(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	if err := f.s.Review(f.repo, f.num, "bob", "CHANGES_REQUESTED"); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Review(f.repo, f.num, "carol", "APPROVED"); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Review(f.repo, f.num, "carol", "LGTM"); err == nil {
		t.Error("Review with an unknown state succeeded")
	}
	reviews, _, err := f.gh.PullRequests.ListReviews(testCtx(t), "acme", "infra", f.num, nil)
	if err != nil {
		t.Fatal(err)
	}
	type rv struct{ User, State, Commit string }
	var got []rv
	for _, r := range reviews {
		got = append(got, rv{r.GetUser().GetLogin(), r.GetState(), r.GetCommitID()})
	}
	want := []rv{{"bob", "CHANGES_REQUESTED", f.headSHA}, {"carol", "APPROVED", f.headSHA}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reviews (-want +got):\n%s", diff)
	}
}

func TestTeamMembership(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.s.AddTeamMember("acme", "infra-admins", "alice")
	ctx := testCtx(t)
	m, _, err := f.gh.Teams.GetTeamMembershipBySlug(ctx, "acme", "infra-admins", "alice")
	if err != nil {
		t.Fatalf("member: %v", err)
	}
	if m.GetState() != "active" || m.GetRole() != "member" {
		t.Errorf("membership = %s/%s, want active/member", m.GetState(), m.GetRole())
	}
	for _, tc := range []struct{ team, user string }{{"infra-admins", "bob"}, {"other", "alice"}} {
		if _, _, err := f.gh.Teams.GetTeamMembershipBySlug(ctx, "acme", tc.team, tc.user); statusOf(err) != 404 {
			t.Errorf("%s in %s: err %v, want 404", tc.user, tc.team, err)
		}
	}
}
