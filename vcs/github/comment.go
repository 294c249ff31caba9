package github

import (
	"context"
	"errors"
	"fmt"

	gh "github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// ErrCommentTooLong is returned (wrapped) when a comment body exceeds
// vcs.MaxCommentLen bytes. Callers split long output into parts; this client
// never truncates.
var ErrCommentTooLong = errors.New("comment body too long")

// CreateComment posts body on pull request or issue num and returns the new
// comment's ID. A body longer than vcs.MaxCommentLen bytes is refused with
// ErrCommentTooLong before anything is sent.
func (c *Client) CreateComment(ctx context.Context, repo vcs.Repo, num int, body string) (int64, error) {
	if err := checkCommentLen(body); err != nil {
		return 0, fmt.Errorf("comment on %s#%d: %w", repo.FullName(), num, err)
	}
	cm, _, err := c.gh.Issues.CreateComment(ctx, repo.Owner, repo.Name, num, &gh.IssueComment{Body: gh.String(body)})
	if err != nil {
		return 0, wrapErr(fmt.Sprintf("comment on %s#%d", repo.FullName(), num), err)
	}
	return cm.GetID(), nil
}

// UpdateComment replaces the body of comment commentID. The same length limit
// as CreateComment applies.
func (c *Client) UpdateComment(ctx context.Context, repo vcs.Repo, commentID int64, body string) error {
	if err := checkCommentLen(body); err != nil {
		return fmt.Errorf("update comment %d on %s: %w", commentID, repo.FullName(), err)
	}
	_, _, err := c.gh.Issues.EditComment(ctx, repo.Owner, repo.Name, commentID, &gh.IssueComment{Body: gh.String(body)})
	if err != nil {
		return wrapErr(fmt.Sprintf("update comment %d on %s", commentID, repo.FullName()), err)
	}
	return nil
}

func checkCommentLen(body string) error {
	if len(body) > vcs.MaxCommentLen {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrCommentTooLong, len(body), vcs.MaxCommentLen)
	}
	return nil
}
