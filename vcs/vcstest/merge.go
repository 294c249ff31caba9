package vcstest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/atollhq/atoll/vcs"
)

// defaultBranch is every hosted repository's default branch.
const defaultBranch = "main"

// Merge methods, as GitHub names them.
const (
	methodMerge  = "merge"
	methodSquash = "squash"
	methodRebase = "rebase"
)

// Reasons mergePull refuses, which the API maps to GitHub's answers.
var (
	errNotOpen      = errors.New("pull request is not open")
	errHeadModified = errors.New("head branch was modified")
	errBlocked      = errors.New("pull request is marked not mergeable")
)

// Reasons deleteRef refuses, answered with 422 like GitHub.
var (
	errNoRef         = errors.New("reference does not exist")
	errDefaultBranch = errors.New("cannot delete the default branch")
)

// GitHub's messages for merges and ref deletions.
const (
	msgNoRef          = "Reference does not exist"
	msgDefaultBranch  = "Cannot delete the default branch"
	msgNotMergeable   = "Pull Request is not mergeable"
	msgHeadModified   = "Head branch was modified. Review and try the merge again."
	msgMergeSucceeded = "Pull Request successfully merged"
)

// rebaseIdentity is the committer of rebased commits, GitHub's own as on
// GitHub; their authors are kept. It differs from the fake's usual
// committer so that a replayed commit never keeps its SHA.
var rebaseIdentity = []string{"GIT_COMMITTER_NAME=GitHub", "GIT_COMMITTER_EMAIL=noreply@github.com"}

// mergeOptions says how mergePull merges a pull request.
type mergeOptions struct {
	// method is methodMerge (also for ""), methodSquash or methodRebase.
	method string
	// title and message replace GitHub's default commit title and message
	// when set (rebase ignores them, as GitHub does).
	title, message *string
	// sha, when set, must still be the pull request's head.
	sha string
	// by is the login merging; "" means the pull request's author.
	by string
	// checkMergeable refuses a pull request SetMergeable marked not
	// mergeable, as the REST API does. ClosePull, a person with admin
	// rights, merges it anyway.
	checkMergeable bool
}

// mergePull merges pull request num of repo with real git as opts say,
// moves the base branch, marks the pull request closed and merged, and
// returns the base branch's new tip and the pull_request "closed" payload to
// deliver. A conflict returns errConflict; a closed pull request errNotOpen.
func (s *Server) mergePull(ctx context.Context, repo vcs.Repo, num int, opts mergeOptions) (string, []byte, error) {
	s.gitMu.Lock()
	defer s.gitMu.Unlock()
	s.mu.Lock()
	_, is, err := s.lookupPull(repo, num)
	var base, head, headSHA, prTitle string
	if err == nil {
		base, head, headSHA, prTitle = is.pull.base, is.pull.head, is.pull.headSHA, is.title
		switch {
		case is.state != "open":
			err = errNotOpen
		case opts.sha != "" && opts.sha != headSHA:
			err = errHeadModified
		case opts.checkMergeable && is.pull.mergeableSet && !is.pull.mergeable:
			err = errBlocked
		}
	}
	s.mu.Unlock()
	if err != nil {
		return "", nil, err
	}

	gitDir := s.gitDir(repo.Owner, repo.Name)
	baseSHA, err := s.resolveBranch(ctx, gitDir, base)
	if err != nil {
		return "", nil, fmt.Errorf("merge: base %s: %w", base, err)
	}
	var tip string
	switch opts.method {
	case "", methodMerge:
		msg := commitMessage(fmt.Sprintf("Merge pull request #%d from %s/%s", num, repo.Owner, head), prTitle, opts)
		tip, err = s.mergeCommit(ctx, gitDir, baseSHA, headSHA, msg)
	case methodSquash:
		var subjects string
		subjects, err = s.run(ctx, gitDir, nil, nil, "log", "--reverse", "--format=* %s", baseSHA+".."+headSHA)
		if err == nil {
			msg := commitMessage(fmt.Sprintf("%s (#%d)", prTitle, num), subjects, opts)
			tip, err = s.squashCommit(ctx, gitDir, baseSHA, headSHA, msg)
		}
	case methodRebase:
		tip, err = s.rebaseCommits(ctx, gitDir, baseSHA, headSHA)
	default:
		err = fmt.Errorf("unknown merge method %q", opts.method)
	}
	if err != nil {
		return "", nil, fmt.Errorf("merge: %w", err)
	}
	if err := s.updateRef(ctx, gitDir, "refs/heads/"+base, tip, baseSHA); err != nil {
		return "", nil, fmt.Errorf("merge: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	rs, is, err := s.lookupPull(repo, num)
	if err != nil {
		return "", nil, err
	}
	now := s.opts.Now()
	by := opts.by
	if by == "" {
		by = is.user
	}
	is.state, is.closed, is.closedBy, is.updated = "closed", now, by, now
	is.pull.merged, is.pull.mergedAt, is.pull.mergedBy, is.pull.mergeCommit = true, now, opts.by, tip
	for _, other := range rs.issues {
		if other.pull != nil && other.state == "open" && other.pull.base == base {
			other.pull.baseSHA = tip
		}
	}
	return tip, s.pullEventLocked(rs, is, "closed", by, "", ""), nil
}

// commitMessage joins GitHub's default title and message, each replaced by
// opts when set, into a commit message.
func commitMessage(title, message string, opts mergeOptions) string {
	if opts.title != nil {
		title = *opts.title
	}
	if opts.message != nil {
		message = *opts.message
	}
	if message == "" {
		return title
	}
	return title + "\n\n" + message
}

// squashCommit makes one commit on base with the tree of head merged into
// base, and returns its SHA, or errConflict.
func (s *Server) squashCommit(ctx context.Context, gitDir, base, head, message string) (string, error) {
	tree, err := s.mergeTree(ctx, gitDir, base, head)
	if err != nil {
		return "", err
	}
	return s.run(ctx, gitDir, committer, strings.NewReader(message), "commit-tree", tree, "-p", base)
}

// rebaseCommits replays the commits of head that base lacks on top of base,
// in a temporary worktree of the bare repository, with a new committer and
// the original authors, and returns the last one, or errConflict. No branch
// moves.
func (s *Server) rebaseCommits(ctx context.Context, gitDir, base, head string) (string, error) {
	tmp, err := os.MkdirTemp("", "vcstest-rebase-")
	if err != nil {
		return "", fmt.Errorf("create temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	work := filepath.Join(tmp, "work")
	if _, err := s.run(ctx, gitDir, nil, nil, "worktree", "add", "--quiet", "--detach", work, head); err != nil {
		return "", err
	}
	defer func() {
		// The worktree's bookkeeping in gitDir goes even when ctx has ended.
		cleanup := context.WithoutCancel(ctx)
		if _, err := s.run(cleanup, gitDir, nil, nil, "worktree", "remove", "--force", work); err != nil {
			s.log.Warn("fake github: remove rebase worktree", "err", err)
			_, _ = s.run(cleanup, gitDir, nil, nil, "worktree", "prune")
		}
	}()
	if _, err := s.run(ctx, work, rebaseIdentity, nil, "rebase", "--quiet", "--force-rebase", base); err != nil {
		var ge *gitError
		if errors.As(err, &ge) && (strings.Contains(ge.stderr, "CONFLICT") || strings.Contains(ge.stderr, "could not apply")) {
			_, _ = s.run(ctx, work, nil, nil, "rebase", "--abort")
			return "", errConflict
		}
		return "", err
	}
	return s.run(ctx, work, nil, nil, "rev-parse", "HEAD")
}

// deleteRef deletes ref ("refs/heads/..." or "refs/tags/...") from repo and,
// as GitHub does when a branch goes, closes the open pull requests whose
// head or base it was. It returns the "closed" payloads to deliver.
func (s *Server) deleteRef(ctx context.Context, repo vcs.Repo, ref string) ([][]byte, error) {
	if !strings.HasPrefix(ref, "refs/heads/") && !strings.HasPrefix(ref, "refs/tags/") {
		return nil, errNoRef
	}
	if _, err := s.run(ctx, "", nil, nil, "check-ref-format", ref); err != nil {
		return nil, errNoRef
	}
	if ref == "refs/heads/"+defaultBranch {
		return nil, errDefaultBranch
	}
	s.gitMu.Lock()
	defer s.gitMu.Unlock()
	s.mu.Lock()
	_, err := s.lookupRepo(repo.Owner, repo.Name)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	gitDir := s.gitDir(repo.Owner, repo.Name)
	sha, err := s.run(ctx, gitDir, nil, nil, "rev-parse", "--verify", "--quiet", "--end-of-options", ref)
	if err != nil {
		if exitCode(err) == 1 {
			return nil, errNoRef
		}
		return nil, err
	}
	if _, err := s.run(ctx, gitDir, nil, nil, "update-ref", "-d", ref, sha); err != nil {
		return nil, fmt.Errorf("delete %s: %w", ref, err)
	}
	branch, isBranch := strings.CutPrefix(ref, "refs/heads/")
	if !isBranch {
		return nil, nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	rs, err := s.lookupRepo(repo.Owner, repo.Name)
	if err != nil {
		return nil, err
	}
	var closed []*issue
	for _, is := range rs.issues {
		if is.pull != nil && is.state == "open" && (is.pull.head == branch || is.pull.base == branch) {
			closed = append(closed, is)
		}
	}
	sort.Slice(closed, func(i, j int) bool { return closed[i].num < closed[j].num })
	now := s.opts.Now()
	events := make([][]byte, 0, len(closed))
	for _, is := range closed {
		is.state, is.closed, is.closedBy, is.updated = "closed", now, s.bot, now
		events = append(events, s.pullEventLocked(rs, is, "closed", s.bot, "", ""))
	}
	return events, nil
}

// BranchExists reports whether branch exists in repo. It is false for an
// unknown repo.
func (s *Server) BranchExists(repo vcs.Repo, branch string) bool {
	s.mu.Lock()
	_, err := s.lookupRepo(repo.Owner, repo.Name)
	s.mu.Unlock()
	if err != nil {
		return false
	}
	_, err = s.resolveBranch(context.Background(), s.gitDir(repo.Owner, repo.Name), branch)
	return err == nil
}

// BranchSHA returns the commit branch of repo points at.
func (s *Server) BranchSHA(repo vcs.Repo, branch string) (string, error) {
	s.mu.Lock()
	_, err := s.lookupRepo(repo.Owner, repo.Name)
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	return s.resolveBranch(context.Background(), s.gitDir(repo.Owner, repo.Name), branch)
}
