package runner

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/atollhq/atoll/vcs"
)

// Checkout says which commit of a pull request to check out.
type Checkout struct {
	// BaseRepo is the repository the PR merges into; the mirror, the worktree
	// path and the locks are keyed on it.
	BaseRepo vcs.Repo
	// HeadCloneURL is where the PR's head lives: the base repo's URL or a fork's.
	// It must be an http, https or file URL without credentials.
	HeadCloneURL string
	// HeadBranch is the PR's head branch in HeadCloneURL.
	HeadBranch string
	// HeadSHA is the commit to check out (40 or 64 hex digits).
	HeadSHA string
	// Pull is the PR number.
	Pull int
	// Token authenticates http(s) fetches; "" for none.
	Token string
}

var shaRe = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// Checkout fetches co.HeadBranch and co.HeadSHA into the base repo's mirror and
// moves the PR's worktree to co.HeadSHA, removing every untracked and ignored
// file except .terraform directories and .terraform.lock.hcl files, which the
// next init reuses or replaces (see init_cache.go). It returns
// the worktree's root directory. It waits for workflows running in the worktree.
func (r *Runner) Checkout(ctx context.Context, co Checkout) (string, error) {
	if err := validateCheckout(co); err != nil {
		return "", fmt.Errorf("checkout %s#%d: %w", co.BaseRepo.FullName(), co.Pull, err)
	}
	sha := strings.ToLower(co.HeadSHA)
	mirror, err := r.mirrorPath(co.BaseRepo)
	if err != nil {
		return "", fmt.Errorf("checkout %s#%d: %w", co.BaseRepo.FullName(), co.Pull, err)
	}
	wt, _ := r.worktreePath(co.BaseRepo, co.Pull)
	defer r.worktrees.lock(wt)()
	defer r.mirrors.lock(mirror)()

	if err := r.fetchHead(ctx, mirror, co, sha); err != nil {
		return "", fmt.Errorf("checkout %s#%d: %w", co.BaseRepo.FullName(), co.Pull, err)
	}
	if err := r.updateWorktree(ctx, mirror, wt, sha); err != nil {
		return "", fmt.Errorf("checkout %s#%d at %s: %w", co.BaseRepo.FullName(), co.Pull, short(sha), err)
	}
	r.log.DebugContext(ctx, "checked out pull request", "repo", co.BaseRepo.FullName(), "pull", co.Pull, "sha", short(sha), "dir", wt)
	return wt, nil
}

// BehindBase fetches baseBranch from the base repository and reports whether the
// PR has diverged: true when the base branch's head is not an ancestor of
// co.HeadSHA. It fetches the head commit too if the mirror lacks it.
func (r *Runner) BehindBase(ctx context.Context, co Checkout, baseBranch string) (bool, error) {
	if err := validateCheckout(co); err != nil {
		return false, fmt.Errorf("compare %s#%d with base: %w", co.BaseRepo.FullName(), co.Pull, err)
	}
	if err := r.validateBranch(ctx, baseBranch); err != nil {
		return false, fmt.Errorf("compare %s#%d with base: %w", co.BaseRepo.FullName(), co.Pull, err)
	}
	if err := validateCloneURL(co.BaseRepo.CloneURL); err != nil {
		return false, fmt.Errorf("compare %s#%d with base: base repo: %w", co.BaseRepo.FullName(), co.Pull, err)
	}
	sha := strings.ToLower(co.HeadSHA)
	mirror, err := r.mirrorPath(co.BaseRepo)
	if err != nil {
		return false, fmt.Errorf("compare %s#%d with base: %w", co.BaseRepo.FullName(), co.Pull, err)
	}
	defer r.mirrors.lock(mirror)()

	if !r.hasCommit(ctx, mirror, sha) {
		if err := r.fetchHead(ctx, mirror, co, sha); err != nil {
			return false, fmt.Errorf("compare %s#%d with base: %w", co.BaseRepo.FullName(), co.Pull, err)
		}
	}
	ref := "refs/atoll/base/" + baseBranch
	if _, err := r.runGit(ctx, mirror, co.Token, co.BaseRepo.CloneURL, "fetch", "--no-tags", "--force", "--", co.BaseRepo.CloneURL, "+refs/heads/"+baseBranch+":"+ref); err != nil {
		return false, fmt.Errorf("compare %s#%d with base: fetch base branch %q: %w", co.BaseRepo.FullName(), co.Pull, baseBranch, err)
	}
	cmd := r.gitCmd(ctx, mirror, "", "", "merge-base", "--is-ancestor", ref, sha)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = r.runCommand(cmd)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return true, nil
	default:
		return false, fmt.Errorf("compare %s#%d with base: git merge-base: %w: %s", co.BaseRepo.FullName(), co.Pull, err, strings.TrimSpace(stderr.String()))
	}
}

// RemovePull deletes the PR's worktree, its ref in the mirror and its plan files.
// Removing a pull that has none is not an error.
func (r *Runner) RemovePull(ctx context.Context, repo vcs.Repo, pull int) error {
	mirror, err := r.mirrorPath(repo)
	if err != nil {
		return fmt.Errorf("remove %s#%d: %w", repo.FullName(), pull, err)
	}
	wt, _ := r.worktreePath(repo, pull)
	defer r.worktrees.lock(wt)()
	defer r.mirrors.lock(mirror)()

	if err := os.RemoveAll(wt); err != nil {
		return fmt.Errorf("remove %s#%d: delete worktree: %w", repo.FullName(), pull, err)
	}
	if _, err := os.Stat(mirror); err == nil {
		if _, err := r.runGit(ctx, mirror, "", "", "worktree", "prune"); err != nil {
			return fmt.Errorf("remove %s#%d: %w", repo.FullName(), pull, err)
		}
		if _, err := r.runGit(ctx, mirror, "", "", "update-ref", "-d", fmt.Sprintf("refs/atoll/pr/%d", pull)); err != nil {
			return fmt.Errorf("remove %s#%d: %w", repo.FullName(), pull, err)
		}
	}
	if err := os.RemoveAll(r.pullPlanDir(repo, pull)); err != nil {
		return fmt.Errorf("remove %s#%d: delete plan files: %w", repo.FullName(), pull, err)
	}
	return nil
}

// fetchHead makes sure the mirror exists and holds co's head branch (as
// refs/atoll/pr/N) and sha. Call with the mirror lock held.
func (r *Runner) fetchHead(ctx context.Context, mirror string, co Checkout, sha string) error {
	if err := r.ensureMirror(ctx, mirror); err != nil {
		return err
	}
	ref := fmt.Sprintf("refs/atoll/pr/%d", co.Pull)
	_, branchErr := r.runGit(ctx, mirror, co.Token, co.HeadCloneURL, "fetch", "--no-tags", "--force", "--", co.HeadCloneURL, "+refs/heads/"+co.HeadBranch+":"+ref)
	if ctx.Err() != nil {
		return fmt.Errorf("fetch branch %q: %w", co.HeadBranch, ctx.Err())
	}
	if r.hasCommit(ctx, mirror, sha) {
		if branchErr != nil {
			// The branch is gone (a closed PR), but the commit was fetched before.
			r.log.WarnContext(ctx, "fetch of head branch failed; using the commit already in the mirror",
				"repo", co.BaseRepo.FullName(), "pull", co.Pull, "branch", co.HeadBranch, "err", branchErr)
		}
		return nil
	}
	// The branch has moved on (or was force-pushed, or deleted) since the
	// webhook: ask for the commit itself.
	if _, err := r.runGit(ctx, mirror, co.Token, co.HeadCloneURL, "fetch", "--no-tags", "--", co.HeadCloneURL, sha); err != nil {
		if branchErr != nil {
			return fmt.Errorf("fetch branch %q: %w", co.HeadBranch, branchErr)
		}
		return fmt.Errorf("fetch commit %s: %w", short(sha), err)
	}
	if !r.hasCommit(ctx, mirror, sha) {
		return fmt.Errorf("commit %s not found in %s", short(sha), co.HeadCloneURL)
	}
	return nil
}

// ensureMirror creates the bare mirror if it is missing or broken. It is made
// under a temporary name and renamed into place, so a server killed while
// creating it (its git dies with it) leaves no half-made repository behind.
func (r *Runner) ensureMirror(ctx context.Context, mirror string) error {
	if mirrorComplete(mirror) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(mirror), 0o700); err != nil {
		return fmt.Errorf("create mirror directory: %w", err)
	}
	if err := os.RemoveAll(mirror); err != nil {
		return fmt.Errorf("remove broken mirror: %w", err)
	}
	tmp := mirror + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove unfinished mirror: %w", err)
	}
	if _, err := r.runGit(ctx, "", "", "", "init", "--quiet", "--bare", "--", tmp); err != nil {
		return fmt.Errorf("create mirror: %w", err)
	}
	if err := os.Rename(tmp, mirror); err != nil {
		return fmt.Errorf("create mirror: %w", err)
	}
	return nil
}

// mirrorComplete reports whether mirror looks like a whole bare repository.
func mirrorComplete(mirror string) bool {
	for _, p := range []string{"HEAD", "config", "objects", "refs"} {
		if _, err := os.Stat(filepath.Join(mirror, p)); err != nil {
			return false
		}
	}
	return true
}

// updateWorktree moves wt to sha, creating it if needed, and verifies HEAD. Call
// with the worktree and mirror locks held.
func (r *Runner) updateWorktree(ctx context.Context, mirror, wt, sha string) error {
	if _, err := os.Stat(filepath.Join(wt, ".git")); err == nil {
		if _, err := r.runGit(ctx, wt, "", "", "checkout", "--quiet", "--force", "--detach", sha); err != nil {
			return err
		}
		// Keep what init left (.terraform and a generated lock file; see
		// init_cache.go), unless the commit tracks files under a .terraform:
		// then it could plant one, so every untracked .terraform goes.
		tracked, err := r.runGit(ctx, wt, "", "", "ls-files", "--", ":(glob)**/.terraform/**")
		if err != nil {
			return err
		}
		clean := []string{"clean", "-ffdxq"}
		if strings.TrimSpace(tracked) == "" {
			clean = append(clean, "-e", ".terraform", "-e", lockFileName)
		}
		if _, err := r.runGit(ctx, wt, "", "", clean...); err != nil {
			return err
		}
	} else {
		if err := os.RemoveAll(wt); err != nil {
			return fmt.Errorf("remove broken worktree: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(wt), 0o700); err != nil {
			return fmt.Errorf("create worktree directory: %w", err)
		}
		// A worktree directory deleted behind git's back still blocks its path.
		if _, err := r.runGit(ctx, mirror, "", "", "worktree", "prune"); err != nil {
			return err
		}
		if _, err := r.runGit(ctx, mirror, "", "", "worktree", "add", "--quiet", "--force", "--detach", wt, sha); err != nil {
			return err
		}
	}
	head, err := r.runGit(ctx, wt, "", "", "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(head); got != sha {
		return fmt.Errorf("worktree is at %s after checkout, want %s", short(got), short(sha))
	}
	return nil
}

func (r *Runner) hasCommit(ctx context.Context, mirror, sha string) bool {
	cmd := r.gitCmd(ctx, mirror, "", "", "cat-file", "-e", sha+"^{commit}")
	return r.runCommand(cmd) == nil
}

// validateBranch checks name with git's own rules for branch names.
func (r *Runner) validateBranch(ctx context.Context, name string) error {
	if name == "" || strings.HasPrefix(name, "-") {
		return fmt.Errorf("invalid branch name %q", name)
	}
	cmd := r.gitCmd(ctx, "", "", "", "check-ref-format", "refs/heads/"+name)
	if err := r.runCommand(cmd); err != nil {
		return fmt.Errorf("invalid branch name %q", name)
	}
	return nil
}

func validateCheckout(co Checkout) error {
	if co.Pull <= 0 {
		return fmt.Errorf("invalid pull number %d", co.Pull)
	}
	if !shaRe.MatchString(strings.ToLower(co.HeadSHA)) {
		return fmt.Errorf("invalid head commit %q: want 40 or 64 hex digits", co.HeadSHA)
	}
	if co.HeadBranch == "" || strings.HasPrefix(co.HeadBranch, "-") || strings.ContainsAny(co.HeadBranch, " ~^:?*[\\\x00\x7f") ||
		strings.Contains(co.HeadBranch, "..") || strings.Contains(co.HeadBranch, "@{") {
		return fmt.Errorf("invalid head branch %q", co.HeadBranch)
	}
	for _, c := range co.HeadBranch {
		if c < 0x20 {
			return fmt.Errorf("invalid head branch %q", co.HeadBranch)
		}
	}
	if err := validateCloneURL(co.HeadCloneURL); err != nil {
		return fmt.Errorf("head repo: %w", err)
	}
	return nil
}

// validateCloneURL accepts only http, https and file URLs without credentials,
// so no git transport helper (ext::, fd::) or ssh option can be smuggled in.
func validateCloneURL(raw string) error {
	if raw == "" {
		return errors.New("clone URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil || strings.HasPrefix(raw, "-") || strings.Contains(raw, "::") {
		return errors.New("clone URL is not a valid URL")
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return errors.New("clone URL has no host")
		}
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return errors.New("file clone URL must not name a host")
		}
	default:
		return fmt.Errorf("clone URL scheme %q is not allowed: use http, https or file", u.Scheme)
	}
	if u.User != nil {
		return errors.New("clone URL must not carry credentials")
	}
	return nil
}

// mirrorPath is DataDir/repos/HOST/OWNER/NAME.git.
func (r *Runner) mirrorPath(repo vcs.Repo) (string, error) {
	if err := validateRepo(repo); err != nil {
		return "", err
	}
	return filepath.Join(r.dataDir, "repos", repo.Host, repo.Owner, repo.Name+".git"), nil
}

// worktreePath is DataDir/worktrees/HOST/OWNER/NAME/PULL.
func (r *Runner) worktreePath(repo vcs.Repo, pull int) (string, error) {
	if err := validateRepo(repo); err != nil {
		return "", err
	}
	return filepath.Join(r.dataDir, "worktrees", repo.Host, repo.Owner, repo.Name, fmt.Sprint(pull)), nil
}

var repoPartRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

func validateRepo(repo vcs.Repo) error {
	for _, p := range []string{repo.Host, repo.Owner, repo.Name} {
		if !repoPartRe.MatchString(p) || p == "." || p == ".." || strings.HasPrefix(p, "-") {
			return fmt.Errorf("invalid repository %q", repo.ID())
		}
	}
	return nil
}

// gitCmd builds a git command run in dir ("" for none), to be run with
// runCommand. When token is set, git gets an Authorization header for remote's
// scheme://host/ through its environment only; the token never reaches argv or
// a file.
func (r *Runner) gitCmd(ctx context.Context, dir, token, remote string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.git, args...)
	cmd.Dir = dir
	env := make([]string, 0, len(r.env)+8)
	for _, kv := range r.env {
		k, _, _ := strings.Cut(kv, "=")
		// Drop git settings from the server's environment that could redirect or
		// reconfigure our repositories, and any config injected through it.
		if k == "GIT_CONFIG_COUNT" || k == "GIT_CONFIG_PARAMETERS" || strings.HasPrefix(k, "GIT_CONFIG_KEY_") ||
			strings.HasPrefix(k, "GIT_CONFIG_VALUE_") || k == "GIT_DIR" || k == "GIT_WORK_TREE" || k == "GIT_INDEX_FILE" ||
			k == "GIT_OBJECT_DIRECTORY" || k == "GIT_ALTERNATE_OBJECT_DIRECTORIES" || k == "GIT_ASKPASS" || k == "SSH_ASKPASS" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=",
		"GIT_ALLOW_PROTOCOL=http:https:file",
	)
	if token != "" {
		if u, err := url.Parse(remote); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			env = append(env,
				"GIT_CONFIG_COUNT=1",
				"GIT_CONFIG_KEY_0=http."+u.Scheme+"://"+u.Host+"/.extraHeader",
				"GIT_CONFIG_VALUE_0=Authorization: Basic "+basicAuth(token),
			)
		}
	}
	cmd.Env = env
	return cmd
}

// runGit runs git and returns its stdout. Errors carry git's stderr with the
// token scrubbed.
func (r *Runner) runGit(ctx context.Context, dir, token, remote string, args ...string) (string, error) {
	cmd := r.gitCmd(ctx, dir, token, remote, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := r.runCommand(cmd); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("git %s: %w", args[0], ctx.Err())
		}
		msg := scrub(strings.TrimSpace(stderr.String()), token)
		return "", fmt.Errorf("git %s: %s: %s", args[0], scrub(err.Error(), token), msg)
	}
	return stdout.String(), nil
}

func basicAuth(token string) string {
	return base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
}

// scrub removes token, and the header value built from it, from s.
func scrub(s, token string) string {
	if token == "" {
		return s
	}
	s = strings.ReplaceAll(s, basicAuth(token), "[redacted]")
	s = strings.ReplaceAll(s, url.QueryEscape(token), "[redacted]")
	return strings.ReplaceAll(s, token, "[redacted]")
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
