package main

import (
	"strings"
	"testing"

	"github.com/atollhq/atoll/testdrive"
	"github.com/atollhq/atoll/vcs"
)

// TestE2ELongPlanIsSplit: a plan whose comment exceeds GitHub's 65,536
// characters arrives as several comments, each within the limit (the fake
// GitHub refuses longer ones, as GitHub does), with nothing lost.
func TestE2ELongPlanIsSplit(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	startAtoll(t, gh, t.TempDir())
	files := testdrive.SampleFiles(t.TempDir())
	repo, err := gh.CreateRepo(ctx, "acme", "big", files)
	if err != nil {
		t.Fatal(err)
	}
	// 300 resources with 300-character inputs: about 150 KB of plan text.
	big := `resource "terraform_data" "many" {
  count = 300
  input = "item-${count.index}-` + strings.Repeat("x", 300) + `"
}
`
	sha, err := gh.Push(ctx, repo, "big", map[string]string{"network/big.tf": big}, "many resources")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := gh.OpenPull(ctx, repo, "big", "main", "Big", "alice")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	waitFor(t, func() bool {
		return strings.Contains(joinBodies(gh, repo, pr), "Plan: 301 to add, 0 to change, 0 to destroy.")
	}, "the plan summary")
	comments := gh.Comments(repo, pr)
	if len(comments) < 2 {
		t.Fatalf("got %d comment(s), want the plan split over several", len(comments))
	}
	all := joinBodies(gh, repo, pr)
	for i, c := range comments {
		if len(c.Body) > vcs.MaxCommentLen {
			t.Errorf("comment %d is %d bytes, over GitHub's limit", i+1, len(c.Body))
		}
	}
	if !strings.Contains(comments[0].Body, "Plan for `network`") || !strings.Contains(comments[0].Body, "301 to add") {
		t.Errorf("part 1 lacks the summary:\n%.500s", comments[0].Body)
	}
	if !strings.Contains(strings.ToLower(all), "part 2 of") {
		t.Errorf("parts are not numbered")
	}
	// Nothing is lost: every resource of the plan appears in some part.
	for _, i := range []string{"[0]", "[150]", "[299]"} {
		if !strings.Contains(all, `terraform_data.many`+i+` will be created`) {
			t.Errorf("resource terraform_data.many%s missing from the split comments", i)
		}
	}
}
