package main

import (
	"context"

	"github.com/atollhq/atoll/redact"
	"github.com/atollhq/atoll/vcs"
	ghvcs "github.com/atollhq/atoll/vcs/github"
)

// redactedGitHub is the GitHub client with one redaction step in front of
// everything Atoll writes there: comment and issue bodies, issue titles and
// status descriptions pass through the redactor, so no secret Atoll holds
// (or token-shaped string terraform printed) reaches a pull request or issue.
type redactedGitHub struct {
	*ghvcs.Client
	red *redact.Redactor
}

var (
	_ vcs.Client       = redactedGitHub{}
	_ vcs.IssueTracker = redactedGitHub{}
	_ vcs.Merger       = redactedGitHub{}
	_ vcs.PullCreator  = redactedGitHub{}
	_ vcs.Checker      = redactedGitHub{}
)

// CreateCheckRun creates a check run with a redacted title, summary and text.
func (g redactedGitHub) CreateCheckRun(ctx context.Context, repo vcs.Repo, run vcs.CheckRun) (int64, error) {
	run.Title, run.Summary, run.Text = g.red.String(run.Title), g.red.String(run.Summary), g.red.String(run.Text)
	return g.Client.CreateCheckRun(ctx, repo, run)
}

// CreatePull opens a pull request with a redacted title and body.
func (g redactedGitHub) CreatePull(ctx context.Context, repo vcs.Repo, head, base, title, body string) (vcs.PullRequest, error) {
	return g.Client.CreatePull(ctx, repo, head, base, g.red.String(title), g.red.String(body))
}

// CreateComment posts the redacted body.
func (g redactedGitHub) CreateComment(ctx context.Context, repo vcs.Repo, num int, body string) (int64, error) {
	return g.Client.CreateComment(ctx, repo, num, g.red.String(body))
}

// UpdateComment replaces a comment with the redacted body.
func (g redactedGitHub) UpdateComment(ctx context.Context, repo vcs.Repo, id int64, body string) error {
	return g.Client.UpdateComment(ctx, repo, id, g.red.String(body))
}

// SetStatus sets a status with a redacted description.
func (g redactedGitHub) SetStatus(ctx context.Context, repo vcs.Repo, st vcs.Status) error {
	st.Description = g.red.String(st.Description)
	return g.Client.SetStatus(ctx, repo, st)
}

// CreateIssue opens an issue with a redacted title and body.
func (g redactedGitHub) CreateIssue(ctx context.Context, repo vcs.Repo, title, body string, labels []string) (vcs.Issue, error) {
	return g.Client.CreateIssue(ctx, repo, g.red.String(title), g.red.String(body), labels)
}

// UpdateIssue edits an issue with a redacted body.
func (g redactedGitHub) UpdateIssue(ctx context.Context, repo vcs.Repo, num int, body, state string) error {
	return g.Client.UpdateIssue(ctx, repo, num, g.red.String(body), state)
}
