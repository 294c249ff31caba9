package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/atollhq/atoll/vcs"
)

// branchPrefix starts the worktree and plan directory names of a branch
// checkout, so they never collide with a pull request's, which are numbers.
const branchPrefix = "branch-"

// CheckoutBranch fetches branch of repo.CloneURL into the repository's bare
// mirror (the one Checkout uses) and moves the branch's own worktree,
// DataDir/worktrees/HOST/OWNER/NAME/branch-<escaped branch>, to the branch's
// tip, removing every untracked and ignored file. It returns the worktree's
// root directory and the commit checked out. Drift detection uses it to plan
// the default branch. token authenticates http(s) fetches ("" for none) and
// reaches git only through its environment. It waits for workflows running
// in the worktree.
func (r *Runner) CheckoutBranch(ctx context.Context, repo vcs.Repo, branch, token string) (dir, sha string, err error) {
	if err := r.validateBranch(ctx, branch); err != nil {
		return "", "", fmt.Errorf("checkout %s branch %q: %w", repo.FullName(), branch, err)
	}
	if err := validateCloneURL(repo.CloneURL); err != nil {
		return "", "", fmt.Errorf("checkout %s branch %q: repo: %w", repo.FullName(), branch, err)
	}
	mirror, err := r.mirrorPath(repo)
	if err != nil {
		return "", "", fmt.Errorf("checkout %s branch %q: %w", repo.FullName(), branch, err)
	}
	wt := r.branchWorktreePath(repo, branch)
	defer r.worktrees.lock(wt)()
	defer r.mirrors.lock(mirror)()

	if err := r.ensureMirror(ctx, mirror); err != nil {
		return "", "", fmt.Errorf("checkout %s branch %q: %w", repo.FullName(), branch, err)
	}
	ref := branchRef(branch)
	if _, err := r.runGit(ctx, mirror, token, repo.CloneURL, "fetch", "--no-tags", "--force", "--", repo.CloneURL, "+refs/heads/"+branch+":"+ref); err != nil {
		return "", "", fmt.Errorf("checkout %s branch %q: fetch branch: %w", repo.FullName(), branch, err)
	}
	out, err := r.runGit(ctx, mirror, "", "", "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err != nil {
		return "", "", fmt.Errorf("checkout %s branch %q: resolve fetched branch: %w", repo.FullName(), branch, err)
	}
	sha = strings.ToLower(strings.TrimSpace(out))
	if !shaRe.MatchString(sha) {
		return "", "", fmt.Errorf("checkout %s branch %q: fetched branch resolves to %q, not a commit", repo.FullName(), branch, sha)
	}
	if err := r.updateWorktree(ctx, mirror, wt, sha); err != nil {
		return "", "", fmt.Errorf("checkout %s branch %q at %s: %w", repo.FullName(), branch, short(sha), err)
	}
	r.log.DebugContext(ctx, "checked out branch", "repo", repo.FullName(), "branch", branch, "sha", short(sha), "dir", wt)
	return wt, sha, nil
}

// RemoveBranch deletes the branch's worktree, its ref in the mirror and its
// plan files, for a repository Atoll no longer watches. Removing a branch
// that was never checked out is not an error.
func (r *Runner) RemoveBranch(ctx context.Context, repo vcs.Repo, branch string) error {
	if err := r.validateBranch(ctx, branch); err != nil {
		return fmt.Errorf("remove %s branch %q: %w", repo.FullName(), branch, err)
	}
	mirror, err := r.mirrorPath(repo)
	if err != nil {
		return fmt.Errorf("remove %s branch %q: %w", repo.FullName(), branch, err)
	}
	wt := r.branchWorktreePath(repo, branch)
	defer r.worktrees.lock(wt)()
	defer r.mirrors.lock(mirror)()

	if err := os.RemoveAll(wt); err != nil {
		return fmt.Errorf("remove %s branch %q: delete worktree: %w", repo.FullName(), branch, err)
	}
	if _, err := os.Stat(mirror); err == nil {
		if _, err := r.runGit(ctx, mirror, "", "", "worktree", "prune"); err != nil {
			return fmt.Errorf("remove %s branch %q: %w", repo.FullName(), branch, err)
		}
		if _, err := r.runGit(ctx, mirror, "", "", "update-ref", "-d", branchRef(branch)); err != nil {
			return fmt.Errorf("remove %s branch %q: %w", repo.FullName(), branch, err)
		}
	}
	if err := os.RemoveAll(r.branchPlanDir(repo, branch)); err != nil {
		return fmt.Errorf("remove %s branch %q: delete plan files: %w", repo.FullName(), branch, err)
	}
	return nil
}

// BranchPlanPath is PlanPath for a branch checkout (see CheckoutBranch):
// DataDir/plans/HOST/OWNER/NAME/branch-<escaped branch>/<escaped dir>/<workspace>.tfplan.
func (r *Runner) BranchPlanPath(repo vcs.Repo, branch, dir, workspace string) string {
	return filepath.Join(r.branchPlanDir(repo, branch), escapeComponent(filepath.Clean(dir)), escapeComponent(workspace)+".tfplan")
}

func (r *Runner) branchPlanDir(repo vcs.Repo, branch string) string {
	return filepath.Join(r.dataDir, "plans", escapeComponent(repo.Host), escapeComponent(repo.Owner), escapeComponent(repo.Name), branchPrefix+escapeComponent(branch))
}

// branchWorktreePath is DataDir/worktrees/HOST/OWNER/NAME/branch-<escaped
// branch>. Call it with a repo mirrorPath has validated.
func (r *Runner) branchWorktreePath(repo vcs.Repo, branch string) string {
	return filepath.Join(r.dataDir, "worktrees", repo.Host, repo.Owner, repo.Name, branchPrefix+escapeComponent(branch))
}

// branchRef is the mirror's ref for a fetched branch. The branch name is
// escaped into one component, so "a" and "a/b" never clash as directory and
// file; a valid branch name escapes to a valid ref component.
func branchRef(branch string) string {
	return "refs/atoll/branch/" + escapeComponent(branch)
}

// ChangedFiles lists the paths that differ between commits base and head
// in the worktree dir (renames as their old and new paths).
func (r *Runner) ChangedFiles(ctx context.Context, dir, base, head string) ([]string, error) {
	for _, c := range []string{base, head} {
		if !shaRe.MatchString(c) {
			return nil, fmt.Errorf("changed files: %q is not a commit SHA", c)
		}
	}
	out, err := r.runGit(ctx, dir, "", "", "diff", "--name-only", "--no-renames", "-z", base, head, "--")
	if err != nil {
		return nil, fmt.Errorf("changed files between %s and %s: %w", short(base), short(head), err)
	}
	var files []string
	for _, f := range strings.Split(out, "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return files, nil
}
