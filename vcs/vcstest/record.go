package vcstest

import (
	"context"
	"fmt"

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
