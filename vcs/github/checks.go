package github

import (
	"context"
	"fmt"
	"unicode/utf8"

	gh "github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// maxCheckText is GitHub's limit on a check run's summary and text.
const maxCheckText = 65535

// CreateCheckRun creates a completed check run on run.HeadSHA. Only a GitHub
// App may create check runs; with a token GitHub answers 403.
func (c *Client) CreateCheckRun(ctx context.Context, repo vcs.Repo, run vcs.CheckRun) (int64, error) {
	opts := gh.CreateCheckRunOptions{
		Name:       run.Name,
		HeadSHA:    run.HeadSHA,
		Status:     gh.String("completed"),
		Conclusion: gh.String(run.Conclusion),
		Output: &gh.CheckRunOutput{
			Title:   gh.String(run.Title),
			Summary: gh.String(cutText(run.Summary)),
			Text:    gh.String(cutText(run.Text)),
		},
	}
	if run.DetailsURL != "" {
		opts.DetailsURL = gh.String(run.DetailsURL)
	}
	if run.ExternalID != "" {
		opts.ExternalID = gh.String(run.ExternalID)
	}
	cr, _, err := c.gh.Checks.CreateCheckRun(ctx, repo.Owner, repo.Name, opts)
	if err != nil {
		return 0, wrapErr(fmt.Sprintf("create check run %q on %s@%.7s", run.Name, repo.FullName(), run.HeadSHA), err)
	}
	return cr.GetID(), nil
}

// cutText keeps s within GitHub's limit, cut at a rune boundary with a note.
func cutText(s string) string {
	if len(s) <= maxCheckText {
		return s
	}
	const note = "\n\n… (cut: the job page has the whole output)"
	s = s[:maxCheckText-len(note)]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + note
}
