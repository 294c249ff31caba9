package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// revertIdentity is the author and committer of revert commits.
const (
	revertName  = "Atoll"
	revertEmail = "atoll@users.noreply.github.com"
)

// revert runs `atoll revert` on a merged pull request: it pushes a branch
// atoll/revert-N holding `git revert` of the merge commit on top of the base
// branch, and opens a pull request from it, which autoplans like any other.
func (r *prRun) revert(ctx context.Context) bool {
	s := r.s
	n := r.pull.Num
	refuse := func(reason, fix string) bool {
		r.auditRevert(ctx, "refused", reason)
		r.comment(ctx, refusedBody("atoll revert", reason, fix))
		return false
	}
	switch {
	case r.pull.State != vcs.PullMerged:
		return refuse(fmt.Sprintf("`atoll revert` reverts a merged pull request, and #%d is not merged.", n),
			"To undo changes of an open pull request, push a commit that undoes them.")
	case r.pull.MergeSHA == "":
		return refuse(fmt.Sprintf("GitHub does not say which commit merging #%d made, so there is nothing to revert.", n), "")
	case s.cfg.PullCreator == nil || s.cfg.Reverter == nil:
		return refuse("this Atoll server cannot push branches or open pull requests.", "Revert the merge commit by hand: `git revert -m 1 "+short(r.pull.MergeSHA)+"`.")
	}
	token, err := s.cfg.GitToken(ctx)
	if err != nil {
		r.log.Error("get git token", "error", err)
		return refuse("Atoll could not get a token to push the revert branch.", "Try `atoll revert` again in a minute.")
	}
	branch := fmt.Sprintf("atoll/revert-%d", n)
	r.logf("$ git revert %s onto %s and push %s\n", short(r.pull.MergeSHA), r.pull.BaseBranch, branch)
	sha, err := s.cfg.Reverter.Revert(ctx, r.w.Repo, r.pull.BaseBranch, r.pull.MergeSHA, branch, token, revertName, revertEmail)
	var conflict *runner.RevertConflictError
	switch {
	case errors.As(err, &conflict):
		return refuse(fmt.Sprintf("reverting %s on top of %s conflicts with later changes in: %s.", short(r.pull.MergeSHA), templates.Code(r.pull.BaseBranch), codeList(conflict.Files)),
			fmt.Sprintf("Revert it by hand: `git revert -m 1 %s`, resolve the conflicts, push, and open a pull request.", short(r.pull.MergeSHA)))
	case errors.Is(err, runner.ErrBranchExists):
		return refuse(fmt.Sprintf("the branch `%s` exists already: an earlier `atoll revert` made it.", branch),
			"Use the pull request opened from it, or delete the branch and comment `atoll revert` again.")
	case err != nil:
		r.log.Error("revert", "error", err)
		r.logf("error: %v\n", err)
		return refuse("Atoll could not make or push the revert branch; the job log has git's message.", "Try `atoll revert` again, or revert by hand: `git revert -m 1 "+short(r.pull.MergeSHA)+"`.")
	}
	title := `Revert "` + r.pull.Title + `"`
	body := fmt.Sprintf("Reverts #%d (merged as %s), as @%s asked with `atoll revert`.\n\n"+
		"Atoll plans this pull request like any other: its plan shows what rolling back destroys or restores. Merge it to roll back.",
		n, r.pull.MergeSHA, r.w.User)
	pr, err := s.cfg.PullCreator.CreatePull(ctx, r.w.Repo, branch, r.pull.BaseBranch, title, body)
	if err != nil {
		r.log.Error("open revert pull request", "error", err)
		return refuse(fmt.Sprintf("Atoll pushed the branch `%s` (%s) but could not open a pull request from it.", branch, short(sha)),
			"Open the pull request from that branch by hand.")
	}
	r.auditRevert(ctx, "opened", fmt.Sprintf("#%d from %s", pr.Num, branch))
	r.comment(ctx, fmt.Sprintf("### Revert opened: #%d\n\n#%d reverts this pull request: branch `%s`, commit %s, which undoes %s on top of %s. "+
		"Atoll plans it now, and its plan shows what rolling back changes. Review it, then merge it to roll back.",
		pr.Num, pr.Num, branch, short(sha), short(r.pull.MergeSHA), templates.Code(r.pull.BaseBranch)))
	return true
}

// auditRevert records an `atoll revert` and how it ended.
func (r *prRun) auditRevert(ctx context.Context, result, detail string) {
	r.s.appendAudit(ctx, locking.AuditEvent{User: r.w.User, Action: AuditRevert, Via: r.via(), Repo: r.w.Repo.ID(), Pull: r.w.Pull.Num,
		Commit: r.pull.MergeSHA, Result: result, Detail: firstLine(detail), JobID: r.w.ID})
}

// codeList formats names as `a`, `b` and `c`.
func codeList(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = templates.Code(n) // repository paths: a backtick cannot end the span
	}
	if len(quoted) > 10 {
		quoted = append(quoted[:10], fmt.Sprintf("%d more", len(names)-10))
	}
	return strings.Join(quoted, ", ")
}
