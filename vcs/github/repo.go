package github

import (
	"context"
	"fmt"

	"github.com/atollhq/atoll/vcs"
)

// GetRepo returns a repository with its clone URL (built from the client's
// configuration, see GitURL) and default branch, for drift detection of the
// default branch.
func (c *Client) GetRepo(ctx context.Context, owner, name string) (vcs.Repo, error) {
	action := fmt.Sprintf("get repository %s/%s", owner, name)
	r, _, err := c.gh.Repositories.Get(ctx, owner, name)
	if err != nil {
		return vcs.Repo{}, wrapErr(action, err)
	}
	out, err := repoFromGitHub(c.hostname, c.gitBase, r)
	if err != nil {
		return vcs.Repo{}, fmt.Errorf("%s: %w", action, err)
	}
	return out, nil
}
