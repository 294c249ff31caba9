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
	action := fmt.Sprintf("get pull request %s#%d", repo.FullName(), num)
	pr, _, err := c.gh.PullRequests.Get(ctx, repo.Owner, repo.Name, num)
	if err != nil {
		return vcs.PullRequest{}, wrapErr(action, err)
	}
	out, err := pullFromGitHub(c.hostname, c.gitBase, pr)
	if err != nil {
		return vcs.PullRequest{}, fmt.Errorf("%s: %w", action, err)
	}
	return out, nil
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
			reviews = append(reviews, vcs.Review{
				ID:          r.GetID(),
				User:        r.GetUser().GetLogin(),
				State:       r.GetState(),
				CommitID:    r.GetCommitID(),
				SubmittedAt: r.GetSubmittedAt().Time,
			})
		}
		if resp.NextPage == 0 {
			return reviews, nil
		}
		opts.Page = resp.NextPage
	}
}

// pullFromGitHub converts a REST or webhook pull request. Its repositories
// clone URLs and its own web URL are built from gitBase and the repositories'
// names, never copied from pr; a base or head repository with a name GitHub
// does not allow is an error wrapping errBadRepoName. A missing head
// repository (a deleted fork) is a Repo with only Host set.
func pullFromGitHub(host, gitBase string, pr *gh.PullRequest) (vcs.PullRequest, error) {
	state := vcs.PullOpen
	switch {
	case pr.GetMerged() || pr.MergedAt != nil:
		state = vcs.PullMerged
	case pr.GetState() == "closed":
		state = vcs.PullClosed
	}
	base, err := repoFromGitHub(host, gitBase, pr.GetBase().GetRepo())
	if err != nil {
		return vcs.PullRequest{}, fmt.Errorf("base repository: %w", err)
	}
	head, err := repoFromGitHub(host, gitBase, pr.GetHead().GetRepo())
	if err != nil {
		return vcs.PullRequest{}, fmt.Errorf("head repository: %w", err)
	}
	out := vcs.PullRequest{
		BaseRepo:       base,
		HeadRepo:       head,
		Num:            pr.GetNumber(),
		HeadSHA:        pr.GetHead().GetSHA(),
		HeadBranch:     pr.GetHead().GetRef(),
		BaseBranch:     pr.GetBase().GetRef(),
		BaseSHA:        pr.GetBase().GetSHA(),
		Author:         pr.GetUser().GetLogin(),
		State:          state,
		Title:          pr.GetTitle(),
		Mergeable:      pr.Mergeable,
		MergeableState: pr.GetMergeableState(),
	}
	if state == vcs.PullMerged {
		out.MergeSHA = pr.GetMergeCommitSHA()
	}
	if base.Owner != "" && out.Num > 0 {
		out.URL = webURL(gitBase, base, "pull", out.Num)
	}
	return out, nil
}

// repoFromGitHub converts a repository. Owner and name must be names GitHub
// allows (an error wrapping errBadRepoName otherwise); the clone URL is
// gitBase/owner/name.git, whatever r says. A nil repository (a deleted fork)
// yields a Repo with only Host set.
func repoFromGitHub(host, gitBase string, r *gh.Repository) (vcs.Repo, error) {
	if r == nil {
		return vcs.Repo{Host: host}, nil
	}
	owner := r.GetOwner().GetLogin()
	if owner == "" {
		// Some payloads only carry full_name.
		owner, _, _ = strings.Cut(r.GetFullName(), "/")
	}
	name := r.GetName()
	if err := checkRepoName(owner, name); err != nil {
		return vcs.Repo{}, err
	}
	return vcs.Repo{
		Host:          host,
		Owner:         owner,
		Name:          name,
		CloneURL:      cloneURL(gitBase, owner, name),
		DefaultBranch: r.GetDefaultBranch(),
	}, nil
}

// CreatePull opens a pull request from head into base, both branches of repo.
func (c *Client) CreatePull(ctx context.Context, repo vcs.Repo, head, base, title, body string) (vcs.PullRequest, error) {
	pr, _, err := c.gh.PullRequests.Create(ctx, repo.Owner, repo.Name, &gh.NewPullRequest{
		Title: gh.String(title), Head: gh.String(head), Base: gh.String(base), Body: gh.String(body),
	})
	if err != nil {
		return vcs.PullRequest{}, wrapErr(fmt.Sprintf("open pull request %s from %s into %s", repo.FullName(), head, base), err)
	}
	return pullFromGitHub(c.hostname, c.gitBase, pr)
}
