package vcstest

import (
	"errors"
	"net/http"

	"github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// getRepo serves GET /repos/{o}/{r}.
func (s *Server) getRepo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.repoJSON(rs))
}

// getBranch serves GET /repos/{o}/{r}/branches/{branch}.
func (s *Server) getBranch(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rs, ok := s.apiRepo(w, r)
	s.mu.Unlock()
	if !ok {
		return
	}
	branch := r.PathValue("branch")
	sha, err := s.resolveBranch(r.Context(), s.gitDir(rs.owner, rs.name), branch)
	if errors.Is(err, ErrUnknown) {
		writeError(w, http.StatusNotFound, "Branch not found")
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, &github.Branch{
		Name: github.String(branch),
		Commit: &github.RepositoryCommit{
			SHA: github.String(sha),
			URL: github.String(s.APIURL() + "repos/" + rs.fullName() + "/commits/" + sha),
		},
		Protected: github.Bool(false),
	})
}

// getPull serves GET /repos/{o}/{r}/pulls/{n}. Unless SetMergeable overrode
// it, mergeability of an open pull request is computed with a real
// `git merge-tree` of its head into the current base branch.
func (s *Server) getPull(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rs, is, ok := s.apiIssue(w, r)
	if ok && is.pull == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		ok = false
	}
	var base, head string
	compute := false
	if ok {
		compute = is.state == "open" && !is.pull.mergeableSet
		base, head = is.pull.base, is.pull.headSHA
	}
	s.mu.Unlock()
	if !ok {
		return
	}

	var mergeable *bool
	mstate := "unknown"
	if compute {
		gitDir := s.gitDir(rs.owner, rs.name)
		baseSHA, err := s.resolveBranch(r.Context(), gitDir, base)
		if err == nil {
			_, err = s.mergeTree(r.Context(), gitDir, baseSHA, head)
			switch {
			case err == nil:
				mergeable, mstate = github.Bool(true), "clean"
			case errors.Is(err, errConflict):
				mergeable, mstate = github.Bool(false), "dirty"
			}
		}
		if err != nil && !errors.Is(err, errConflict) {
			s.log.Warn("fake github: compute mergeability", "repo", rs.fullName(), "pull", is.num, "err", err)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if is.pull.mergeableSet {
		mergeable, mstate = github.Bool(is.pull.mergeable), is.pull.mergeableState
	}
	writeJSON(w, http.StatusOK, s.pullJSON(rs, is, mergeable, mstate))
}

// listPullFiles serves GET /repos/{o}/{r}/pulls/{n}/files.
func (s *Server) listPullFiles(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rs, is, ok := s.apiIssue(w, r)
	if ok && is.pull == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		ok = false
	}
	var base, head string
	if ok {
		base, head = is.pull.baseSHA, is.pull.headSHA
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	files, err := s.changedFiles(r.Context(), s.gitDir(rs.owner, rs.name), base, head)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, paginate(w, r, files))
}

// listReviews serves GET /repos/{o}/{r}/pulls/{n}/reviews, oldest first.
func (s *Server) listReviews(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, is, ok := s.apiIssue(w, r)
	if !ok {
		return
	}
	if is.pull == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	out := make([]*github.PullRequestReview, 0, len(is.pull.reviews))
	for _, rv := range is.pull.reviews {
		out = append(out, s.reviewJSON(rs, is, rv))
	}
	writeJSON(w, http.StatusOK, paginate(w, r, out))
}

// getTeamMembership serves GET /orgs/{org}/teams/{slug}/memberships/{user}:
// 200 with an active membership, or 404 as GitHub answers for non-members.
func (s *Server) getTeamMembership(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	org, slug, user := r.PathValue("org"), r.PathValue("slug"), r.PathValue("user")
	if !s.teams[org+"/"+slug][user] {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, &github.Membership{
		URL:   github.String(s.APIURL() + "orgs/" + org + "/teams/" + slug + "/memberships/" + user),
		State: github.String("active"),
		Role:  github.String("member"),
	})
}

// createPullAPI serves POST /repos/{o}/{r}/pulls: 201 with the new pull
// request, opened by the authenticated bot, and a pull_request "opened"
// webhook; 422 when title, head or base is missing or unknown, or an open
// pull request from head into base exists already.
func (s *Server) createPullAPI(w http.ResponseWriter, r *http.Request) {
	var req github.NewPullRequest
	if !decodeBody(w, r, &req) {
		return
	}
	switch {
	case req.GetTitle() == "":
		writeValidation(w, fieldError{Resource: "PullRequest", Field: "title", Code: "missing_field"})
		return
	case req.GetHead() == "" || req.GetBase() == "":
		writeValidation(w, fieldError{Resource: "PullRequest", Field: "head", Code: "missing_field"})
		return
	}
	if fe := checkBody("PullRequest", req.GetBody(), false); fe != nil {
		writeValidation(w, *fe)
		return
	}
	s.mu.Lock()
	rs, ok := s.apiRepo(w, r)
	var exists bool
	if ok {
		for _, is := range rs.issues {
			exists = exists || (is.pull != nil && is.state == "open" && is.pull.head == req.GetHead() && is.pull.base == req.GetBase())
		}
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	if exists {
		writeValidation(w, fieldError{Resource: "PullRequest", Code: "custom",
			Message: "A pull request already exists for " + rs.owner + ":" + req.GetHead() + "."})
		return
	}
	repo := vcs.Repo{Owner: rs.owner, Name: rs.name}
	num, event, err := s.openPull(r.Context(), repo, req.GetHead(), req.GetBase(), req.GetTitle(), s.bot)
	if err != nil {
		writeValidation(w, fieldError{Resource: "PullRequest", Field: "head", Code: "invalid"})
		return
	}
	s.mu.Lock()
	rs, is, err := s.lookupPull(repo, num)
	if err != nil {
		s.mu.Unlock()
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	is.body = req.GetBody()
	out := s.pullJSON(rs, is, nil, "unknown")
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
	s.deliverBackground("pull_request", event)
}
