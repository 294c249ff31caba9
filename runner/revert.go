package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/atollhq/atoll/vcs"
)

// RevertConflictError says a revert does not apply cleanly on the base
// branch; Files are the paths in conflict.
type RevertConflictError struct {
	Files []string
}

func (e *RevertConflictError) Error() string {
	return "the revert conflicts with later changes in " + strings.Join(e.Files, ", ")
}

// ErrBranchExists means the branch a revert would push exists already.
var ErrBranchExists = errors.New("branch exists already")

// Revert makes a commit on top of base's tip that reverts commit sha (a
// merge commit is reverted against its first parent, as `git revert -m 1`
// does) and pushes it to repo as the new branch branch. The commit's
// author and committer are name <email>. token authenticates the fetch and
// the push and reaches git only through its environment. It returns the
// revert commit. A revert that does not apply cleanly returns a
// *RevertConflictError; a branch that exists already, ErrBranchExists.
func (r *Runner) Revert(ctx context.Context, repo vcs.Repo, base, sha, branch, token, name, email string) (string, error) {
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("revert %s in %s: %w", short(sha), repo.FullName(), err)
	}
	if !shaRe.MatchString(sha) {
		return fail(fmt.Errorf("%q is not a commit SHA", sha))
	}
	for _, b := range []string{base, branch} {
		if err := r.validateBranch(ctx, b); err != nil {
			return fail(err)
		}
	}
	if err := validateCloneURL(repo.CloneURL); err != nil {
		return fail(err)
	}
	mirror, err := r.mirrorPath(repo)
	if err != nil {
		return fail(err)
	}
	defer r.mirrors.lock(mirror)()
	if err := r.ensureMirror(ctx, mirror); err != nil {
		return fail(err)
	}
	ref := branchRef(base)
	if _, err := r.runGit(ctx, mirror, token, repo.CloneURL, "fetch", "--no-tags", "--force", "--", repo.CloneURL, "+refs/heads/"+base+":"+ref); err != nil {
		return fail(fmt.Errorf("fetch %s: %w", base, err))
	}
	if !r.hasCommit(ctx, mirror, sha) {
		if _, err := r.runGit(ctx, mirror, token, repo.CloneURL, "fetch", "--no-tags", "--", repo.CloneURL, sha); err != nil {
			return fail(fmt.Errorf("fetch commit: %w", err))
		}
	}
	parents, err := r.runGit(ctx, mirror, "", "", "rev-list", "--parents", "-n", "1", sha)
	if err != nil {
		return fail(err)
	}
	tmp, err := os.MkdirTemp(r.dataDir, "revert-")
	if err != nil {
		return fail(err)
	}
	defer func() {
		_, _ = r.runGit(context.WithoutCancel(ctx), mirror, "", "", "worktree", "remove", "--force", tmp)
		_ = os.RemoveAll(tmp)
	}()
	if _, err := r.runGit(ctx, mirror, "", "", "worktree", "add", "--quiet", "--force", "--detach", tmp, ref); err != nil {
		return fail(err)
	}
	args := []string{"-c", "user.name=" + name, "-c", "user.email=" + email, "-c", "core.hooksPath=" + os.DevNull,
		"revert", "--no-edit"}
	if len(strings.Fields(parents)) > 2 { // the commit and two parents: a merge
		args = append(args, "-m", "1")
	}
	if _, err := r.runGit(ctx, tmp, "", "", append(args, sha)...); err != nil {
		out, lsErr := r.runGit(ctx, tmp, "", "", "diff", "--name-only", "--diff-filter=U")
		if files := strings.Fields(out); lsErr == nil && len(files) > 0 {
			return "", &RevertConflictError{Files: files}
		}
		return fail(err)
	}
	head, err := r.runGit(ctx, tmp, "", "", "rev-parse", "HEAD")
	if err != nil {
		return fail(err)
	}
	head = strings.TrimSpace(head)
	remote, err := r.runGit(ctx, tmp, token, repo.CloneURL, "ls-remote", "--heads", "--", repo.CloneURL, "refs/heads/"+branch)
	if err != nil {
		return fail(fmt.Errorf("look for branch %s: %w", branch, err))
	}
	if strings.TrimSpace(remote) != "" {
		return "", fmt.Errorf("revert %s: branch %s: %w", short(sha), branch, ErrBranchExists)
	}
	// No --force: a branch made meanwhile is never overwritten.
	if _, err := r.runGit(ctx, tmp, token, repo.CloneURL, "push", "--", repo.CloneURL, head+":refs/heads/"+branch); err != nil {
		return fail(fmt.Errorf("push %s: %w", branch, err))
	}
	return head, nil
}
