package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

var _ vcs.Merger = (*Client)(nil)

// Merge methods GitHub accepts.
const (
	MergeMethodMerge  = "merge"
	MergeMethodSquash = "squash"
	MergeMethodRebase = "rebase"
)

// MergePull merges pull request pull.Num of repo with method ("merge",
// "squash" or "rebase"; "" means "merge") on the condition that its head is
// still pull.HeadSHA, and leaves GitHub's default commit title and message.
// When GitHub refuses (405: conflicts, failing required checks, a merge
// method the repository disallows; 409: the head moved) the error wraps
// vcs.ErrNotMergeable and carries GitHub's message.
//
// With deleteBranch, the head branch is deleted after the merge, but only
// when it lives in repo itself (never a fork's branch) and is neither repo's
// default branch nor the base branch. A branch that is already gone is fine.
// An error deleting it is returned after a successful merge, and says so.
func (c *Client) MergePull(ctx context.Context, repo vcs.Repo, pull vcs.PullRequest, method string, deleteBranch bool) error {
	action := fmt.Sprintf("merge pull request %s#%d", repo.FullName(), pull.Num)
	switch method {
	case "":
		method = MergeMethodMerge
	case MergeMethodMerge, MergeMethodSquash, MergeMethodRebase:
	default:
		return fmt.Errorf("%s: unknown merge method %q: want merge, squash or rebase", action, method)
	}
	if pull.HeadSHA == "" {
		return fmt.Errorf("%s: no head SHA to merge at", action)
	}
	res, _, err := c.gh.PullRequests.Merge(ctx, repo.Owner, repo.Name, pull.Num, "", &gh.PullRequestOptions{
		MergeMethod: method,
		SHA:         pull.HeadSHA,
	})
	if err != nil {
		if msg, ok := mergeRefusal(err); ok {
			return fmt.Errorf("%s: %w: %s", action, vcs.ErrNotMergeable, msg)
		}
		return wrapErr(action, err)
	}
	if !res.GetMerged() {
		// GitHub answers 200 only for a merge, but a proxy or an old
		// Enterprise Server could say otherwise in the body.
		return fmt.Errorf("%s: %w: %s", action, vcs.ErrNotMergeable, res.GetMessage())
	}
	if !deleteBranch || !deletableHead(repo, pull) {
		return nil
	}
	if err := c.deleteBranch(ctx, repo, pull.HeadBranch); err != nil {
		return fmt.Errorf("merged pull request %s#%d, but %w", repo.FullName(), pull.Num, err)
	}
	return nil
}

// mergeRefusal reports whether err is GitHub refusing a merge (405 or 409)
// and returns GitHub's message.
func mergeRefusal(err error) (string, bool) {
	var er *gh.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil {
		return "", false
	}
	switch er.Response.StatusCode {
	case http.StatusMethodNotAllowed, http.StatusConflict:
		msg := er.Message
		if msg == "" {
			msg = http.StatusText(er.Response.StatusCode)
		}
		return msg, true
	}
	return "", false
}

// deletableHead reports whether pull's head branch may be deleted from repo:
// it must be a branch of repo itself (a fork's is not ours to delete; a
// deleted fork has no owner) and neither the default nor the base branch.
func deletableHead(repo vcs.Repo, pull vcs.PullRequest) bool {
	head := pull.HeadRepo
	if pull.HeadBranch == "" || head.Owner == "" || head.Name == "" {
		return false
	}
	// GitHub's owner and repository names are case-insensitive.
	if !strings.EqualFold(head.Owner, repo.Owner) || !strings.EqualFold(head.Name, repo.Name) {
		return false
	}
	for _, keep := range []string{repo.DefaultBranch, pull.BaseRepo.DefaultBranch, pull.BaseBranch} {
		if pull.HeadBranch == keep {
			return false
		}
	}
	return true
}

// deleteBranch deletes branch from repo. GitHub's 422 "Reference does not
// exist" (already deleted, by GitHub's auto-delete or a person) is success.
func (c *Client) deleteBranch(ctx context.Context, repo vcs.Repo, branch string) error {
	_, err := c.gh.Git.DeleteRef(ctx, repo.Owner, repo.Name, "heads/"+branch)
	if err == nil {
		return nil
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusUnprocessableEntity &&
		strings.Contains(er.Message, "Reference does not exist") {
		return nil
	}
	return wrapErr(fmt.Sprintf("delete branch %s of %s", branch, repo.FullName()), err)
}
