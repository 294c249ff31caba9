package github

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// TestListOpenPullsIsConditional lists open pull requests with the real
// client against the fake GitHub: the second listing of an unchanged repo is
// a 304 (free of rate limit), a push or a closed pull request changes it, and
// closed pull requests are never listed.
func TestListOpenPullsIsConditional(t *testing.T) {
	t.Parallel()
	s, repo, c := newFakeGitHub(t, vcstest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open := func(branch string) (int, string) {
		t.Helper()
		sha, err := s.Push(ctx, repo, branch, map[string]string{branch + ".tf": "locals {}\n"}, "change "+branch)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := s.OpenPull(ctx, repo, branch, "main", "Change "+branch, "alice")
		if err != nil {
			t.Fatal(err)
		}
		return pr, sha
	}
	n1, sha1 := open("one")
	n2, _ := open("two")

	pulls, etag, notModified, err := c.ListOpenPulls(ctx, repo, "")
	if err != nil || notModified || etag == "" {
		t.Fatalf("first ListOpenPulls = %d pulls, etag %q, notModified %v, %v", len(pulls), etag, notModified, err)
	}
	if len(pulls) != 2 || pulls[0].Num != n2 || pulls[1].Num != n1 || pulls[1].HeadSHA != sha1 || pulls[1].State != vcs.PullOpen {
		t.Fatalf("pulls = %+v, want #%d then #%d (head %s)", pulls, n2, n1, sha1)
	}
	if pulls[1].BaseRepo.CloneURL != repo.CloneURL {
		t.Errorf("clone URL = %q, want %q", pulls[1].BaseRepo.CloneURL, repo.CloneURL)
	}

	again, etag2, notModified, err := c.ListOpenPulls(ctx, repo, etag)
	if err != nil || !notModified || len(again) != 0 || etag2 != etag {
		t.Fatalf("unchanged ListOpenPulls = %d pulls, etag %q, notModified %v, %v; want 304", len(again), etag2, notModified, err)
	}
	if all, nm := s.PullLists(); all != 2 || nm != 1 {
		t.Errorf("fake saw %d listings, %d not modified; want 2, 1", all, nm)
	}

	// A push to #1 moves it to the top and changes the answer.
	sha1b, err := s.Push(ctx, repo, "one", map[string]string{"one.tf": "locals { a = 1 }\n"}, "more")
	if err != nil {
		t.Fatal(err)
	}
	pulls, etag3, notModified, err := c.ListOpenPulls(ctx, repo, etag)
	if err != nil || notModified || etag3 == etag {
		t.Fatalf("after a push: notModified %v, etag %q (was %q), %v", notModified, etag3, etag, err)
	}
	if len(pulls) != 2 || pulls[0].Num != n1 || pulls[0].HeadSHA != sha1b {
		t.Fatalf("after a push pulls = %+v, want #%d first at %s", pulls, n1, sha1b)
	}

	if err := s.ClosePull(ctx, repo, n2, false); err != nil {
		t.Fatal(err)
	}
	pulls, _, notModified, err = c.ListOpenPulls(ctx, repo, etag3)
	if err != nil || notModified || len(pulls) != 1 || pulls[0].Num != n1 {
		t.Fatalf("after closing #%d: %+v, notModified %v, %v", n2, pulls, notModified, err)
	}
}

// TestCommitStatuses reads back the latest status per context.
func TestCommitStatuses(t *testing.T) {
	t.Parallel()
	s, repo, c := newFakeGitHub(t, vcstest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sha, err := s.Push(ctx, repo, "main", map[string]string{"x.tf": "locals {}\n"}, "x")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.CommitStatuses(ctx, repo, sha)
	if err != nil || len(got) != 0 {
		t.Fatalf("CommitStatuses of a bare commit = %v, %v", got, err)
	}
	for _, st := range []vcs.Status{
		{SHA: sha, Context: "atoll/plan", State: vcs.StatusPending, Description: "planning"},
		{SHA: sha, Context: "atoll/plan", State: vcs.StatusSuccess, Description: "1 project planned"},
		{SHA: sha, Context: "ci", State: vcs.StatusFailure, Description: "red"},
	} {
		if err := c.SetStatus(ctx, repo, st); err != nil {
			t.Fatal(err)
		}
	}
	got, err = c.CommitStatuses(ctx, repo, sha)
	if err != nil {
		t.Fatal(err)
	}
	byCtx := map[string]vcs.Status{}
	for _, st := range got {
		byCtx[st.Context] = st
	}
	if len(got) != 2 || byCtx["atoll/plan"].State != vcs.StatusSuccess || byCtx["ci"].State != vcs.StatusFailure {
		t.Errorf("CommitStatuses = %+v, want the latest atoll/plan (success) and ci (failure)", got)
	}
	if _, err := c.CommitStatuses(ctx, repo, "0123456789012345678901234567890123456789"); !errors.Is(err, vcs.ErrNotFound) {
		t.Errorf("CommitStatuses of an unknown commit = %v, want ErrNotFound", err)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	_, _, c := newFakeGitHub(t, vcstest.Options{})
	remaining, limit, err := c.RateLimit(context.Background())
	if err != nil || limit != 5000 || remaining != 4999 {
		t.Errorf("RateLimit = %d/%d, %v; want 4999/5000", remaining, limit, err)
	}
}
