package vcstest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/atollhq/atoll/vcs"
)

// validName is what GitHub allows in an owner or repository name.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// CreateRepo creates the bare repository owner/name with one commit of files
// on its default branch "main" and returns it as Atoll sees it: Host
// "github.com", CloneURL URL()+"/owner/name.git", DefaultBranch "main".
func (s *Server) CreateRepo(ctx context.Context, owner, name string, files map[string]string) (vcs.Repo, error) {
	if !validName.MatchString(owner) || !validName.MatchString(name) || filepath.Ext(name) == ".git" {
		return vcs.Repo{}, fmt.Errorf("create repo %q/%q: invalid name", owner, name)
	}
	if len(files) == 0 {
		return vcs.Repo{}, fmt.Errorf("create repo %s/%s: need at least one file", owner, name)
	}
	s.gitMu.Lock()
	defer s.gitMu.Unlock()
	s.mu.Lock()
	_, exists := s.repos[owner+"/"+name]
	s.mu.Unlock()
	if exists {
		return vcs.Repo{}, fmt.Errorf("create repo %s/%s: already exists", owner, name)
	}
	gitDir := s.gitDir(owner, name)
	if err := os.MkdirAll(filepath.Dir(gitDir), 0o755); err != nil {
		return vcs.Repo{}, fmt.Errorf("create repo %s/%s: %w", owner, name, err)
	}
	if err := s.initRepo(ctx, gitDir); err != nil {
		return vcs.Repo{}, fmt.Errorf("create repo %s/%s: %w", owner, name, err)
	}
	sha, err := s.commitFiles(ctx, gitDir, "", files, "Initial commit")
	if err != nil {
		return vcs.Repo{}, fmt.Errorf("create repo %s/%s: %w", owner, name, err)
	}
	if err := s.updateRef(ctx, gitDir, "refs/heads/main", sha, ""); err != nil {
		return vcs.Repo{}, fmt.Errorf("create repo %s/%s: %w", owner, name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := &repoState{id: s.newID(), owner: owner, name: name, created: s.opts.Now(), issues: map[int]*issue{}}
	s.repos[rs.fullName()] = rs
	return s.vcsRepo(rs), nil
}

// Push commits files to branch (created from main if new) and returns the new
// commit's SHA. A file whose value is "" is deleted. Every open pull request
// whose head is branch gets the new head SHA (and refs/pull/N/head moves)
// and a pull_request "synchronize" webhook is delivered for it before Push
// returns. Open pull requests whose base is branch record the new base SHA.
func (s *Server) Push(ctx context.Context, repo vcs.Repo, branch string, files map[string]string, message string) (string, error) {
	sha, events, err := s.push(ctx, repo, branch, files, message)
	if err != nil {
		return "", fmt.Errorf("push to %s %s: %w", repo.FullName(), branch, err)
	}
	for _, body := range events {
		if err := s.deliverEvent(ctx, "pull_request", body); err != nil {
			return sha, fmt.Errorf("push to %s %s: %w", repo.FullName(), branch, err)
		}
	}
	return sha, nil
}

// push makes Push's commit and updates the pull requests under gitMu, and
// returns the synchronize payloads to deliver once gitMu is released.
func (s *Server) push(ctx context.Context, repo vcs.Repo, branch string, files map[string]string, message string) (string, [][]byte, error) {
	s.gitMu.Lock()
	defer s.gitMu.Unlock()
	s.mu.Lock()
	_, err := s.lookupRepo(repo.Owner, repo.Name)
	s.mu.Unlock()
	if err != nil {
		return "", nil, err
	}
	gitDir := s.gitDir(repo.Owner, repo.Name)
	old, err := s.resolveBranch(ctx, gitDir, branch)
	parent := old
	if errors.Is(err, ErrUnknown) {
		old = ""
		parent, err = s.resolveBranch(ctx, gitDir, "main")
	}
	if err != nil {
		return "", nil, err
	}
	sha, err := s.commitFiles(ctx, gitDir, parent, files, message)
	if err != nil {
		return "", nil, err
	}
	events, err := s.moveBranch(ctx, repo, gitDir, branch, sha, old)
	return sha, events, err
}

// moveBranch points branch at sha (old is its current commit, "" for a new
// branch) and updates the open pull requests from or into it. It returns
// the synchronize payloads to deliver once gitMu is released. Callers hold
// gitMu.
func (s *Server) moveBranch(ctx context.Context, repo vcs.Repo, gitDir, branch, sha, old string) ([][]byte, error) {
	if err := s.updateRef(ctx, gitDir, "refs/heads/"+branch, sha, old); err != nil {
		return nil, err
	}

	type syncEvent struct {
		num  int
		body []byte
	}
	var syncs []syncEvent
	s.mu.Lock()
	rs, err := s.lookupRepo(repo.Owner, repo.Name)
	if err == nil {
		now := s.opts.Now()
		for _, is := range rs.issues {
			if is.pull == nil || is.state != "open" {
				continue
			}
			if is.pull.base == branch {
				is.pull.baseSHA = sha
			}
			if is.pull.head == branch {
				before := is.pull.headSHA
				is.pull.headSHA = sha
				is.updated = now
				syncs = append(syncs, syncEvent{num: is.num, body: s.pullEventLocked(rs, is, "synchronize", is.user, before, sha)})
			}
		}
	}
	s.mu.Unlock()
	sort.Slice(syncs, func(i, j int) bool { return syncs[i].num < syncs[j].num })
	var events [][]byte
	for _, sy := range syncs {
		if _, err := s.run(ctx, gitDir, nil, nil, "update-ref", fmt.Sprintf("refs/pull/%d/head", sy.num), sha); err != nil {
			return nil, err
		}
		events = append(events, sy.body)
	}
	return events, nil
}

// UpdateBranch brings pull request num up to date with its base branch, as
// GitHub's "Update branch" button does: a merge commit of the base into the
// head branch, then a pull_request "synchronize" webhook. It returns the new
// head. A conflict returns an error wrapping errConflict.
func (s *Server) UpdateBranch(ctx context.Context, repo vcs.Repo, num int) (string, error) {
	sha, events, err := s.updateBranch(ctx, repo, num)
	if err != nil {
		return "", fmt.Errorf("update branch of %s#%d: %w", repo.FullName(), num, err)
	}
	for _, body := range events {
		if err := s.deliverEvent(ctx, "pull_request", body); err != nil {
			return sha, fmt.Errorf("update branch of %s#%d: %w", repo.FullName(), num, err)
		}
	}
	return sha, nil
}

func (s *Server) updateBranch(ctx context.Context, repo vcs.Repo, num int) (string, [][]byte, error) {
	s.gitMu.Lock()
	defer s.gitMu.Unlock()
	s.mu.Lock()
	_, is, err := s.lookupPull(repo, num)
	var head, base, headSHA string
	if err == nil {
		head, base, headSHA = is.pull.head, is.pull.base, is.pull.headSHA
		if is.state != "open" {
			err = errNotOpen
		}
	}
	s.mu.Unlock()
	if err != nil {
		return "", nil, err
	}
	gitDir := s.gitDir(repo.Owner, repo.Name)
	baseSHA, err := s.resolveBranch(ctx, gitDir, base)
	if err != nil {
		return "", nil, err
	}
	sha, err := s.mergeCommit(ctx, gitDir, headSHA, baseSHA, fmt.Sprintf("Merge branch '%s' into %s", base, head))
	if err != nil {
		return "", nil, err
	}
	events, err := s.moveBranch(ctx, repo, gitDir, head, sha, headSHA)
	return sha, events, err
}

// OpenPull opens a pull request from head into base by author, delivers a
// pull_request "opened" webhook, and returns its number.
func (s *Server) OpenPull(ctx context.Context, repo vcs.Repo, head, base, title, author string) (int, error) {
	num, body, err := s.openPull(ctx, repo, head, base, title, author)
	if err != nil {
		return 0, fmt.Errorf("open pull on %s: %w", repo.FullName(), err)
	}
	if err := s.deliverEvent(ctx, "pull_request", body); err != nil {
		return num, fmt.Errorf("open pull %s#%d: %w", repo.FullName(), num, err)
	}
	return num, nil
}

// openPull records the pull request under gitMu and returns its number and
// the payload to deliver once gitMu is released.
func (s *Server) openPull(ctx context.Context, repo vcs.Repo, head, base, title, author string) (int, []byte, error) {
	s.gitMu.Lock()
	defer s.gitMu.Unlock()
	gitDir := s.gitDir(repo.Owner, repo.Name)
	s.mu.Lock()
	_, err := s.lookupRepo(repo.Owner, repo.Name)
	s.mu.Unlock()
	if err != nil {
		return 0, nil, err
	}
	headSHA, err := s.resolveBranch(ctx, gitDir, head)
	if err != nil {
		return 0, nil, fmt.Errorf("head %s: %w", head, err)
	}
	baseSHA, err := s.resolveBranch(ctx, gitDir, base)
	if err != nil {
		return 0, nil, fmt.Errorf("base %s: %w", base, err)
	}

	s.mu.Lock()
	rs, err := s.lookupRepo(repo.Owner, repo.Name)
	if err != nil {
		s.mu.Unlock()
		return 0, nil, err
	}
	now := s.opts.Now()
	rs.lastNum++
	is := &issue{
		id: s.newID(), num: rs.lastNum, title: title, user: author, state: "open",
		created: now, updated: now,
		pull: &pull{id: s.newID(), head: head, base: base, headSHA: headSHA, baseSHA: baseSHA},
	}
	rs.issues[is.num] = is
	body := s.pullEventLocked(rs, is, "opened", author, "", "")
	s.mu.Unlock()

	if err := s.updateRef(ctx, gitDir, fmt.Sprintf("refs/pull/%d/head", is.num), headSHA, ""); err != nil {
		return 0, nil, err
	}
	return is.num, body, nil
}

// ClosePull closes pull request num and delivers a pull_request "closed"
// webhook. With merge, head is first merged into base with a real merge
// commit (which fails on conflicts) and the pull request is marked merged.
func (s *Server) ClosePull(ctx context.Context, repo vcs.Repo, num int, merge bool) error {
	body, err := s.closePull(ctx, repo, num, merge)
	if err != nil {
		return fmt.Errorf("close pull %s#%d: %w", repo.FullName(), num, err)
	}
	if err := s.deliverEvent(ctx, "pull_request", body); err != nil {
		return fmt.Errorf("close pull %s#%d: %w", repo.FullName(), num, err)
	}
	return nil
}

// closePull merges (if asked) and closes under gitMu, and returns the
// payload to deliver once gitMu is released.
func (s *Server) closePull(ctx context.Context, repo vcs.Repo, num int, merge bool) ([]byte, error) {
	if merge {
		_, body, err := s.mergePull(ctx, repo, num, mergeOptions{method: methodMerge})
		return body, err
	}
	s.gitMu.Lock()
	defer s.gitMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, is, err := s.lookupPull(repo, num)
	if err != nil {
		return nil, err
	}
	if is.state != "open" {
		return nil, errNotOpen
	}
	now := s.opts.Now()
	is.state, is.closed, is.closedBy, is.updated = "closed", now, is.user, now
	return s.pullEventLocked(rs, is, "closed", is.user, "", ""), nil
}

// ReopenPull reopens a closed, unmerged pull request and delivers a
// pull_request "reopened" webhook.
func (s *Server) ReopenPull(ctx context.Context, repo vcs.Repo, num int) error {
	s.mu.Lock()
	rs, is, err := s.lookupPull(repo, num)
	if err == nil && (is.state != "closed" || is.pull.merged) {
		err = fmt.Errorf("pull request %s#%d is open or merged", repo.FullName(), num)
	}
	var body []byte
	if err == nil {
		is.state, is.closed, is.closedBy, is.updated = "open", timeZero, "", s.opts.Now()
		body = s.pullEventLocked(rs, is, "reopened", is.user, "", "")
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("reopen pull %s#%d: %w", repo.FullName(), num, err)
	}
	if err := s.deliverEvent(ctx, "pull_request", body); err != nil {
		return fmt.Errorf("reopen pull %s#%d: %w", repo.FullName(), num, err)
	}
	return nil
}

// Comment records a comment by user on pull request or issue num and
// delivers an issue_comment "created" webhook. It returns the comment ID.
// Bodies over vcs.MaxCommentLen characters are refused, as GitHub refuses them.
func (s *Server) Comment(ctx context.Context, repo vcs.Repo, num int, user, body string) (int64, error) {
	id, err := s.comment(ctx, repo, num, user, body, false)
	if err != nil {
		return id, fmt.Errorf("comment on %s#%d: %w", repo.FullName(), num, err)
	}
	return id, nil
}

// CommentOnIssue is Comment for an issue that is not a pull request (a drift
// report, say): it records the comment by user and delivers the
// issue_comment "created" webhook, whose issue has no "pull_request" field.
// It fails when num is a pull request.
func (s *Server) CommentOnIssue(ctx context.Context, repo vcs.Repo, num int, user, body string) (int64, error) {
	id, err := s.comment(ctx, repo, num, user, body, true)
	if err != nil {
		return id, fmt.Errorf("comment on issue %s#%d: %w", repo.FullName(), num, err)
	}
	return id, nil
}

// comment records a comment and delivers its webhook; with issueOnly it
// refuses pull requests.
func (s *Server) comment(ctx context.Context, repo vcs.Repo, num int, user, body string, issueOnly bool) (int64, error) {
	if fe := checkBody("IssueComment", body, true); fe != nil {
		return 0, fmt.Errorf("%s %s", fe.Field, fe.Code)
	}
	s.mu.Lock()
	rs, is, err := s.lookupIssue(repo, num)
	if err == nil && issueOnly && is.pull != nil {
		err = fmt.Errorf("#%d is a pull request: %w", num, ErrUnknown)
	}
	if err != nil {
		s.mu.Unlock()
		return 0, err
	}
	c := s.addCommentLocked(rs, is, user, body)
	event := s.commentEventLocked(rs, is, c)
	s.mu.Unlock()
	if err := s.deliverEvent(ctx, "issue_comment", event); err != nil {
		return c.id, err
	}
	return c.id, nil
}

// Review records a review by user on pull request num at its current head.
// state is GitHub's: APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED.
// No webhook is sent.
func (s *Server) Review(repo vcs.Repo, num int, user, state string) error {
	switch state {
	case "APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING":
	default:
		return fmt.Errorf("review %s#%d: unknown state %q", repo.FullName(), num, state)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, is, err := s.lookupPull(repo, num)
	if err != nil {
		return fmt.Errorf("review %s#%d: %w", repo.FullName(), num, err)
	}
	is.pull.reviews = append(is.pull.reviews, &review{
		id: s.newID(), user: user, state: state, commit: is.pull.headSHA, submitted: s.opts.Now(),
	})
	return nil
}

// DismissReview dismisses user's latest approval or change request on pull
// request num, as a maintainer does on GitHub: the review stays in the list
// (same ID, commit and submission time) with state DISMISSED. Comments and
// pending reviews cannot be dismissed, so it fails when user has no
// APPROVED or CHANGES_REQUESTED review. Logins are compared
// case-insensitively. No webhook is sent.
func (s *Server) DismissReview(repo vcs.Repo, num int, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, is, err := s.lookupPull(repo, num)
	if err != nil {
		return fmt.Errorf("dismiss review of %s on %s#%d: %w", user, repo.FullName(), num, err)
	}
	reviews := is.pull.reviews
	for i := len(reviews) - 1; i >= 0; i-- {
		rv := reviews[i]
		if strings.EqualFold(rv.user, user) && (rv.state == "APPROVED" || rv.state == "CHANGES_REQUESTED") {
			rv.state = "DISMISSED"
			return nil
		}
	}
	return fmt.Errorf("dismiss review of %s on %s#%d: no approval or change request to dismiss: %w",
		user, repo.FullName(), num, ErrUnknown)
}

// SetMergeable fixes what GET pulls/{n} reports as mergeable and
// mergeable_state ("clean", "blocked", "behind", "dirty", "unstable", ...),
// instead of computing it with git.
func (s *Server) SetMergeable(repo vcs.Repo, num int, mergeable bool, state string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, is, err := s.lookupPull(repo, num)
	if err != nil {
		return fmt.Errorf("set mergeable %s#%d: %w", repo.FullName(), num, err)
	}
	is.pull.mergeableSet, is.pull.mergeable, is.pull.mergeableState = true, mergeable, state
	return nil
}

// AddTeamMember makes user an active member of team teamSlug in org.
func (s *Server) AddTeamMember(org, teamSlug, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := org + "/" + teamSlug
	if s.teams[key] == nil {
		s.teams[key] = map[string]bool{}
	}
	s.teams[key][user] = true
}
