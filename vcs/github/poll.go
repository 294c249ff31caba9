package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	gh "github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// maxPullPages bounds how many pages of open pull requests one listing reads
// (100 each): a repository with more open pull requests than that is polled
// for its most recently updated ones.
const maxPullPages = 10

var (
	_ vcs.OpenPullLister = (*Client)(nil)
	_ vcs.StatusGetter   = (*Client)(nil)
)

// ListOpenPulls lists repo's open pull requests, most recently updated first.
// The first page is asked for with If-None-Match: etag; since any update to
// an open pull request (a push, a new one, one closed) moves it to the top of
// that order, an unchanged first page means nothing changed, and GitHub
// answers 304 without counting it against the rate limit.
func (c *Client) ListOpenPulls(ctx context.Context, repo vcs.Repo, etag string) ([]vcs.PullRequest, string, bool, error) {
	action := "list open pull requests of " + repo.FullName()
	var out []vcs.PullRequest
	newETag := ""
	for page := 1; page <= maxPullPages; page++ {
		u := fmt.Sprintf("repos/%s/%s/pulls?state=open&sort=updated&direction=desc&per_page=%d&page=%d",
			url.PathEscape(repo.Owner), url.PathEscape(repo.Name), perPage, page)
		req, err := c.gh.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return nil, "", false, fmt.Errorf("%s: %w", action, err)
		}
		if page == 1 && etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		var prs []*gh.PullRequest
		resp, err := c.gh.Do(ctx, req, &prs)
		if page == 1 && resp != nil && resp.StatusCode == http.StatusNotModified {
			return nil, etag, true, nil
		}
		if err != nil {
			return nil, "", false, wrapErr(action, err)
		}
		if page == 1 {
			newETag = resp.Header.Get("ETag")
		}
		for _, pr := range prs {
			p, err := pullFromGitHub(c.hostname, c.gitBase, pr)
			if err != nil {
				return nil, "", false, fmt.Errorf("%s: #%d: %w", action, pr.GetNumber(), err)
			}
			out = append(out, p)
		}
		if resp.NextPage == 0 {
			break
		}
	}
	return out, newETag, false, nil
}

// CommitStatuses returns the latest status of each context on ref (GitHub's
// combined status), following every page.
func (c *Client) CommitStatuses(ctx context.Context, repo vcs.Repo, ref string) ([]vcs.Status, error) {
	action := fmt.Sprintf("get statuses of %s@%s", repo.FullName(), ref)
	var out []vcs.Status
	opts := &gh.ListOptions{PerPage: perPage}
	for {
		cs, resp, err := c.gh.Repositories.GetCombinedStatus(ctx, repo.Owner, repo.Name, ref, opts)
		if err != nil {
			var er *gh.ErrorResponse
			if errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusUnprocessableEntity {
				// GitHub's answer for a commit it does not have.
				return nil, fmt.Errorf("%s: %w: %w", action, vcs.ErrNotFound, err)
			}
			return nil, wrapErr(action, err)
		}
		for _, s := range cs.Statuses {
			out = append(out, vcs.Status{SHA: cs.GetSHA(), Context: s.GetContext(), State: vcs.StatusState(s.GetState()),
				Description: s.GetDescription(), TargetURL: s.GetTargetURL()})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// RateLimit returns the core API's remaining requests and limit for this
// client's credentials. GitHub does not count the call itself.
func (c *Client) RateLimit(ctx context.Context) (remaining, limit int, err error) {
	rl, _, err := c.gh.RateLimit.Get(ctx)
	if err != nil {
		return 0, 0, wrapErr("get rate limit", err)
	}
	core := rl.GetCore()
	if core == nil {
		return 0, 0, errors.New("get rate limit: the answer has no core limit")
	}
	return core.Remaining, core.Limit, nil
}
