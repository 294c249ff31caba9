package github

import (
	"context"
	"fmt"

	gh "github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// Issue states accepted by UpdateIssue (the same as vcs.IssueOpen and vcs.IssueClosed).
const (
	IssueOpen   = vcs.IssueOpen
	IssueClosed = vcs.IssueClosed
)

var _ vcs.IssueTracker = (*Client)(nil)

// CreateIssue opens an issue with title, body and labels (labels GitHub does
// not know yet are created by GitHub). The body is subject to the same limit
// as comments.
func (c *Client) CreateIssue(ctx context.Context, repo vcs.Repo, title, body string, labels []string) (vcs.Issue, error) {
	if err := checkCommentLen(body); err != nil {
		return vcs.Issue{}, fmt.Errorf("create issue in %s: %w", repo.FullName(), err)
	}
	req := &gh.IssueRequest{Title: gh.String(title), Body: gh.String(body)}
	if len(labels) > 0 {
		req.Labels = &labels
	}
	is, _, err := c.gh.Issues.Create(ctx, repo.Owner, repo.Name, req)
	if err != nil {
		return vcs.Issue{}, wrapErr(fmt.Sprintf("create issue in %s", repo.FullName()), err)
	}
	return c.issueFromGitHub(repo, is), nil
}

// UpdateIssue replaces the body of issue num and sets its state. An empty body
// or state leaves that field as it is; state is IssueOpen or IssueClosed.
func (c *Client) UpdateIssue(ctx context.Context, repo vcs.Repo, num int, body, state string) error {
	req := &gh.IssueRequest{}
	if body != "" {
		if err := checkCommentLen(body); err != nil {
			return fmt.Errorf("update issue %s#%d: %w", repo.FullName(), num, err)
		}
		req.Body = gh.String(body)
	}
	switch state {
	case "":
	case IssueClosed:
		req.State = gh.String(state)
		req.StateReason = gh.String("completed")
	case IssueOpen:
		req.State = gh.String(state)
	default:
		return fmt.Errorf("update issue %s#%d: unknown state %q", repo.FullName(), num, state)
	}
	if req.Body == nil && req.State == nil {
		return nil
	}
	if _, _, err := c.gh.Issues.Edit(ctx, repo.Owner, repo.Name, num, req); err != nil {
		return wrapErr(fmt.Sprintf("update issue %s#%d", repo.FullName(), num), err)
	}
	return nil
}

// ListOpenIssues lists every open issue in repo that carries label, oldest
// first. Pull requests, which GitHub's issue list also returns, are left out.
func (c *Client) ListOpenIssues(ctx context.Context, repo vcs.Repo, label string) ([]vcs.Issue, error) {
	return c.listIssues(ctx, repo, IssueOpen, label)
}

// listIssues lists the issues in state ("open", "closed" or "all") that carry
// label, oldest first, leaving pull requests out.
func (c *Client) listIssues(ctx context.Context, repo vcs.Repo, state, label string) ([]vcs.Issue, error) {
	opts := &gh.IssueListByRepoOptions{
		State:       state,
		Labels:      []string{label},
		Sort:        "created",
		Direction:   "asc",
		ListOptions: gh.ListOptions{PerPage: perPage},
	}
	var out []vcs.Issue
	for {
		page, resp, err := c.gh.Issues.ListByRepo(ctx, repo.Owner, repo.Name, opts)
		if err != nil {
			return nil, wrapErr(fmt.Sprintf("list %s issues labelled %q in %s", state, label, repo.FullName()), err)
		}
		for _, is := range page {
			if is.IsPullRequest() {
				continue
			}
			out = append(out, c.issueFromGitHub(repo, is))
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// FindIssue returns the oldest issue in repo, open or closed, that carries
// label and has exactly title, so a closed report can be reopened rather than
// duplicated. ok is false when there is none.
func (c *Client) FindIssue(ctx context.Context, repo vcs.Repo, label, title string) (issue vcs.Issue, ok bool, err error) {
	issues, err := c.listIssues(ctx, repo, "all", label)
	if err != nil {
		return vcs.Issue{}, false, err
	}
	for _, is := range issues {
		if is.Title == title {
			return is, true, nil
		}
	}
	return vcs.Issue{}, false, nil
}

// issueFromGitHub converts issue is of repo. Its URL is built from the
// client's configuration, not copied from the response.
func (c *Client) issueFromGitHub(repo vcs.Repo, is *gh.Issue) vcs.Issue {
	out := vcs.Issue{
		Num:   is.GetNumber(),
		Title: is.GetTitle(),
		Body:  is.GetBody(),
		State: is.GetState(),
		URL:   webURL(c.gitBase, repo, "issues", is.GetNumber()),
	}
	for _, l := range is.Labels {
		out.Labels = append(out.Labels, l.GetName())
	}
	return out
}
