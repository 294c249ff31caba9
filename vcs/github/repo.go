package github

import (
	"context"
	"fmt"

	"github.com/atollhq/atoll/vcs"
)

// GetRepo returns a repository with its clone URL and default branch, for
// drift detection of the default branch.
func (c *Client) GetRepo(ctx context.Context, owner, name string) (vcs.Repo, error) {
	r, _, err := c.gh.Repositories.Get(ctx, owner, name)
	if err != nil {
		return vcs.Repo{}, wrapErr(fmt.Sprintf("get repository %s/%s", owner, name), err)
	}
	return repoFromGitHub(c.hostname, r), nil
}
