package github

import (
	"context"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// perPage is the largest page GitHub serves.
const perPage = 100

// GetPullRequest fetches pull request num of repo. A missing PR wraps
// vcs.ErrNotFound.
func (c *Client) GetPullRequest(ctx context.Context, repo vcs.Repo, num int) (vcs.PullRequest, error) {
	pr, _, err := c.gh.PullRequests.Get(ctx, repo.Owner, repo.Name, num)
	if err != nil {
		return vcs.PullRequest{}, wrapErr(fmt.Sprintf("get pull request %s#%d", repo.FullName(), num), err)
	}
	return pullFromGitHub(c.hostname, pr), nil
}

// ListChangedFiles lists every path pull request num changes, following all
// pages. For a renamed file both the new and the previous path are listed,
// since a move affects the directory it left. Paths are unique and in
// GitHub's order.
func (c *Client) ListChangedFiles(ctx context.Context, repo vcs.Repo, num int) ([]string, error) {
	var paths []string
	seen := make(map[string]bool)
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	opts := &gh.ListOptions{PerPage: perPage}
	for {
		files, resp, err := c.gh.PullRequests.ListFiles(ctx, repo.Owner, repo.Name, num, opts)
		if err != nil {
			return nil, wrapErr(fmt.Sprintf("list files of pull request %s#%d", repo.FullName(), num), err)
		}
		for _, f := range files {
			add(f.GetFilename())
			add(f.GetPreviousFilename())
		}
		if resp.NextPage == 0 {
			return paths, nil
		}
		opts.Page = resp.NextPage
	}
}

// ListReviews lists every review of pull request num, oldest first.
func (c *Client) ListReviews(ctx context.Context, repo vcs.Repo, num int) ([]vcs.Review, error) {
	var reviews []vcs.Review
	opts := &gh.ListOptions{PerPage: perPage}
	for {
		page, resp, err := c.gh.PullRequests.ListReviews(ctx, repo.Owner, repo.Name, num, opts)
		if err != nil {
			return nil, wrapErr(fmt.Sprintf("list reviews of pull request %s#%d", repo.FullName(), num), err)
		}
		for _, r := range page {
			reviews = append(reviews, vcs.Review{User: r.GetUser().GetLogin(), State: r.GetState()})
		}
		if resp.NextPage == 0 {
			return reviews, nil
		}
		opts.Page = resp.NextPage
	}
}

// pullFromGitHub converts a REST or webhook pull request.
func pullFromGitHub(host string, pr *gh.PullRequest) vcs.PullRequest {
	state := vcs.PullOpen
	switch {
	case pr.GetMerged() || pr.MergedAt != nil:
		state = vcs.PullMerged
	case pr.GetState() == "closed":
		state = vcs.PullClosed
	}
	return vcs.PullRequest{
		BaseRepo:       repoFromGitHub(host, pr.GetBase().GetRepo()),
		HeadRepo:       repoFromGitHub(host, pr.GetHead().GetRepo()),
		Num:            pr.GetNumber(),
		HeadSHA:        pr.GetHead().GetSHA(),
		HeadBranch:     pr.GetHead().GetRef(),
		BaseBranch:     pr.GetBase().GetRef(),
		BaseSHA:        pr.GetBase().GetSHA(),
		Author:         pr.GetUser().GetLogin(),
		State:          state,
		URL:            pr.GetHTMLURL(),
		Title:          pr.GetTitle(),
		Mergeable:      pr.Mergeable,
		MergeableState: pr.GetMergeableState(),
	}
}

// repoFromGitHub converts a repository. A nil repository (a deleted fork)
// yields a Repo with only Host set.
func repoFromGitHub(host string, r *gh.Repository) vcs.Repo {
	if r == nil {
		return vcs.Repo{Host: host}
	}
	owner := r.GetOwner().GetLogin()
	if owner == "" {
		// Some payloads only carry full_name.
		owner, _, _ = strings.Cut(r.GetFullName(), "/")
	}
	return vcs.Repo{
		Host:          host,
		Owner:         owner,
		Name:          r.GetName(),
		CloneURL:      r.GetCloneURL(),
		DefaultBranch: r.GetDefaultBranch(),
	}
}
