package github

import (
	"context"
	"fmt"
	"unicode/utf8"

	gh "github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// maxStatusDescription is GitHub's documented limit on a commit status
// description, in characters.
const maxStatusDescription = 140

// SetStatus sets a commit status on status.SHA. A description longer than
// 140 characters is cut to 139 and ends with "…".
func (c *Client) SetStatus(ctx context.Context, repo vcs.Repo, status vcs.Status) error {
	rs := &gh.RepoStatus{
		State:       gh.String(string(status.State)),
		Context:     gh.String(status.Context),
		Description: gh.String(cutDescription(status.Description)),
	}
	if status.TargetURL != "" {
		rs.TargetURL = gh.String(status.TargetURL)
	}
	if _, _, err := c.gh.Repositories.CreateStatus(ctx, repo.Owner, repo.Name, status.SHA, rs); err != nil {
		return wrapErr(fmt.Sprintf("set status %q on %s@%s", status.Context, repo.FullName(), status.SHA), err)
	}
	return nil
}

// cutDescription shortens s to at most maxStatusDescription characters.
func cutDescription(s string) string {
	if utf8.RuneCountInString(s) <= maxStatusDescription {
		return s
	}
	runes := []rune(s)
	return string(runes[:maxStatusDescription-1]) + "…"
}
