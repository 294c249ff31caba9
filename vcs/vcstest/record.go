package vcstest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/atollhq/atoll/vcs"
)

// Comments returns the comments on pull request or issue num, oldest first,
// with bodies as last edited. Deleted comments are left out.
func (s *Server) Comments(repo vcs.Repo, num int) []RecordedComment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commentsLocked(repo, num)
}

func (s *Server) commentsLocked(repo vcs.Repo, num int) []RecordedComment {
	rs, err := s.lookupRepo(repo.Owner, repo.Name)
	if err != nil {
		return nil
	}
	var out []RecordedComment
	for _, c := range s.commentsOf(rs, num) {
		out = append(out, s.recorded(rs, c))
	}
	return out
}

// RecordedIssue is an issue (not a pull request) as the fake GitHub holds it.
type RecordedIssue struct {
	// Repo is the repository the issue is in.
	Repo vcs.Repo
	// Num is the issue number.
	Num   int
	Title string
	Body  string
	// State is "open" or "closed"; StateReason is GitHub's state_reason
	// ("completed", "reopened", ...; "" for an issue never closed).
	State, StateReason string
	// User is the author's login (the bot user for issues created through the API).
	User   string
	Labels []string
	// Comments are the issue's live comments, oldest first.
	Comments []RecordedComment
	// CreatedAt and UpdatedAt are the times of creation and last change.
	CreatedAt, UpdatedAt time.Time
}

// Issues returns the issues of repo that are not pull requests, by number.
func (s *Server) Issues(repo vcs.Repo) []RecordedIssue {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, err := s.lookupRepo(repo.Owner, repo.Name)
	if err != nil {
		return nil
	}
	var out []RecordedIssue
	for _, is := range rs.issues {
		if is.pull != nil {
			continue
		}
		out = append(out, RecordedIssue{
			Repo: s.vcsRepo(rs), Num: is.num, Title: is.title, Body: is.body,
			State: is.state, StateReason: is.stateReason, User: is.user,
			Labels: slices.Clone(is.labels), Comments: s.commentsLocked(repo, is.num),
			CreatedAt: is.created, UpdatedAt: is.updated,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Num < out[j].Num })
	return out
}

// Statuses returns every status set on sha in repo, oldest first.
func (s *Server) Statuses(repo vcs.Repo, sha string) []vcs.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statusesLocked(repo, sha)
}

func (s *Server) statusesLocked(repo vcs.Repo, sha string) []vcs.Status {
	var out []vcs.Status
	for _, st := range s.statuses[repo.FullName()+"@"+sha] {
		out = append(out, vcs.Status{
			SHA: st.sha, Context: st.context, State: vcs.StatusState(st.state),
			Description: st.description, TargetURL: st.targetURL,
		})
	}
	return out
}

// WaitComment waits until a comment on pull request or issue num matches
// (one already there, a new one, or one edited to match) and returns the
// first, oldest-first, that does. It fails when ctx ends.
func (s *Server) WaitComment(ctx context.Context, repo vcs.Repo, num int, match func(RecordedComment) bool) (RecordedComment, error) {
	for {
		s.mu.Lock()
		comments := s.commentsLocked(repo, num)
		changed := s.changed
		s.mu.Unlock()
		for _, c := range comments {
			if match(c) {
				return c, nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return RecordedComment{}, fmt.Errorf("wait for comment on %s#%d (%d comments seen): %w",
				repo.FullName(), num, len(comments), ctx.Err())
		}
	}
}

// WaitStatus waits until a status with context ctxName and state has been
// set on sha (at any point, not necessarily the latest) and returns the
// first such. It fails when ctx ends.
func (s *Server) WaitStatus(ctx context.Context, repo vcs.Repo, sha, ctxName string, state vcs.StatusState) (vcs.Status, error) {
	for {
		s.mu.Lock()
		statuses := s.statusesLocked(repo, sha)
		changed := s.changed
		s.mu.Unlock()
		for _, st := range statuses {
			if st.Context == ctxName && st.State == state {
				return st, nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return vcs.Status{}, fmt.Errorf("wait for status %s=%s on %s@%s (seen %v): %w",
				ctxName, state, repo.FullName(), sha, statuses, ctx.Err())
		}
	}
}
